"""Roost's Python runtime client: import the handler, then serve invocations forever.

Run as ``python -m roost.runtime.bootstrap`` (or as a file) inside an execution
environment with ``_HANDLER``, ``LAMBDA_TASK_ROOT`` and ``AWS_LAMBDA_RUNTIME_API``
set. Errors are reported in the shapes of AWS's Python runtime: an import failure
is an init error (``Runtime.ImportModuleError``, the process exits), a missing
handler fails each invoke (``Runtime.HandlerNotFound``), an exception in the
handler becomes ``{"errorMessage", "errorType", "requestId", "stackTrace"}``.
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


class Fault(Exception):
    """A runtime-level failure with AWS's error type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_document(error_type: str, message: str, request_id: str, trace: list[str]) -> bytes:
    """The JSON body AWS's Python runtime posts for an error."""
    document = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace,
    }
    return json.dumps(document).encode()


def exception_document(error: BaseException, request_id: str) -> tuple[str, bytes]:
    """Error type and document of an exception raised by user code."""
    frames = traceback.extract_tb(error.__traceback__)
    own = os.path.dirname(os.path.abspath(__file__))
    user_frames = [f for f in frames if os.path.dirname(os.path.abspath(f.filename)) != own]
    trace = traceback.format_list(user_frames)
    error_type = type(error).__name__
    return error_type, error_document(error_type, str(error), request_id, trace)


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
        fault = Fault(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_path}'",
        )

        def missing(event: Any, context: LambdaContext) -> Any:
            raise fault

        return missing
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


def serve(client: RuntimeApiClient, handler: Handler, request_filter: RequestIdFilter) -> None:
    """The invoke loop: next, run, respond; forever."""
    while True:
        headers, payload = client.next()
        context = LambdaContext(headers)
        request_filter.request_id = context.aws_request_id
        try:
            event = json.loads(payload) if payload else None
            result = handler(event, context)
        except Fault as fault:
            body = error_document(fault.error_type, fault.message, context.aws_request_id, [])
            _flush()
            client.error(context.aws_request_id, body, fault.error_type)
            continue
        except Exception as error:
            error_type, body = exception_document(error, context.aws_request_id)
            _flush()
            client.error(context.aws_request_id, body, error_type)
            continue
        try:
            response = json.dumps(result).encode()
        except (TypeError, ValueError) as error:
            message = f"Unable to marshal response: {error}"
            body = error_document("Runtime.MarshalError", message, context.aws_request_id, [])
            _flush()
            client.error(context.aws_request_id, body, "Runtime.MarshalError")
            continue
        _flush()
        client.respond(context.aws_request_id, response)


def main() -> None:
    """Entry point inside an environment."""
    client = RuntimeApiClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    request_filter = install_logging()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Fault as fault:
        body = error_document(fault.error_type, fault.message, "", fault.trace)
        print(f"[ERROR] {fault.error_type}: {fault.message}", flush=True)
        client.init_error(body, fault.error_type)
        sys.exit(1)
    except Exception as error:
        error_type, body = exception_document(error, "")
        print(f"[ERROR] {error_type}: {error}", flush=True)
        client.init_error(body, error_type)
        sys.exit(1)
    serve(client, handler, request_filter)


if __name__ == "__main__":
    main()
