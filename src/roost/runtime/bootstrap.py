"""Roost's Python runtime client: import the handler, then serve invocations forever.

Run as ``python -m roost.runtime.bootstrap`` (or as a file) inside an execution
environment with ``_HANDLER``, ``LAMBDA_TASK_ROOT`` and ``AWS_LAMBDA_RUNTIME_API``
set. Errors are reported in the shapes of AWS's Python runtime (``awslambdaric``):
a handler that cannot be loaded (``Runtime.ImportModuleError``,
``Runtime.UserCodeSyntaxError``, ``Runtime.HandlerNotFound``, ...) or an exception
raised while importing it is an init error posted to ``/init/error`` with an empty
``requestId``, after which the process exits; an exception in the handler becomes
``{"errorMessage", "errorType", "requestId", "stackTrace"}``; a result that is not
JSON-serialisable is ``Runtime.MarshalError``. Errors are also logged the way AWS
logs them (``[ERROR] Type: message`` and the traceback, lines joined by ``\\r``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # Run as a file: make the sibling modules importable.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from client import RuntimeApiClient  # type: ignore[import-not-found]
    from context import LambdaContext  # type: ignore[import-not-found]
else:
    from roost.runtime.client import RuntimeApiClient
    from roost.runtime.context import LambdaContext

Handler = Callable[[Any, LambdaContext], Any]

_LOG_LINE_SEPARATOR = "\r"
_LOG_INDENT = "\u00a0"  # AWS indents traceback lines with no-break spaces.


class Fault(Exception):
    """A runtime-level failure with AWS's error type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_fields(
    error_type: str, message: str, request_id: str, trace: list[str]
) -> dict[str, Any]:
    """The error AWS's Python runtime reports (its keys in its order)."""
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace,
    }


def exception_fields(error: BaseException, request_id: str) -> dict[str, Any]:
    """The error of an exception raised by user code (runtime frames left out)."""
    frames = traceback.extract_tb(error.__traceback__)
    own = os.path.dirname(os.path.abspath(__file__))
    user_frames = [f for f in frames if os.path.dirname(os.path.abspath(f.filename)) != own]
    trace = traceback.format_list(user_frames)
    return error_fields(type(error).__name__, str(error), request_id, trace)


def log_error(fields: dict[str, Any]) -> None:
    """Write an error to the function's log as AWS's runtime does."""
    description = "[ERROR]"
    if fields["errorType"]:
        description += f" {fields['errorType']}:"
    if fields["errorMessage"]:
        description += f" {fields['errorMessage']}"
    lines = [description, "Traceback (most recent call last):"]
    for element in fields["stackTrace"]:
        for line in str(element).splitlines():
            stripped = line.lstrip(" ")
            lines.append(_LOG_INDENT * (len(line) - len(stripped)) + stripped)
    sys.stdout.write(_LOG_LINE_SEPARATOR.join(lines) + "\n")
    sys.stdout.flush()


def load_handler(spec: str) -> Handler:
    """Import ``module.function``; raise ``Fault`` as AWS's runtime would."""
    try:
        module_path, function_name = spec.rsplit(".", 1)
    except ValueError as error:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {error}") from None
    module_name = module_path.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Fault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise Fault(
            "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {error}"
        ) from None
    except SyntaxError as error:
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        raise Fault(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_path}': {error}",
            trace,
        ) from None
    handler = getattr(module, function_name, None)
    if handler is None:
        raise Fault(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_path}'",
        )
    return handler  # type: ignore[no-any-return]


class RequestIdFilter(logging.Filter):
    """Adds the current request id to log records, as AWS's runtime does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def install_logging() -> RequestIdFilter:
    """The root logger format of AWS's Python runtime."""
    request_filter = RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""  # the format ends the line, as in AWS's runtime
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(request_filter)
    logging.getLogger().addHandler(handler)
    return request_filter


def _flush() -> None:
    sys.stdout.flush()
    sys.stderr.flush()


def _report(client: RuntimeApiClient, fields: dict[str, Any]) -> None:
    _flush()
    log_error(fields)
    body = json.dumps(fields).encode()
    client.error(fields["requestId"], body, fields["errorType"])


def marshal(result: Any) -> bytes:
    """The response body of a result (bytes go as they are, as in AWS's runtime)."""
    if isinstance(result, bytes | bytearray):
        return bytes(result)
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as error:
        raise Fault("Runtime.MarshalError", f"Unable to marshal response: {error}") from None


def serve(client: RuntimeApiClient, handler: Handler, request_filter: RequestIdFilter) -> None:
    """The invoke loop: next, run, respond; forever."""
    headers, payload = client.next()
    while True:
        context = LambdaContext(headers)
        request_id = context.aws_request_id
        request_filter.request_id = request_id
        try:
            try:
                event = json.loads(payload) if payload else None
            except ValueError as error:
                raise Fault(
                    "Runtime.UnmarshalError", f"Unable to unmarshal input: {error}"
                ) from None
            response = marshal(handler(event, context))
        except Fault as fault:
            _report(client, error_fields(fault.error_type, fault.message, request_id, fault.trace))
            headers, payload = client.next()
            continue
        except Exception as error:
            _report(client, exception_fields(error, request_id))
            headers, payload = client.next()
            continue
        _flush()
        headers, payload = client.respond_and_next(request_id, response)


def main() -> None:
    """Entry point inside an environment."""
    client = RuntimeApiClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    if os.environ.pop("ROOST_PREWARMED", "") == "1":
        # A pre-warmed environment: the interpreter and this client are loaded;
        # wait for the function this environment will serve.
        os.environ.update(client.assignment())
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    request_filter = install_logging()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Fault as fault:
        fields = error_fields(fault.error_type, fault.message, "", fault.trace)
    except Exception as error:
        fields = exception_fields(error, "")
    else:
        serve(client, handler, request_filter)
        return
    _flush()
    log_error(fields)
    client.init_error(json.dumps(fields).encode(), fields["errorType"])
    sys.exit(1)


if __name__ == "__main__":
    main()
