"""AWS-shaped errors raised anywhere behind the API and rendered at the boundary.

An error carries the AWS error code (the model's error shape name, or one of the
generic codes such as ``ValidationException``), the message, and the HTTP status.
The status comes from the model's error shape unless the raiser overrides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from roost.api.model import error_shapes

# Codes AWS returns that are not error shapes of the Lambda model.
_GENERIC_STATUS = {
    "ValidationException": 400,
    "InvalidSignatureException": 403,
    "MissingAuthenticationTokenException": 403,
    "UnrecognizedClientException": 403,
    "AccessDeniedException": 403,
    "UnknownOperationException": 404,
    "ServiceUnavailableException": 503,
    "RequestEntityTooLargeException": 413,
}


def status_for(code: str) -> int:
    """HTTP status of an error code: the model's, else the generic table, else 400."""
    shape = error_shapes().get(code)
    if shape is not None:
        return int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    return _GENERIC_STATUS.get(code, 400)


class AwsError(Exception):
    """An error with an AWS error code, message and HTTP status."""

    code: ClassVar[str] = "ServiceException"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = code or type(self).code
        self.status = status if status is not None else status_for(self.error_code)
        self.fields = dict(fields or {})

    @property
    def type(self) -> str:
        """The ``Type`` member of the error body: ``User`` (4xx) or ``Server`` (5xx)."""
        return "User" if self.status < 500 else "Server"

    def __repr__(self) -> str:
        return f"{self.error_code}({self.message!r})"


class ValidationException(AwsError):
    """A request member breaks a constraint of the model (range, pattern, enum, null)."""

    code = "ValidationException"


class InvalidParameterValueException(AwsError):
    """A parameter has a value Lambda refuses (beyond the model's constraints)."""

    code = "InvalidParameterValueException"


class InvalidRequestContentException(AwsError):
    """The body is not JSON, or a member has the wrong JSON type."""

    code = "InvalidRequestContentException"


class ResourceNotFoundException(AwsError):
    """The function, version, alias or sub-resource does not exist."""

    code = "ResourceNotFoundException"


class ResourceConflictException(AwsError):
    """The resource exists already or is in a state that forbids the call."""

    code = "ResourceConflictException"


class ResourceInUseException(AwsError):
    """The resource is busy with another change (an event source mapping in transition)."""

    code = "ResourceInUseException"


class PreconditionFailedException(AwsError):
    """The RevisionId given does not match the current one."""

    code = "PreconditionFailedException"


class RequestTooLargeException(AwsError):
    """The request payload is above the limit for its operation."""

    code = "RequestTooLargeException"


class RequestEntityTooLargeException(AwsError):
    """A request body or uploaded zip is above the operation's limit (not in the model)."""

    code = "RequestEntityTooLargeException"


class TooManyRequestsException(AwsError):
    """Throttled; carries ``Reason`` and ``retryAfterSeconds`` where known."""

    code = "TooManyRequestsException"


class ServiceException(AwsError):
    """An internal failure of Roost (HTTP 500)."""

    code = "ServiceException"


class UnsupportedOperationException(AwsError):
    """An operation of the Lambda model that Roost does not implement yet."""

    code = "UnsupportedOperationException"

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"Roost does not support the {operation} operation yet.",
            status=501,
        )
