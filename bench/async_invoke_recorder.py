"""The completion recorder of the async invoke benchmark: a TCP server on 127.0.0.1, run as
its own process so that its work does not share a GIL with the senders being timed.

Handlers (Roost functions and Celery tasks alike) connect and send ``ID UNIX_TIME\\n`` when
they run. The benchmark queries it over the same port with one line starting with ``?``:
``?count`` (distinct ids seen), ``?dump`` (JSON ``{id: first time}`` and the duplicates) and
``?reset``.

Run as ``python async_invoke_recorder.py``: it prints its port on stdout, then serves until
stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# What a handler (Roost's recording function, the Celery task) runs to report: ``_report``
# sends a line over the process's one connection to the recorder, opened on first use and
# reused (as Lambda handlers reuse their clients), TCP_NODELAY so no Nagle wait holds a line.
# ``RECORDER_PORT`` is the expression for the port in the handler's module.
REPORTER_SOURCE = """\
import socket

_conn = None


def _report(line):
    global _conn
    for _ in range(2):  # a broken connection is replaced once
        try:
            if _conn is None:
                _conn = socket.create_connection(("127.0.0.1", RECORDER_PORT), timeout=10)
                _conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _conn.sendall(line)
            return
        except OSError:
            _conn = None
    raise ConnectionError("the recorder is unreachable")
"""


class RecorderState:
    """First completion time per event id, and how many ids ran more than once."""

    def __init__(self) -> None:
        self.first_s: dict[str, float] = {}
        self.duplicates = 0

    def record(self, line: str) -> None:
        event_id, _, stamp = line.partition(" ")
        if not stamp:
            return
        if event_id in self.first_s:
            self.duplicates += 1
        else:
            self.first_s[event_id] = float(stamp)

    def answer(self, query: str) -> bytes:
        if query == "?count":
            return f"{len(self.first_s)}\n".encode()
        if query == "?dump":
            return (
                json.dumps({"first_s": self.first_s, "duplicates": self.duplicates}) + "\n"
            ).encode()
        if query == "?reset":
            self.first_s.clear()
            self.duplicates = 0
            return b"ok\n"
        return b"?\n"


async def _serve(state: RecorderState) -> None:
    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                text = line.decode().strip()
                if text.startswith("?"):
                    writer.write(state.answer(text))
                    await writer.drain()
                elif text:
                    state.record(text)
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connected, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    # The parent holds our stdin: when it goes away (or closes it), so do we.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


class RecorderClient:
    """The benchmark's side: starts the recorder process and queries it."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    def _ask(self, query: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.sendall(f"{query}\n".encode())
            with conn.makefile("r") as reply:
                return reply.readline().strip()

    def count(self) -> int:
        """Distinct event ids recorded since the last reset."""
        return int(self._ask("?count"))

    def dump(self) -> tuple[dict[str, float], int]:
        """(first completion time per id, duplicate completions)."""
        data: dict[str, Any] = json.loads(self._ask("?dump"))
        return {k: float(v) for k, v in data["first_s"].items()}, int(data["duplicates"])

    def reset(self) -> None:
        self._ask("?reset")

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Poll until ``count`` ids are recorded; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count() >= count:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()


if __name__ == "__main__":
    asyncio.run(_serve(RecorderState()))
