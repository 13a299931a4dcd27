"""Authentication failures, each carrying the AWS error code a client expects.

Every ``AuthError`` maps to HTTP 403 with ``x-amzn-ErrorType: <code>``; the
HTTP layer turns one into a response without knowing which check failed.
"""

from __future__ import annotations

from typing import ClassVar


class AuthError(Exception):
    """A request failed authentication; ``code`` is the AWS error code.

    Every subclass maps to HTTP 403 with ``x-amzn-ErrorType: <code>``.
    """

    code: ClassVar[str] = "AccessDeniedException"
    status: ClassVar[int] = 403
    default_message: ClassVar[str] = "Access denied."

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)


class MissingAuthenticationTokenException(AuthError):
    """The request carries neither an Authorization header nor a presigned query."""

    code = "MissingAuthenticationTokenException"
    default_message = "Missing Authentication Token"


class IncompleteSignatureException(AuthError):
    """The signature is malformed: a required part is missing or unparsable."""

    code = "IncompleteSignatureException"
    default_message = "The request signature does not conform to AWS standards."


class InvalidSignatureException(AuthError):
    """The signature does not match, is out of its time window or wrongly scoped."""

    code = "InvalidSignatureException"
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


class UnrecognizedClientException(AuthError):
    """The access key id is not known."""

    code = "UnrecognizedClientException"
    default_message = "The security token included in the request is invalid."
