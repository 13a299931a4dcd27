"""An execution environment: one function version, one invoke at a time, reused warm.

States move only through ``_move`` (an illegal move raises):

    STARTING -> READY -> INVOKING -> READY ...
    any -> DEAD (init error, timeout, exit, destroy)

The environment serves its own Runtime API (``RuntimeApiHandler``): the runtime
client's ``/next`` parks until ``invoke`` hands it an event, and its response or
error settles the invoke. The host enforces the timeout and watches the process:
an exit mid-invoke is ``Runtime.ExitError`` (``Runtime.OutOfMemory`` when the
kernel killed it for memory), a timeout destroys the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from roost.worker.cgroups import LimitGroup
from roost.worker.invocation_log import InvocationLog, report_line
from roost.worker.runtime_api import Invocation, RuntimeApiServer
from roost.worker.sandbox import SandboxSpec, launch

log = logging.getLogger(__name__)

INIT_TIMEOUT_S = 10.0


class RuntimeStatus(enum.Enum):
    """Where an environment is in its life."""

    STARTING = "starting"
    READY = "ready"
    INVOKING = "invoking"
    DEAD = "dead"


_MOVES = {
    RuntimeStatus.STARTING: {RuntimeStatus.READY, RuntimeStatus.DEAD},
    RuntimeStatus.READY: {RuntimeStatus.INVOKING, RuntimeStatus.DEAD},
    RuntimeStatus.INVOKING: {RuntimeStatus.READY, RuntimeStatus.DEAD},
    RuntimeStatus.DEAD: set(),
}


class InvalidStatusTransition(Exception):
    """An environment was asked to move between states that do not connect."""


@dataclass(frozen=True)
class InvokeOutcome:
    """What an invoke produced, in the terms of the Invoke API."""

    payload: bytes
    function_error: str | None
    log: bytes
    duration_ms: float
    init_duration_ms: float | None = None


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class ExecutionEnvironment:
    """One sandboxed process tree running a function version's runtime."""

    def __init__(
        self,
        env_id: str,
        spec: SandboxSpec,
        version: str,
        timeout_s: float,
        sandboxed: bool,
    ) -> None:
        self.env_id = env_id
        self.spec = spec
        self.version = version
        self.timeout_s = timeout_s
        self.sandboxed = sandboxed
        self.status = RuntimeStatus.STARTING
        self.last_used = time.monotonic()
        self.invocations = 0
        self._api = RuntimeApiServer(self)
        self._process: subprocess.Popen[bytes] | None = None
        self._pidfd = -1
        # At most one event waits here for the runtime's next /invocation/next.
        self._inbox: asyncio.Queue[Invocation] = asyncio.Queue(maxsize=1)
        self._delivered: str | None = None
        self._destroyed = False
        self._ready = asyncio.Event()
        self._settled: asyncio.Future[tuple[bytes, str | None]] | None = None
        self._current: Invocation | None = None
        self._log: InvocationLog | None = None
        self._pending_output: list[bytes] = []
        self._init_failure: bytes | None = None
        self._started_at = 0.0
        self._init_duration_ms: float | None = None
        self._exit_code: int | None = None

    @property
    def limits(self) -> LimitGroup | None:
        """The cgroup limiting this environment, if any."""
        return self.spec.limits

    def _move(self, new: RuntimeStatus) -> None:
        if new not in _MOVES[self.status]:
            raise InvalidStatusTransition(f"{self.status.name} -> {new.name}")
        self.status = new

    # Life cycle

    async def start(self) -> None:
        """Launch the runtime and wait until it asks for work (or fails to init)."""
        await self._api.start()
        environment = dict(self.spec.environment)
        environment["AWS_LAMBDA_RUNTIME_API"] = self._api.address
        spec = SandboxSpec(**{**self.spec.__dict__, "environment": environment})
        self._started_at = time.monotonic()
        loop = asyncio.get_running_loop()
        self._process = await asyncio.to_thread(launch, spec, self.sandboxed)
        assert self._process.stdout is not None
        out_fd = self._process.stdout.fileno()
        flags = fcntl.fcntl(out_fd, fcntl.F_GETFL)
        fcntl.fcntl(out_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        loop.add_reader(out_fd, self._drain_output)
        self._pidfd = os.pidfd_open(self._process.pid)
        loop.add_reader(self._pidfd, self._on_exit)
        try:
            await asyncio.wait_for(self._ready.wait(), INIT_TIMEOUT_S)
        except TimeoutError:
            self._fail_init(
                _error_payload(
                    "Runtime.InitTimeout", f"Init timed out after {INIT_TIMEOUT_S:.2f} seconds"
                )
            )
            await self.destroy()

    def _fail_init(self, payload: bytes) -> None:
        if self._init_failure is None:
            self._init_failure = payload
        self._ready.set()

    async def destroy(self) -> None:
        """Kill the process tree and release the Runtime API and cgroup (idempotent)."""
        if self._destroyed:
            return
        self._destroyed = True
        if self.status is not RuntimeStatus.DEAD:
            self._move(RuntimeStatus.DEAD)
        loop = asyncio.get_running_loop()
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            await asyncio.to_thread(self._process.wait)
            if self._process.stdout is not None:
                self._drain_output()
                loop.remove_reader(self._process.stdout.fileno())
                self._process.stdout.close()
        if self._pidfd >= 0:
            loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        await self._api.close()
        if self.spec.limits is not None:
            self.spec.limits.remove()

    # Invoking

    async def invoke(self, invocation: Invocation) -> InvokeOutcome:
        """Run one event through the runtime and wait for its result or failure."""
        log_buffer = InvocationLog(invocation.request_id, self.version)
        for chunk in self._pending_output:
            log_buffer.write(chunk)
        self._pending_output.clear()
        init_ms = self._init_duration_ms if self.invocations == 0 else None
        self.invocations += 1
        if self._init_failure is not None or self.status is RuntimeStatus.DEAD:
            payload = self._init_failure or _error_payload(
                "Runtime.ExitError", "Runtime exited before it was ready"
            )
            report = report_line(
                invocation.request_id, 0.0, self.spec.memory_mb, self._max_memory_mb(), init_ms
            )
            return InvokeOutcome(payload, "Unhandled", log_buffer.finish(report), 0.0, init_ms)
        self._move(RuntimeStatus.INVOKING)
        self._log = log_buffer
        self._current = invocation
        loop = asyncio.get_running_loop()
        self._settled = loop.create_future()
        started = time.monotonic()
        self._inbox.put_nowait(invocation)
        try:
            payload, function_error = await asyncio.wait_for(
                asyncio.shield(self._settled), self.timeout_s
            )
        except TimeoutError:
            payload, function_error = self._timed_out(invocation), "Unhandled"
        duration_ms = (time.monotonic() - started) * 1000
        self._drain_output()
        report = report_line(
            invocation.request_id, duration_ms, self.spec.memory_mb, self._max_memory_mb(), init_ms
        )
        text = log_buffer.finish(report)
        self._log = None
        self._current = None
        self.last_used = time.monotonic()
        if self.status is RuntimeStatus.INVOKING:
            self._move(RuntimeStatus.READY)
        else:
            await self.destroy()
        return InvokeOutcome(payload, function_error, text, duration_ms, init_ms)

    def _timed_out(self, invocation: Invocation) -> bytes:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        message = f"Task timed out after {self.timeout_s:.2f} seconds"
        if self._log is not None:
            self._log.line(f"{stamp}Z {invocation.request_id} {message}")
        self._move(RuntimeStatus.DEAD)
        return _error_payload(
            "Sandbox.Timedout", f"RequestId: {invocation.request_id} Error: {message}"
        )

    def _max_memory_mb(self) -> int:
        peak = self.spec.limits.max_memory_bytes() if self.spec.limits else None
        if peak is None and self._process is not None:
            with contextlib.suppress(OSError, ValueError):
                status = Path(f"/proc/{self._process.pid}/status").read_text()
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1]) * 1024
        return max(1, (peak or 0) // (1024 * 1024))

    # Process events

    def _drain_output(self) -> None:
        if self._process is None or self._process.stdout is None:
            return
        fd = self._process.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, OSError):
                return
            if not data:
                with contextlib.suppress(ValueError):
                    asyncio.get_running_loop().remove_reader(fd)
                return
            if self._log is not None:
                self._log.write(data)
            else:
                self._pending_output.append(data)

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        assert self._process is not None
        self._exit_code = self._process.wait()
        self._drain_output()
        if self.status is RuntimeStatus.STARTING:
            self._fail_init(self._init_failure or self._exit_payload(""))
        if self._settled is not None and not self._settled.done() and self._current is not None:
            self._settled.set_result((self._exit_payload(self._current.request_id), "Unhandled"))
        if self.status is not RuntimeStatus.DEAD:
            self._move(RuntimeStatus.DEAD)

    def _exit_payload(self, request_id: str) -> bytes:
        code = self._exit_code or 0
        if self.spec.limits is not None and self.spec.limits.oom_killed():
            error_type, detail = "Runtime.OutOfMemory", "signal: killed"
        elif code < 0 or code > 128:
            number = -code if code < 0 else code - 128
            known = number in signal.valid_signals()
            name = signal.Signals(number).name[3:].lower() if known else str(number)
            error_type, detail = "Runtime.ExitError", f"signal: {name}"
        else:
            error_type, detail = "Runtime.ExitError", f"exit status {code}"
        prefix = f"RequestId: {request_id} " if request_id else ""
        return _error_payload(error_type, f"{prefix}Error: Runtime exited with error: {detail}")

    # RuntimeApiHandler

    async def next_invocation(self) -> Invocation:
        if self.status is RuntimeStatus.STARTING:
            self._init_duration_ms = (time.monotonic() - self._started_at) * 1000
            self._move(RuntimeStatus.READY)
            self._ready.set()
        elif self._delivered is not None and self._settled and not self._settled.done():
            # Asking for more before answering: the runtime dropped the event.
            message = "The runtime asked for the next event before responding to the current one"
            self._settled.set_result(
                (_error_payload("Runtime.InvalidResponse", message), "Unhandled")
            )
        invocation = await self._inbox.get()
        self._delivered = invocation.request_id
        return invocation

    def _settle(self, request_id: str, result: tuple[bytes, str | None]) -> int:
        current = self._current
        if current is None or current.request_id != request_id:
            return 400
        if self._settled is None or self._settled.done():
            return 400
        self._drain_output()
        self._delivered = None
        self._settled.set_result(result)
        return 202

    def invocation_response(self, request_id: str, body: bytes) -> int:
        return self._settle(request_id, (body, None))

    def invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> int:
        if not body:
            body = _error_payload(error_type or "Runtime.Unknown", "Unknown application error")
        return self._settle(request_id, (body, "Unhandled"))

    def init_error(self, body: bytes, error_type: str | None) -> int:
        if self.status is not RuntimeStatus.STARTING:
            return 400
        self._fail_init(body or _error_payload(error_type or "Runtime.Unknown", "Init failed"))
        return 202
