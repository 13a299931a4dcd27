"""An execution environment: one function version, one invoke at a time, reused warm.

States move only through ``_move`` (an illegal move raises):

    STARTING -> READY -> INVOKING -> READY ...
    STARTING -> POOLED -> STARTING (pre-warmed, until assigned a function)
    any -> DEAD (init error, timeout, exit, destroy)

The environment serves its own Runtime API (``RuntimeApiHandler``): the runtime
client's ``/next`` parks until ``invoke`` hands it an event, and its response or
error settles the invoke. The host enforces the timeout and watches the process:
an exit mid-invoke is ``Runtime.ExitError`` (``Runtime.OutOfMemory`` when the
kernel killed it for memory), a timeout destroys the environment. An environment
whose init failed answers its one invoke with the init error and is never reused,
so the next invoke starts init again in a fresh environment.

Runtime API answers follow AWS's: 202 when accepted, 400 for a request id that
is not the current invocation's, 403 for a call the runtime's state does not
allow (a second response, an init error after init).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from roost.cancellation import within
from roost.worker.cgroups import LimitGroup, PeakMemory
from roost.worker.invocation_log import InvocationLog, report_line
from roost.worker.isolation import descendants
from roost.worker.process import EnvironmentProcess, Launcher, launch_direct
from roost.worker.runtime_api import Deliver, Invocation, NextInvocation, RuntimeApiServer
from roost.worker.sandbox import SANDBOX_API_SOCKET, SandboxSpec
from roost.worker.socket_owner import holds_socket, tcp_socket_inode

log = logging.getLogger(__name__)

INIT_TIMEOUT_S = 10.0

ACCEPTED = 202
INVALID_REQUEST_ID = 400
INVALID_STATE_TRANSITION = 403


class RuntimeStatus(enum.Enum):
    """Where an environment is in its life."""

    STARTING = "starting"
    POOLED = "pooled"
    READY = "ready"
    INVOKING = "invoking"
    DEAD = "dead"


_MOVES = {
    RuntimeStatus.STARTING: {RuntimeStatus.READY, RuntimeStatus.POOLED, RuntimeStatus.DEAD},
    RuntimeStatus.POOLED: {RuntimeStatus.STARTING, RuntimeStatus.DEAD},
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


def _expire(settled: asyncio.Future[tuple[bytes, str | None]]) -> None:
    """The host's timeout: an invoke still running when it fires has timed out."""
    if not settled.done():
        settled.set_exception(TimeoutError())


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
        launcher: Launcher = launch_direct,
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
        self._launcher = launcher
        self._process: EnvironmentProcess | None = None
        self._pidfd = -1
        # Told when the process exits, whatever the state (the host drops
        # environments that die while idle or pooled).
        self.on_exit: Callable[[ExecutionEnvironment], None] | None = None
        # At most one event waits here for the runtime's next /invocation/next.
        self._next = NextInvocation()
        self._peak: PeakMemory | None = None
        self._destroyed = False
        self._ready = asyncio.Event()
        # Pre-warmed environments: set when the runtime waits for an assignment.
        self._pooled = asyncio.Event()
        self._assignment: asyncio.Future[bytes] | None = None
        self._settled: asyncio.Future[tuple[bytes, str | None]] | None = None
        self._current: Invocation | None = None
        self._log: InvocationLog | None = None
        self._pending_output: list[bytes] = []
        self._init_failed = False
        self._init_error_body: bytes | None = None
        self._init_timed_out = False
        self._timed_out_at: float | None = None
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

    async def start(self, prewarmed: bool = False) -> None:
        """Launch the runtime and wait until it asks for work (or fails to init).

        ``prewarmed``: the runtime is started without a function and waits in
        ``POOLED`` until ``assign`` gives it one (a pre-warmed pool's empty
        environment); ``start`` then returns as soon as it waits.
        """
        await self._api.start()
        environment = dict(self.spec.environment)
        environment["AWS_LAMBDA_RUNTIME_API"] = self._api.address
        changes: dict[str, object] = {"environment": environment}
        if self.sandboxed and not self.spec.network and self.spec.api_socket is not None:
            await self._api.start_unix(self.spec.api_socket)
            environment["ROOST_RUNTIME_API_SOCKET"] = SANDBOX_API_SOCKET
        spec = SandboxSpec(**{**self.spec.__dict__, **changes})
        self._started_at = time.monotonic()
        loop = asyncio.get_running_loop()
        self._process = await self._launcher(spec, self.sandboxed)
        out_fd = self._process.output_fd
        flags = fcntl.fcntl(out_fd, fcntl.F_GETFL)
        fcntl.fcntl(out_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        loop.add_reader(out_fd, self._drain_output)
        self._pidfd = self._process.exit_fd
        loop.add_reader(self._pidfd, self._on_exit)
        await self._await_init(self._pooled if prewarmed else self._ready)

    async def _await_init(self, event: asyncio.Event) -> None:
        try:
            await within(event.wait(), INIT_TIMEOUT_S)
        except TimeoutError:
            self._init_timed_out = True
            self._fail_init()
            await self.destroy()

    async def assign(self, version: str, timeout_s: float, variables: dict[str, str]) -> None:
        """Give a pooled environment its function and wait for the handler's init."""
        if self.status is not RuntimeStatus.POOLED or self._assignment is None:
            raise InvalidStatusTransition(f"assign in {self.status.name}")
        self.version = version
        self.timeout_s = timeout_s
        self._move(RuntimeStatus.STARTING)
        self._started_at = time.monotonic()
        self._assignment.set_result(json.dumps(variables).encode())
        await self._await_init(self._ready)

    @property
    def init_failed(self) -> bool:
        """Whether the runtime failed to initialise (the environment is unusable)."""
        return self._init_failed

    @property
    def init_failed_unreported(self) -> bool:
        """Init failed without the runtime reporting an error or timing out: the
        process died or never came up (a spawn or sandbox fault, not the function's)."""
        return self._init_failed and self._init_error_body is None and not self._init_timed_out

    def _fail_init(self, body: bytes | None = None) -> None:
        self._init_failed = True
        if body is not None and self._init_error_body is None:
            self._init_error_body = body
        self._ready.set()
        self._pooled.set()

    def _init_failure_payload(self, request_id: str) -> bytes:
        """What the invoke that found init failed returns, as AWS words it."""
        if self._init_error_body is not None:
            return self._init_error_body
        if self._init_timed_out:
            message = f"Init timed out after {INIT_TIMEOUT_S:.2f} seconds"
            return _error_payload(
                "Runtime.InitTimeout", f"RequestId: {request_id} Error: {message}"
            )
        return self._exit_payload(request_id)

    async def destroy(self) -> None:
        """Kill the process tree and release the Runtime API and cgroup (idempotent).

        Every process of the environment goes, not only the runtime: the cgroup
        is emptied (daemons and fork bombs included) before it is removed.
        """
        if self._destroyed:
            return
        self._destroyed = True
        if self.status is not RuntimeStatus.DEAD:
            self._move(RuntimeStatus.DEAD)
        if self._settled is not None and not self._settled.done():
            message = "Error: Runtime exited with error: signal: killed"
            request_id = self._current.request_id if self._current else ""
            self._settled.set_result(
                (
                    _error_payload("Runtime.ExitError", f"RequestId: {request_id} {message}"),
                    "Unhandled",
                )
            )
        loop = asyncio.get_running_loop()
        limits = self.spec.limits
        if self._process is not None:
            self._process.kill()
            if limits is not None:
                await asyncio.to_thread(limits.kill_all)
            await asyncio.to_thread(self._process.wait)
            self._drain_output()
            if self._process.output_fd >= 0:
                loop.remove_reader(self._process.output_fd)
            if self._pidfd >= 0:
                loop.remove_reader(self._pidfd)
                self._pidfd = -1
            self._process.close()
        await self._api.close()
        if self._peak is not None:
            self._peak.close()
        if limits is not None and not await asyncio.to_thread(limits.remove):
            log.warning("environment %s: its cgroup could not be removed", self.env_id)

    def mark_initialised_ahead(self) -> None:
        """Init ran ahead of any invoke (provisioned): no invoke reports its duration."""
        self._init_duration_ms = None

    # Invoking

    async def invoke(self, invocation: Invocation) -> InvokeOutcome:
        """Run one event through the runtime and wait for its result or failure."""
        log_buffer = InvocationLog(invocation.request_id, self.version)
        for chunk in self._pending_output:
            log_buffer.write(chunk)
        self._pending_output.clear()
        init_ms = self._init_duration_ms if self.invocations == 0 else None
        self.invocations += 1
        if self._init_failed or self.status is RuntimeStatus.DEAD:
            self._drain_output()
            log_buffer.chunks.extend(self._pending_output)
            self._pending_output.clear()
            payload = self._init_failure_payload(invocation.request_id)
            self._log_failure(log_buffer, payload)
            report = report_line(
                invocation.request_id, 0.0, self.spec.memory_mb, self._max_memory_mb(), init_ms
            )
            return InvokeOutcome(payload, "Unhandled", log_buffer.finish(report), 0.0, init_ms)
        self._move(RuntimeStatus.INVOKING)
        self._log = log_buffer
        self._current = invocation
        loop = asyncio.get_running_loop()
        settled = self._settled = loop.create_future()
        started = time.monotonic()
        # The function's time starts now, not when the invoke arrived: a cold
        # start (or a network hop) must not eat into what the handler is told.
        deadline_ms = int(time.time() * 1000) + round(self.timeout_s * 1000)
        self._next.put(dataclasses.replace(invocation, deadline_ms=deadline_ms))
        # A timer rather than asyncio.wait_for: no extra task or future per invoke.
        timer = loop.call_later(self.timeout_s, _expire, settled)
        try:
            payload, function_error = await settled
        except TimeoutError:
            payload, function_error = self._timed_out(invocation), "Unhandled"
        finally:
            timer.cancel()
        duration_ms = (time.monotonic() - started) * 1000
        if self._timed_out_at is not None:
            duration_ms = max(duration_ms, self.timeout_s * 1000)
        self._drain_output()
        if self._exit_code is not None:
            self._log_failure(log_buffer, payload)
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

    @staticmethod
    def _log_failure(log_buffer: InvocationLog, payload: bytes) -> None:
        """The platform's lines for a runtime that exited (as Lambda logs them)."""
        try:
            error = json.loads(payload)
        except ValueError:
            return
        if not isinstance(error, dict):
            return
        error_type = error.get("errorType", "")
        if error_type in ("Runtime.ExitError", "Runtime.OutOfMemory", "Runtime.InitTimeout"):
            log_buffer.line(str(error.get("errorMessage", "")))
            log_buffer.line(error_type)

    def _timed_out(self, invocation: Invocation) -> bytes:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        stamp += f".{int(now * 1000) % 1000:03d}Z"
        message = f"Task timed out after {self.timeout_s:.2f} seconds"
        if self._log is not None:
            self._log.line(f"{stamp} {invocation.request_id} {message}")
        self._timed_out_at = now
        self._move(RuntimeStatus.DEAD)
        return _error_payload(
            "Sandbox.Timedout", f"RequestId: {invocation.request_id} Error: {message}"
        )

    def _max_memory_mb(self) -> int:
        if self._peak is None and self.spec.limits is not None:
            self._peak = self.spec.limits.peak_memory()
        peak = self._peak.read() if self._peak is not None else None
        if peak is None and self._process is not None:
            with contextlib.suppress(OSError, ValueError):
                status = Path(f"/proc/{self._process.pid}/status").read_text()
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1]) * 1024
        return max(1, (peak or 0) // (1024 * 1024))

    # Process events

    def _drain_output(self) -> None:
        fd = self._process.output_fd if self._process is not None else -1
        if fd < 0:
            return
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
            self._fail_init()
        if self._settled is not None and not self._settled.done() and self._current is not None:
            self._settled.set_result((self._exit_payload(self._current.request_id), "Unhandled"))
        if self.status is not RuntimeStatus.DEAD:
            self._move(RuntimeStatus.DEAD)
        if self.on_exit is not None:
            self.on_exit(self)

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

    # Who may use the Runtime API

    def processes(self) -> list[int]:
        """Host pids of the environment's processes (its cgroup, else its process tree)."""
        if self._process is None or self._destroyed:
            return []
        if self.spec.limits is not None:
            return self.spec.limits.pids()
        return descendants(self._process.pid)

    def owns_peer(self, peer: tuple[str, int], local: tuple[str, int]) -> bool:
        """Whether a connection to the Runtime API (``peer`` -> ``local``, as the
        server's transport reports them) comes from this environment's own processes.

        Functions share the host's network, so any of them can connect to any
        environment's Runtime API; the server must refuse all but its own.
        """
        inode = tcp_socket_inode((peer[0], peer[1]), (local[0], local[1]))
        # Roost's own process is trusted too (no function runs in it); tests
        # and tools act as the runtime client from there.
        owners = [*self.processes(), os.getpid()]
        return inode is not None and holds_socket(owners, inode)

    # RuntimeApiHandler

    async def assignment(self) -> bytes:
        if self.status is not RuntimeStatus.STARTING:
            raise asyncio.CancelledError  # Only a fresh, unassigned runtime may ask.
        self._move(RuntimeStatus.POOLED)
        self._assignment = asyncio.get_running_loop().create_future()
        self._pooled.set()
        return await self._assignment

    def wait_next(self, deliver: Deliver) -> None:
        if self.status is RuntimeStatus.STARTING:
            self._init_duration_ms = (time.monotonic() - self._started_at) * 1000
            self._move(RuntimeStatus.READY)
            self._ready.set()
        elif self._next.handed_over is not None and self._settled and not self._settled.done():
            # Asking for more before answering: the runtime dropped the event.
            message = "The runtime asked for the next event before responding to the current one"
            self._settled.set_result(
                (_error_payload("Runtime.InvalidResponse", message), "Unhandled")
            )
        self._next.wait(deliver)

    def abandon_next(self, deliver: Deliver) -> None:
        self._next.abandon(deliver)

    def _settle(self, request_id: str, result: tuple[bytes, str | None]) -> int:
        # Only an invocation handed out and not yet answered can be answered
        # (Lambda's runtime state machine); within one, only by its own id.
        in_flight = self._settled is not None and not self._settled.done()
        if self._settled is None or not in_flight or self._next.handed_over is None:
            return INVALID_STATE_TRANSITION
        if self._next.handed_over != request_id:
            return INVALID_REQUEST_ID
        self._drain_output()
        self._next.handed_over = None
        self._settled.set_result(result)
        return ACCEPTED

    def invocation_response(self, request_id: str, body: bytes) -> int:
        return self._settle(request_id, (body, None))

    def invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> int:
        if not body:
            body = _error_payload(error_type or "Runtime.Unknown", "Unknown application error")
        return self._settle(request_id, (body, "Unhandled"))

    def init_error(self, body: bytes, error_type: str | None) -> int:
        if self.status is not RuntimeStatus.STARTING or self._init_failed:
            return INVALID_STATE_TRANSITION
        self._fail_init(body or _error_payload(error_type or "Runtime.Unknown", "Init failed"))
        return ACCEPTED
