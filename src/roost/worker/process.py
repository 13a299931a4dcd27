"""An environment's root process as the host sees it, however it was started.

An environment is either launched directly (bubblewrap, or a plain process
without it: a child of Roost, a ``Popen``) or forked by a zygote (not Roost's
child: its exit code comes over a socket from the environment's init). Both
give the host the same handle: a host pid that leads the environment's process
group, the read end of its output, a descriptor that becomes readable when it
exits, and its exit code (negative for a signal, as ``Popen`` reports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable
from typing import Protocol

from roost.worker.sandbox import SandboxSpec, launch


class EnvironmentProcess(Protocol):
    """The root of one environment's process tree."""

    @property
    def pid(self) -> int:
        """Host pid of the root; it leads the environment's process group."""

    @property
    def output_fd(self) -> int:
        """Read end of the shared stdout/stderr pipe; -1 once closed."""

    @property
    def exit_fd(self) -> int:
        """A descriptor that becomes readable once the root exited; -1 once closed."""

    def wait(self) -> int:
        """Block until the root exited; its exit code (negative: killed by that signal)."""

    def kill(self) -> None:
        """SIGKILL the environment's processes (those that left its session may survive:
        the cgroup catches them)."""

    def close(self) -> None:
        """Release the descriptors (idempotent; stop watching them first)."""


Launcher = Callable[[SandboxSpec, bool], Awaitable[EnvironmentProcess]]
"""Starts an environment's process from its spec (``sandboxed`` or not)."""


class PopenProcess:
    """An environment launched directly: Roost's own child."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self._process = process
        self._stdout = process.stdout
        self._pidfd = os.pidfd_open(process.pid)  # a child is not reaped before wait()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def output_fd(self) -> int:
        return -1 if self._stdout.closed else self._stdout.fileno()

    @property
    def exit_fd(self) -> int:
        return self._pidfd

    def wait(self) -> int:
        return self._process.wait()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def close(self) -> None:
        self._stdout.close()
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1


async def launch_direct(spec: SandboxSpec, sandboxed: bool) -> EnvironmentProcess:
    """Start the environment as Roost's child (a fresh bwrap and interpreter)."""
    process = await asyncio.to_thread(launch, spec, sandboxed)
    return PopenProcess(process)
