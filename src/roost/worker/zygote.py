"""Zygotes, host side: one sandboxed fork server per Python interpreter.

A pre-warmed Python environment is a fork of a zygote (``roost/runtime/zygote.py``)
that already imported Roost's runtime client, instead of a fresh bwrap and
interpreter: it starts in a few milliseconds and shares the interpreter's pages
with its siblings. ``ZygoteFleet.launch`` is a ``Launcher``: it forks the
environments a zygote can serve (sandboxed Python with the node's network, code
in a slot under the sandbox area's ``slots/``) and launches every other one
directly, as it does when no zygote can run here (nested user namespaces
refused, the zygote crashed at start); it says why in the log, once.

Forking an environment: the host sends the zygote a request with the write end
of the environment's output pipe and one end of a fresh socketpair (the relay).
The environment's pid 1 (the runtime) says ``ready`` on the relay; the kernel
attaches its pid as the host sees it (``SO_PASSCRED``). The host moves that pid
into the environment's cgroup, then answers ``go``, so every process the
function ever runs is limited. The zygote, which adopted that process, relays
its exit code when it reaps it: how the host learns it without being the parent.

A zygote that dies takes the environments it forked with it (they live in its
PID namespace); they are seen to exit as any environment is, and the next fork
starts a new zygote.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from roost.cancellation import within
from roost.worker.cgroups import LimitGroup
from roost.worker.process import EnvironmentProcess, launch_direct
from roost.worker.sandbox import SandboxSpec, launch_zygote, python_interpreter

log = logging.getLogger(__name__)

ZYGOTE_START_TIMEOUT_S = 20.0
FORK_TIMEOUT_S = 10.0
EXIT_RELAY_WAIT_S = 10.0
MAX_FORK_FAILURES = 3
ZYGOTE_STOP_GRACE_S = 2.0
_CREDENTIALS = struct.Struct("iII")  # struct ucred: pid, uid, gid
_MAX_MESSAGE_BYTES = 4096


class ZygoteUnavailable(Exception):
    """The zygote is not running (it died, or could not start)."""


class ForkFailed(Exception):
    """The zygote could not make this one environment."""


@dataclass(frozen=True)
class ForkRequest:
    """What a zygote needs to make one environment."""

    slot: str
    environment: Mapping[str, str]
    tmp_bytes: int
    shm_bytes: int
    address_space_bytes: int = 0

    @classmethod
    def for_spec(cls, spec: SandboxSpec) -> ForkRequest:
        """The request of an environment's spec (its code dir is a slot)."""
        memory_bytes = spec.memory_mb * 1024 * 1024
        # Without a cgroup an rlimit bounds what it can, as for direct launches.
        address_space = 0 if spec.limits is not None else memory_bytes * 2 + 512 * 1024 * 1024
        return cls(
            slot=spec.code_dir.name,
            environment=dict(spec.environment),
            tmp_bytes=spec.ephemeral_storage_mb * 1024 * 1024,
            shm_bytes=memory_bytes,
            address_space_bytes=address_space,
        )

    def encode(self) -> bytes:
        """The request as the zygote reads it."""
        return json.dumps(
            {
                "slot": self.slot,
                "environment": dict(self.environment),
                "tmp_bytes": self.tmp_bytes,
                "shm_bytes": self.shm_bytes,
                "address_space_bytes": self.address_space_bytes,
            }
        ).encode()


class ForkedProcess:
    """An environment forked by a zygote: its pid 1 (host pid), output and relay.

    The zygote, not Roost, is the parent: it relays the exit code, so the relay
    becoming readable is the exit notification.
    """

    def __init__(self, pid: int, pidfd: int, output_fd: int, relay: socket.socket) -> None:
        self._pid = pid
        self._pidfd = pidfd
        self._output_fd = output_fd
        self._relay = relay
        self._code: int | None = None

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def output_fd(self) -> int:
        return self._output_fd

    @property
    def exit_fd(self) -> int:
        return -1 if self._relay.fileno() < 0 else self._relay.fileno()

    def wait(self) -> int:
        if self._code is None:
            if self._relay.fileno() >= 0:
                select.select([self._relay], [], [], EXIT_RELAY_WAIT_S)
            self._code = self._relayed_code()
        return self._code

    def _relayed_code(self) -> int:
        """The exit code the zygote relayed; killed if it could not (it died too)."""
        with contextlib.suppress(OSError):
            message = self._relay.recv(_MAX_MESSAGE_BYTES)
            kind, _, value = message.partition(b" ")
            if kind == b"exit":
                with contextlib.suppress(ValueError):
                    return int(value)
        return -signal.SIGKILL

    def kill(self) -> None:
        # Pid 1 of its namespace: the kernel kills every other process in it
        # too. The pidfd cannot hit a recycled pid once the zygote reaped it.
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def close(self) -> None:
        if self._output_fd >= 0:
            os.close(self._output_fd)
            self._output_fd = -1
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        self._relay.close()


async def _receive(sock: socket.socket, timeout_s: float) -> tuple[bytes, int | None]:
    """One message from a non-blocking relay and the sender's pid, if the kernel sent it."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    try:
        await within(ready, timeout_s)
    finally:
        loop.remove_reader(sock.fileno())
    message, ancillary, _, _ = sock.recvmsg(
        _MAX_MESSAGE_BYTES, socket.CMSG_SPACE(_CREDENTIALS.size)
    )
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, _, _ = _CREDENTIALS.unpack(data[: _CREDENTIALS.size])
            return message, pid
    return message, None


def _join(limits: LimitGroup, pid: int) -> None:
    for procs in limits.procs_files:
        procs.write_text(str(pid))


class Zygote:
    """One zygote sandbox, serving forks for one interpreter."""

    def __init__(
        self,
        interpreter: str,
        runtime_client_dir: Path,
        slots_dir: Path,
        environment: Mapping[str, str],
    ) -> None:
        self.interpreter = interpreter
        self._runtime_client_dir = runtime_client_dir
        self._slots_dir = slots_dir
        self._environment = dict(environment)
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._pidfd = -1

    @property
    def alive(self) -> bool:
        """Whether it serves forks now."""
        return self._control is not None

    @property
    def pid(self) -> int | None:
        """Host pid of the zygote's sandbox (bwrap), while it runs."""
        return self._process.pid if self._process is not None and self.alive else None

    async def start(self) -> None:
        """Start the sandbox and wait until the zygote is ready; ZygoteUnavailable if not."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = await asyncio.to_thread(
                launch_zygote,
                self.interpreter,
                self._runtime_client_dir,
                self._slots_dir,
                theirs.fileno(),
                self._environment,
            )
        except OSError as error:
            ours.close()
            raise ZygoteUnavailable(f"could not start bubblewrap: {error}") from error
        finally:
            theirs.close()
        ours.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            message = await within(loop.sock_recv(ours, 4096), ZYGOTE_START_TIMEOUT_S)
        except (TimeoutError, OSError) as error:
            message = f"no answer ({error!r})".encode()
        if message != b"ready":
            ours.close()
            output = await asyncio.to_thread(self._kill_and_collect)
            reason = message.decode(errors="replace") or "it exited"
            raise ZygoteUnavailable(f"{reason}; it printed: {output.strip()[-2000:]!r}")
        self._control = ours
        self._pidfd = os.pidfd_open(self._process.pid)
        loop.add_reader(self._pidfd, self._on_exit)
        assert self._process.stdout is not None
        os.set_blocking(self._process.stdout.fileno(), False)
        loop.add_reader(self._process.stdout.fileno(), self._log_output)

    def _kill_and_collect(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        output = self._process.stdout.read() or b""
        self._process.stdout.close()
        return output.decode(errors="replace")

    def _log_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        with contextlib.suppress(BlockingIOError, OSError):
            data = os.read(self._process.stdout.fileno(), 65536)
            if data:
                for line in data.decode(errors="replace").splitlines():
                    log.warning("zygote %s: %s", self.interpreter, line)
            else:
                asyncio.get_running_loop().remove_reader(self._process.stdout.fileno())

    def _on_exit(self) -> None:
        assert self._process is not None
        code = self._process.wait()
        log.warning(
            "the zygote of %s exited (%s); its environments went with it, the next one restarts it",
            self.interpreter,
            code,
        )
        self._release()

    def _release(self) -> None:
        loop = asyncio.get_running_loop()
        if self._pidfd >= 0:
            loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        if self._process is not None and self._process.stdout is not None:
            loop.remove_reader(self._process.stdout.fileno())
            self._process.stdout.close()
        if self._control is not None:
            self._control.close()
            self._control = None

    async def fork(self, request: ForkRequest, limits: LimitGroup | None) -> ForkedProcess:
        """A new environment, in ``limits`` before it runs anything of the function's."""
        if self._control is None:
            raise ZygoteUnavailable("the zygote is not running")
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        ours.setblocking(False)
        fds = array.array("i", [write_fd, theirs.fileno()])
        try:
            self._control.sendmsg([request.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except OSError as error:
            os.close(read_fd)
            ours.close()
            raise ZygoteUnavailable(f"the zygote did not take the request: {error}") from error
        finally:
            os.close(write_fd)
            theirs.close()
        try:
            return await self._adopt(ours, read_fd, limits)
        except BaseException:
            os.close(read_fd)
            ours.close()
            raise

    async def _adopt(
        self, relay: socket.socket, read_fd: int, limits: LimitGroup | None
    ) -> ForkedProcess:
        """Wait for the environment's init, move it into its cgroup, let it go on."""
        try:
            message, pid = await _receive(relay, FORK_TIMEOUT_S)
        except TimeoutError:
            raise ForkFailed("the environment did not report in time") from None
        if message != b"ready" or pid is None or pid <= 0:
            detail = message.decode(errors="replace") or "the zygote closed the relay"
            # The relay can close before the zygote's exit is noticed: ask the process.
            if not self.alive or (self._process is not None and self._process.poll() is not None):
                raise ZygoteUnavailable(detail)
            raise ForkFailed(detail)
        try:
            pidfd = os.pidfd_open(pid)  # init waits for "go": still there, not reaped
        except OSError as error:
            raise ForkFailed(f"the environment vanished: {error}") from error
        try:
            if limits is not None:
                await asyncio.to_thread(_join, limits, pid)
            relay.send(b"go")
        except BaseException:
            # Through the pidfd: the pid alone could name a recycled process.
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.close(pidfd)
            raise
        return ForkedProcess(pid, pidfd, read_fd, relay)

    def abandon(self) -> None:
        """Give up on a zygote that failed a fork as if dead: kill what is left of it
        and let the next fork start a new one (its exit may not be noticed yet)."""
        if self._process is None or not self.alive:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._release()

    async def stop(self) -> None:
        """Stop the zygote (and so every environment it forked)."""
        if self._process is None or not self.alive:
            return
        self._release()  # closing the control socket lets it exit on its own
        await asyncio.to_thread(self._reap, ZYGOTE_STOP_GRACE_S)

    def _reap(self, grace_s: float) -> None:
        assert self._process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(grace_s)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()


class ZygoteFleet:
    """The zygotes of a worker host: one per interpreter, started on first use.

    A zygote that died is started again by the next fork; one that cannot start
    at all, or whose forks fail ``MAX_FORK_FAILURES`` times in a row, is not
    tried again, and its environments are launched directly.
    """

    def __init__(
        self, runtime_client_dir: Path, slots_dir: Path, environment: Mapping[str, str]
    ) -> None:
        self._runtime_client_dir = runtime_client_dir
        self._slots_dir = slots_dir
        self._environment = dict(environment)
        self._zygotes: dict[str, Zygote] = {}
        self._unusable: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._failures: dict[str, int] = {}
        self._stopped = False

    def interpreter_for(self, runtime: str, network: bool) -> str | None:
        """The interpreter whose zygote can fork environments of ``runtime``, if any.

        Environments without a network need the Unix-socket bridge to the
        Runtime API (``netless.py``), and other runtimes exec their own
        bootstrap: both are launched directly.
        """
        if not (network and runtime.startswith("python")):
            return None
        interpreter = python_interpreter(runtime)
        if interpreter is None or interpreter in self._unusable:
            return None
        return interpreter

    def zygotes(self) -> dict[str, Zygote]:
        """The running zygotes by interpreter."""
        return {k: z for k, z in self._zygotes.items() if z.alive}

    async def launch(self, spec: SandboxSpec, sandboxed: bool) -> EnvironmentProcess:
        """A ``Launcher``: fork from a zygote where one can serve, else launch directly."""
        interpreter = self.interpreter_for(spec.runtime, spec.network) if sandboxed else None
        if interpreter is not None and spec.code_dir.parent == self._slots_dir:
            request = ForkRequest.for_spec(spec)
            for _ in range(2):  # a zygote found dead is restarted once
                zygote = await self._running(interpreter)
                if zygote is None:
                    break
                try:
                    process = await zygote.fork(request, spec.limits)
                    self._failures.pop(interpreter, None)
                    return process
                except ZygoteUnavailable as error:
                    log.warning("zygote of %s unavailable: %s", interpreter, error)
                    zygote.abandon()
                except ForkFailed as error:
                    self._fork_failed(interpreter, f"environment {spec.env_id}: {error}")
                    break
        return await launch_direct(spec, sandboxed)

    def _fork_failed(self, interpreter: str, detail: str) -> None:
        log.warning(
            "fork from the zygote of %s failed, launching directly: %s", interpreter, detail
        )
        self._failures[interpreter] = self._failures.get(interpreter, 0) + 1
        if self._failures[interpreter] >= MAX_FORK_FAILURES:
            self._unusable[interpreter] = f"{MAX_FORK_FAILURES} forks in a row failed"
            log.warning("no more forks from the zygote of %s: %s", interpreter, detail)

    async def _running(self, interpreter: str) -> Zygote | None:
        lock = self._locks.setdefault(interpreter, asyncio.Lock())
        async with lock:
            zygote = self._zygotes.get(interpreter)
            if zygote is not None and zygote.alive:
                return zygote
            if interpreter in self._unusable or self._stopped:
                return None
            zygote = Zygote(
                interpreter, self._runtime_client_dir, self._slots_dir, self._environment
            )
            try:
                await zygote.start()
            except ZygoteUnavailable as error:
                self._unusable[interpreter] = str(error)
                log.warning(
                    "no zygote for %s, environments start a fresh interpreter: %s",
                    interpreter,
                    error,
                )
                return None
            self._zygotes[interpreter] = zygote
            return zygote

    async def stop(self) -> None:
        """Stop every zygote (for good: later environments are launched directly)."""
        self._stopped = True
        for zygote in list(self._zygotes.values()):
            await zygote.stop()
        self._zygotes.clear()
