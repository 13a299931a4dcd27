"""AWS Signature Version 4 verification of incoming HTTP requests.

The verifier rebuilds the canonical request exactly as botocore's ``SigV4Auth``
builds it for non-S3 services such as ``lambda``, derives the signing key from
the secret of the access key named in the credential scope and compares
signatures in constant time. It knows nothing of any web framework: the HTTP
layer copies what it received into a ``SignedRequest``.

Both the ``Authorization`` header and presigned URLs are accepted (see
``roost.auth.authorization``); the canonicalisation rules are described in
``roost.auth.canonical``, and the errors raised in ``roost.auth.errors``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from roost.auth.authorization import AuthParams, format_timestamp, parse_authorization
from roost.auth.canonical import (
    ALGORITHM,
    UNSIGNED_PAYLOAD,
    CredentialScope,
    HeaderInput,
    canonical_headers,
    canonical_query_string,
    canonical_uri,
    declared_payload_hash,
    fold_headers,
    sha256_hex,
    signing_key,
)
from roost.auth.errors import InvalidSignatureException, UnrecognizedClientException

MAX_CLOCK_SKEW_S = 15 * 60

# Derived signing keys are valid for one day and one scope; caching them saves
# four HMACs per request. Bounded so a flood of scopes cannot grow it forever.
_SIGNING_KEY_CACHE_MAX = 1024


@dataclass(frozen=True)
class Credential:
    """An access key pair and the account it belongs to."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str


CredentialLookup = Callable[[str], Awaitable[Credential | None]]
"""Returns the credential of an access key id, or None if it is unknown."""


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request as received, before any decoding by a framework.

    ``path`` is the raw request path (percent-encoding intact, no query);
    ``query_string`` the raw query without ``?``. ``headers`` is a mapping or a
    list of (name, value) pairs; names are matched case-insensitively, and
    repeated headers are honoured when given as pairs or by a mapping whose
    ``items()`` yields every pair. ``folded`` says that ``headers`` is already a
    dict keyed by lowercased name with a repeated header's values joined by
    ``,`` (how Roost's HTTP server delivers them), which saves folding again.
    """

    method: str
    path: str
    query_string: bytes | str = b""
    headers: HeaderInput = field(default_factory=dict)
    body: bytes = b""
    folded: bool = False


@dataclass(frozen=True)
class VerifiedRequest:
    """Who signed a request that passed verification, and how."""

    access_key_id: str
    account_id: str
    scope: CredentialScope
    signed_at: datetime
    presigned: bool


class SigV4Verifier:
    """Verifies SigV4-signed requests against credentials from ``lookup``.

    ``service``, when set, is the only service name accepted in credential
    scopes. ``clock`` returns the current Unix time in seconds; requests signed
    more than ``max_skew_s`` away from it are refused.
    """

    def __init__(
        self,
        lookup: CredentialLookup,
        *,
        service: str | None = None,
        max_skew_s: float = MAX_CLOCK_SKEW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lookup = lookup
        self._service = service
        self._max_skew_s = max_skew_s
        self._clock = clock
        self._signing_keys: dict[tuple[str, str, CredentialScope], bytes] = {}

    async def verify(self, request: SignedRequest) -> VerifiedRequest:
        """Check the request's signature; raise an ``AuthError`` subclass if it fails."""
        headers = (
            request.headers
            if request.folded and isinstance(request.headers, Mapping)
            else fold_headers(request.headers)
        )
        query = _query_text(request.query_string)
        params = parse_authorization(headers, query)
        self._check_scope(params)
        self._check_time(params)
        credential = await self._credential(params.access_key_id)

        declared_hash = declared_payload_hash(headers)
        body_hash = None if declared_hash == UNSIGNED_PAYLOAD else sha256_hex(request.body)
        canonical = _canonical_request(
            request, headers, query, params, payload_hash=declared_hash or body_hash or ""
        )
        self._check_signature(credential, params, _string_to_sign(params, canonical))
        # Checked only after the signature so that a caller without the secret
        # learns nothing from which check failed.
        _check_payload_hash(declared_hash, body_hash)
        return VerifiedRequest(
            access_key_id=credential.access_key_id,
            account_id=credential.account_id,
            scope=params.scope,
            signed_at=params.signed_at,
            presigned=params.expires_s is not None,
        )

    async def _credential(self, access_key_id: str) -> Credential:
        credential = await self._lookup(access_key_id)
        if credential is None:
            raise UnrecognizedClientException()
        return credential

    def _check_signature(
        self, credential: Credential, params: AuthParams, string_to_sign: str
    ) -> None:
        key = self._signing_key(credential, params.scope)
        expected = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
        if not hmac.compare_digest(expected, params.signature):
            raise InvalidSignatureException()

    def _signing_key(self, credential: Credential, scope: CredentialScope) -> bytes:
        cache_key = (credential.access_key_id, credential.secret_access_key, scope)
        key = self._signing_keys.get(cache_key)
        if key is None:
            if len(self._signing_keys) >= _SIGNING_KEY_CACHE_MAX:
                self._signing_keys.clear()
            key = self._signing_keys[cache_key] = signing_key(credential.secret_access_key, scope)
        return key

    def _check_scope(self, params: AuthParams) -> None:
        scope = params.scope
        if scope.date != params.timestamp[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{scope.date}' != '{params.timestamp[:8]}', "
                f"from '{params.timestamp}'."
            )
        if self._service is not None and scope.service != self._service:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{self._service}'."
            )

    def _check_time(self, params: AuthParams) -> None:
        now_s = self._clock()
        signed_s = params.signed_at.timestamp()
        if params.expires_s is None and abs(signed_s - now_s) <= self._max_skew_s:
            return  # The common case, without building datetimes.
        now = datetime.fromtimestamp(now_s, UTC)
        skew = timedelta(seconds=self._max_skew_s)
        if params.signed_at > now + skew:
            raise InvalidSignatureException(
                f"Signature not yet current: {params.timestamp} is still later than "
                f"{format_timestamp(now + skew)} ({format_timestamp(now)} + 15 min.)"
            )
        if params.expires_s is not None:
            # Presigned URLs carry their own lifetime instead of the skew window.
            if now > params.signed_at + timedelta(seconds=params.expires_s):
                raise InvalidSignatureException(
                    f"Signature expired: {params.timestamp} is now earlier than "
                    f"{format_timestamp(now - timedelta(seconds=params.expires_s))} "
                    f"({format_timestamp(now)} - {params.expires_s} sec.)"
                )
        elif params.signed_at < now - skew:
            raise InvalidSignatureException(
                f"Signature expired: {params.timestamp} is now earlier than "
                f"{format_timestamp(now - skew)} ({format_timestamp(now)} - 15 min.)"
            )


def _canonical_request(
    request: SignedRequest,
    headers: Mapping[str, str],
    query: str,
    params: AuthParams,
    *,
    payload_hash: str,
) -> str:
    try:
        uri = canonical_uri(request.path)
        canonical_query = canonical_query_string(query, exclude=params.query_exclude)
    except UnicodeError:
        # Bytes that are not UTF-8 cannot have been signed by an SDK; refusing
        # them keeps two different requests from sharing one canonical form.
        raise InvalidSignatureException("The request target is not valid UTF-8.") from None
    return "\n".join(
        [
            request.method.upper(),
            uri,
            canonical_query,
            canonical_headers(headers, params.signed_headers) + "\n",
            ";".join(params.signed_headers),
            payload_hash,
        ]
    )


def _string_to_sign(params: AuthParams, canonical_request: str) -> str:
    return "\n".join(
        [
            ALGORITHM,
            params.timestamp,
            str(params.scope),
            sha256_hex(canonical_request.encode()),
        ]
    )


def _check_payload_hash(declared_hash: str | None, body_hash: str | None) -> None:
    if (
        declared_hash is not None
        and body_hash is not None
        and not hmac.compare_digest(declared_hash.lower().encode(), body_hash.encode())
    ):
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )


def _query_text(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise InvalidSignatureException("The request query string is not valid UTF-8.") from None
