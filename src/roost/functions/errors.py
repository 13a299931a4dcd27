"""AWS Lambda errors raised by the function domain (code checks, runtime checks, ...).

Every error carries the AWS error code (``code``), the HTTP status (``status``), the
message (``message``) and whether the caller is at fault (``sender_fault`` / ``type``).

``LambdaError`` is a :class:`roost.api.errors.AwsError`, so the API boundary renders
these errors exactly like its own (``x-amzn-ErrorType`` plus ``{"Type", "message"}``).
The classes used often are spelled out below, each also a subclass of the API class of
the same code where one exists, so ``except roost.api.errors.X`` catches them too.
Any other error shape of botocore's ``lambda`` model is reachable through
:func:`error_class`, which takes status and fault from the model instead of from a
hand-written table.

Two codes AWS Lambda returns are not error shapes of the model, so their status is
fixed here: ``ValidationException`` (400, a request member breaks a constraint of the
model) and ``RequestEntityTooLargeException`` (413, the request or the zipped code is
above the limit of the operation).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, cast

from roost.api import errors as api_errors
from roost.api.model import service_model

__all__ = [
    "CodeStorageExceededException",
    "InvalidParameterValueException",
    "InvalidRequestContentException",
    "LambdaError",
    "PreconditionFailedException",
    "RequestEntityTooLargeException",
    "RequestTooLargeException",
    "ResourceConflictException",
    "ResourceInUseException",
    "ResourceNotFoundException",
    "ServiceException",
    "TooManyRequestsException",
    "UnsupportedMediaTypeException",
    "ValidationException",
    "error_class",
]


class LambdaError(api_errors.AwsError):
    """An AWS Lambda error: ``code``, ``status``, ``message`` and who is at fault.

    Subclasses set ``code``, ``http_status`` and ``sender_fault``; extra modelled
    members of the error (``Reason``, ``retryAfterSeconds``, ...) go in ``fields``.
    """

    code: ClassVar[str] = "ServiceException"
    http_status: ClassVar[int] = 500
    sender_fault: ClassVar[bool] = False

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message, code=self.code, status=self.http_status, fields=fields)

    @property
    def type(self) -> str:
        """The ``Type`` member of the error body: ``User`` or ``Server``."""
        return "User" if self.sender_fault else "Server"


class InvalidParameterValueException(LambdaError, api_errors.InvalidParameterValueException):
    """A parameter has a value Lambda refuses (bad code package, runtime, handler...)."""

    code = "InvalidParameterValueException"
    http_status = 400
    sender_fault = True


class ValidationException(LambdaError, api_errors.ValidationException):
    """A request member breaks a constraint of the model (pattern, length, enum)."""

    code = "ValidationException"
    http_status = 400
    sender_fault = True


class InvalidRequestContentException(LambdaError, api_errors.InvalidRequestContentException):
    """The request body is not valid JSON or a member has the wrong type."""

    code = "InvalidRequestContentException"
    http_status = 400
    sender_fault = True


class RequestEntityTooLargeException(LambdaError):
    """The request, or the zipped code uploaded in it, is above the operation's limit."""

    code = "RequestEntityTooLargeException"
    http_status = 413
    sender_fault = True


class RequestTooLargeException(LambdaError, api_errors.RequestTooLargeException):
    """The ``Invoke`` payload is above the request body quota."""

    code = "RequestTooLargeException"
    http_status = 413
    sender_fault = True


class ResourceNotFoundException(LambdaError, api_errors.ResourceNotFoundException):
    """The function, version, alias or sub-resource does not exist."""

    code = "ResourceNotFoundException"
    http_status = 404
    sender_fault = True


class ResourceConflictException(LambdaError, api_errors.ResourceConflictException):
    """The resource exists already or is in a state that forbids the call."""

    code = "ResourceConflictException"
    http_status = 409
    sender_fault = True


class ResourceInUseException(LambdaError):
    """The resource is in use by another operation or resource."""

    code = "ResourceInUseException"
    http_status = 400
    sender_fault = True


class PreconditionFailedException(LambdaError, api_errors.PreconditionFailedException):
    """The ``RevisionId`` given does not match the current one."""

    code = "PreconditionFailedException"
    http_status = 412
    sender_fault = True


class TooManyRequestsException(LambdaError, api_errors.TooManyRequestsException):
    """Throttled; pass ``Reason`` and ``retryAfterSeconds`` as fields where known."""

    code = "TooManyRequestsException"
    http_status = 429
    sender_fault = True


class CodeStorageExceededException(LambdaError):
    """The account's total code storage would go above its quota."""

    code = "CodeStorageExceededException"
    http_status = 400
    sender_fault = True


class UnsupportedMediaTypeException(LambdaError):
    """The request's content type is not supported (e.g. ``Invoke`` without JSON)."""

    code = "UnsupportedMediaTypeException"
    http_status = 415
    sender_fault = True


class ServiceException(LambdaError, api_errors.ServiceException):
    """An internal failure (HTTP 500)."""

    code = "ServiceException"
    http_status = 500
    sender_fault = False


_EXPLICIT: dict[str, type[LambdaError]] = {
    cls.code: cls
    for cls in (
        CodeStorageExceededException,
        InvalidParameterValueException,
        InvalidRequestContentException,
        PreconditionFailedException,
        RequestEntityTooLargeException,
        RequestTooLargeException,
        ResourceConflictException,
        ResourceInUseException,
        ResourceNotFoundException,
        ServiceException,
        TooManyRequestsException,
        UnsupportedMediaTypeException,
        ValidationException,
    )
}


@functools.cache
def _model_error_metadata() -> dict[str, dict[str, Any]]:
    """``error`` metadata (``httpStatusCode``, ``senderFault``) of each model error shape."""
    return {
        shape.name: dict(shape.metadata.get("error", {})) for shape in service_model().error_shapes
    }


@functools.cache
def error_class(code: str) -> type[LambdaError]:
    """The ``LambdaError`` subclass for an AWS error code.

    The classes above are returned as they are; any other error shape of the
    ``lambda`` model gets a class built once, with the model's HTTP status and
    sender fault. Raises ``KeyError`` for a code that is neither.
    """
    explicit = _EXPLICIT.get(code)
    if explicit is not None:
        return explicit
    meta = _model_error_metadata()[code]
    namespace = {
        "__doc__": f"The ``{code}`` error shape of the Lambda model.",
        "__module__": __name__,
        "code": code,
        "http_status": int(meta.get("httpStatusCode", 400)),
        "sender_fault": bool(meta.get("senderFault", False)),
    }
    return cast("type[LambdaError]", type(code, (LambdaError,), namespace))
