"""Authentication: SigV4 request verification, accounts and their secrets.

``SigV4Verifier`` checks a ``SignedRequest`` against a ``CredentialLookup``;
``CredentialResolver`` is the lookup the server uses (built-in local key, an
in-process cache, then ``AccountRepository`` over the config store), and
``SecretBox`` keeps secret access keys encrypted at rest.
"""

from __future__ import annotations

from roost.auth.accounts import (
    BUILTIN_ACCESS_KEY_ID,
    BUILTIN_ACCOUNT_ID,
    BUILTIN_CREDENTIAL,
    BUILTIN_SECRET_ACCESS_KEY,
    Account,
    AccountError,
    AccountNameTaken,
    AccountRepository,
    CredentialResolver,
    InvalidAccountName,
    NewAccount,
)
from roost.auth.canonical import CredentialScope
from roost.auth.errors import (
    AuthError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from roost.auth.secrets import SecretBox, SecretBoxError
from roost.auth.sigv4 import (
    Credential,
    CredentialLookup,
    SignedRequest,
    SigV4Verifier,
    VerifiedRequest,
)

__all__ = [
    "BUILTIN_ACCESS_KEY_ID",
    "BUILTIN_ACCOUNT_ID",
    "BUILTIN_CREDENTIAL",
    "BUILTIN_SECRET_ACCESS_KEY",
    "Account",
    "AccountError",
    "AccountNameTaken",
    "AccountRepository",
    "AuthError",
    "Credential",
    "CredentialLookup",
    "CredentialResolver",
    "CredentialScope",
    "IncompleteSignatureException",
    "InvalidAccountName",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "NewAccount",
    "SecretBox",
    "SecretBoxError",
    "SigV4Verifier",
    "SignedRequest",
    "UnrecognizedClientException",
    "VerifiedRequest",
]
