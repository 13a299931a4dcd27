"""``roost logs NAME``: the function's logs kept by Roost, optionally followed."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from roost.cli.client import CliError, Target, lambda_client, raise_for_error, signed_get

LOGS_PATH = "/_roost/logs/"
UNTIL_HEADER = "x-roost-logs-until"
FOLLOW_INTERVAL_S = 0.5


@dataclass(frozen=True)
class LogChunk:
    """Log text stored from some time on, and the time to ask from next."""

    text: bytes
    until_ms: int


def fetch_logs(target: Target, name: str, since_ms: int) -> LogChunk:
    """``GET /_roost/logs/{name}?since=...``, signed."""
    reply = signed_get(target, LOGS_PATH + name, {"since": str(since_ms)})
    raise_for_error(reply, target)
    until = reply.headers.get(UNTIL_HEADER, "")
    if not until.isdigit():
        raise CliError(f"{target.endpoint_url} does not look like Roost (no {UNTIL_HEADER})")
    return LogChunk(reply.body, int(until))


def since_ms(seconds: float | None, now_ms: int | None = None) -> int:
    """The start of the window ``--since SECONDS`` asks for (0: everything)."""
    if seconds is None:
        return 0
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return max(0, now - int(seconds * 1000))


def _write(text: bytes) -> None:
    sys.stdout.buffer.write(text)
    sys.stdout.buffer.flush()


def logs(args: argparse.Namespace) -> int:
    """Print the logs; with ``--follow``, keep printing new entries until Ctrl-C."""
    target = Target.from_args(args)
    chunk = fetch_logs(target, args.name, since_ms(args.since))
    if not chunk.text:
        # Nothing logged: say so if the function does not exist at all.
        lambda_client(target).get_function_configuration(FunctionName=args.name)
    _write(chunk.text)
    if not args.follow:
        return 0
    try:
        while True:
            time.sleep(FOLLOW_INTERVAL_S)
            chunk = fetch_logs(target, args.name, chunk.until_ms)
            _write(chunk.text)
    except KeyboardInterrupt:
        return 0
