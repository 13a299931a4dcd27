"""The servers under test of the invoke benchmark: a process group, an invoke port and the
process trees of its execution environments; Roost here, serverless-offline in
``invoke_peer``. Both run the same function: ``HANDLER_SOURCE`` on ``RUNTIME``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOST_ROLE, ProcInfo, make_client
from invoke_proc import cmdline, descendants, processes

RUNTIME = "python3.11"
MEMORY_MB = 128
HANDLER_SOURCE = 'def handler(event, context):\n    return {"ok": True}\n'
PAYLOAD = b"{}"


class Target:
    """A server under test: its process group, its invoke port and its environments."""

    label = ""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / f"{self.label}.log"
        self.process: subprocess.Popen[bytes] | None = None

    # What subclasses say
    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def cwd(self) -> Path:
        return self.workdir

    def server_pid(self) -> int:
        """The process that serves HTTP (its CPU time is the server's)."""
        assert self.process is not None
        return self.process.pid

    def environments(self, table: dict[int, ProcInfo]) -> list[list[int]]:
        """The process trees of the execution environments, one list per environment."""
        raise NotImplementedError

    def zygotes(self, table: dict[int, ProcInfo]) -> list[list[int]]:
        """The processes of each zygote environments are forked from (none by default)."""
        return []

    # Life cycle
    def start(self, timeout_s: float = 120.0) -> None:
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches only the benchmark.
            self.process = subprocess.Popen(
                self.argv(),
                cwd=self.cwd(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited early:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.label} did not come up in {timeout_s} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL to the whole process group if anything lingers."""
        if self.process is None:
            return
        pgid = self.process.pid
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def log_tail(self, chars: int = 2000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    # Invoke
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/2015-03-31/functions/{name}/invocations"


class Roost(Target):
    label = "Roost"

    def __init__(self, workdir: Path, port: int, memory_budget_mb: int) -> None:
        super().__init__(workdir, port)
        self.memory_budget_mb = memory_budget_mb
        self._client: Any = None

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "roost",
            "up",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.workdir / "roost-data"),
        ]

    def env(self) -> dict[str, str]:
        return {**super().env(), "ROOST_MEMORY_BUDGET_MB": str(self.memory_budget_mb)}

    def environments(self, table: dict[int, ProcInfo]) -> list[list[int]]:
        found = []
        for pid in self._sandboxes(table):
            if _is_zygote(pid):
                # Every process of the zygote sandbox in a PID namespace other than
                # its parent's is an environment's pid 1: it and its descendants.
                for init in self._forked_inits(pid, table):
                    found.append([init, *descendants(init, table)])
            else:  # bwrap (or python when unsandboxed): one environment
                found.append([pid, *descendants(pid, table)])
        return found

    def zygotes(self, table: dict[int, ProcInfo]) -> list[list[int]]:
        """Each zygote sandbox: bwrap, bwrap's init and the zygote itself (not its forks)."""
        found = []
        for pid in self._sandboxes(table):
            if _is_zygote(pid):
                forked = set()
                for init in self._forked_inits(pid, table):
                    forked.update([init, *descendants(init, table)])
                found.append([p for p in [pid, *descendants(pid, table)] if p not in forked])
        return found

    def _sandboxes(self, table: dict[int, ProcInfo]) -> list[int]:
        root = self.server_pid()
        return [info.pid for info in table.values() if info.ppid == root]

    @staticmethod
    def _forked_inits(sandbox: int, table: dict[int, ProcInfo]) -> list[int]:
        found = []
        for pid in descendants(sandbox, table):
            parent = table[pid].ppid
            if _pid_namespace(pid) != _pid_namespace(parent) and table[parent].comm != "bwrap":
                found.append(pid)
        return found

    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(f"http://127.0.0.1:{self.port}")
        return self._client

    def create(self, name: str, code: bytes) -> None:
        self.client().create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Role=ROOST_ROLE,
            Handler="handler.handler",
            Code={"ZipFile": code},
            Timeout=6,
            MemorySize=MEMORY_MB,
        )

    def wait_active(self, name: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.client().get_function_configuration(FunctionName=name).get("State")
            if state == "Active":
                return
            if state == "Failed" or time.monotonic() > deadline:
                raise RuntimeError(f"Roost function {name} is {state}")
            time.sleep(0.005)

    def sandboxed(self) -> str:
        """How the environments run, from their processes: under bubblewrap or not."""
        table = processes()
        trees = self.environments(table)
        if not trees:
            return "unknown"
        direct = [tree for tree in trees if any(table[pid].comm == "bwrap" for pid in tree)]
        zygotes = self.zygotes(table)
        if zygotes:
            forked = len(trees) - len(direct)
            return f"bubblewrap ({forked} of {len(trees)} forked from {len(zygotes)} zygote(s))"
        if len(direct) == len(trees):
            return "bubblewrap"
        return "not under bubblewrap"


def _is_zygote(pid: int) -> bool:
    return "/var/runtime/zygote.py" in cmdline(pid)


def _pid_namespace(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""
