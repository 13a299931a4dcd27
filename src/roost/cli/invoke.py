"""``roost invoke NAME [PAYLOAD|-]``: a synchronous invoke, its result on stdout."""

from __future__ import annotations

import argparse
import base64
import sys
from typing import Any, BinaryIO

from roost.cli.client import INVOKE_READ_TIMEOUT_S, Target, lambda_client


def read_payload(value: str | None, stdin: BinaryIO | None = None) -> bytes:
    """The event: the argument's text, standard input for ``-``, empty if none."""
    if value is None:
        return b""
    if value == "-":
        return (stdin or sys.stdin.buffer).read()
    return value.encode()


def invoke_request(args: argparse.Namespace, payload: bytes) -> dict[str, Any]:
    """Invoke's input for the parsed flags."""
    request: dict[str, Any] = {
        "FunctionName": args.name,
        "InvocationType": "RequestResponse",
        "Payload": payload,
    }
    if args.qualifier:
        request["Qualifier"] = args.qualifier
    if args.log:
        request["LogType"] = "Tail"
    return request


def invoke(args: argparse.Namespace) -> int:
    """Invoke, print the response payload (and with ``--log`` the log tail on stderr).

    Exit code 1 when the function failed (``FunctionError``), 0 otherwise.
    """
    payload = read_payload(args.payload)
    client = lambda_client(Target.from_args(args), read_timeout_s=INVOKE_READ_TIMEOUT_S)
    response = client.invoke(**invoke_request(args, payload))
    result: bytes = response["Payload"].read()
    if args.log and response.get("LogResult"):
        log_tail = base64.b64decode(response["LogResult"]).decode("utf-8", "replace")
        sys.stderr.write(log_tail if log_tail.endswith("\n") else log_tail + "\n")
        sys.stderr.flush()
    sys.stdout.buffer.write(result if result.endswith(b"\n") else result + b"\n")
    sys.stdout.buffer.flush()
    error = response.get("FunctionError")
    if error:
        print(f"roost: the function returned an error ({error})", file=sys.stderr, flush=True)
        return 1
    return 0
