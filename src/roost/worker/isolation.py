"""Which isolation this host can give environments, and why (``roost doctor``).

Also how a connection to an environment's Runtime API is traced to the process
that opened it: functions share the host's network, so the API's port is
reachable by any of them, and only the environment's own processes may use it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from roost.runtime import namespaces
from roost.worker.cgroups import CgroupManager
from roost.worker.sandbox import bwrap_path, run_probe, sandbox_interpreter


@dataclass(frozen=True)
class Isolation:
    """The sandbox and limit mechanisms in effect."""

    sandboxed: bool
    cgroups: bool
    reasons: tuple[str, ...]
    zygote: bool = False

    def describe(self) -> str:
        """One paragraph for start-up output and ``roost doctor``."""
        mode = "bubblewrap sandboxes" if self.sandboxed else "UNSANDBOXED plain processes"
        limits = "cgroup memory/pids limits" if self.cgroups else "rlimits only"
        lines = [f"isolation: {mode}, {limits}"]
        if self.zygote:
            lines.append(
                "  - Python environments are forked from a zygote per interpreter "
                "(each in its own user, mount, PID, IPC and UTS namespaces)"
            )
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)


def detect(want_sandbox: bool = True) -> Isolation:
    """Probe bubblewrap, a reachable interpreter and writable cgroups."""
    reasons: list[str] = []
    sandboxed = want_sandbox
    if not want_sandbox:
        reasons.append("sandboxing was turned off by configuration")
    elif bwrap_path() is None:
        sandboxed = False
        reasons.append("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    elif sandbox_interpreter() is None:
        sandboxed = False
        reasons.append("no Python interpreter reachable by the sandbox uid (install python3)")
    zygote = False
    if sandboxed:
        refused = zygote_refused()
        zygote = refused is None
        if refused is not None:
            reasons.append(f"every environment starts a fresh interpreter: {refused}")
    cgroups = os.geteuid() == 0 and CgroupManager().available
    if not cgroups:
        reasons.append("cgroups are not writable here: memory is bounded by rlimits")
    return Isolation(sandboxed, cgroups, tuple(reasons), zygote)


def zygote_refused() -> str | None:
    """Why environments cannot be forked from a zygote here (None: they can).

    A zygote's children make nested user, mount and PID namespaces inside the
    sandbox, which some kernels and container runtimes refuse.
    """
    interpreter = sandbox_interpreter()
    if interpreter is None:
        return "no Python interpreter reachable by the sandbox uid"
    source = Path(namespaces.__file__).read_text()
    code, output = run_probe(interpreter, f"{source}\nprobe()\n")
    if code == 0:
        return None
    detail = output.strip().splitlines()[-1] if output.strip() else f"exit {code}"
    return f"nested namespaces are refused inside the sandbox ({detail})"


# Telling an environment's own connections from anyone else's

_PROC_NET_TCP = Path("/proc/net/tcp")


def _hex_endpoint(address: tuple[str, int]) -> str:
    """``127.0.0.1:8080`` as ``/proc/net/tcp`` writes it (``0100007F:1F90``)."""
    host, port = address[0], address[1]
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def tcp_socket_inode(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The inode of the IPv4 TCP socket at ``local`` connected to ``remote``, if any.

    Seen from the worker's network namespace (the one functions share by default).
    """
    wanted = (_hex_endpoint(local), _hex_endpoint(remote))
    # The kernel lists the sockets a page at a time, and one that moves in its
    # hash table while others come and go can be skipped in a read: a socket
    # that is not found is looked for again before it is given up.
    for _ in range(_TCP_LOOKUPS):
        try:
            lines = _PROC_NET_TCP.read_text().splitlines()[1:]
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and (fields[1], fields[2]) == wanted:
                return int(fields[9])
    return None


_TCP_LOOKUPS = 3


def holds_socket(pids: Iterable[int], inode: int) -> bool:
    """Whether one of ``pids`` has the socket ``inode`` open."""
    target = f"socket:[{inode}]"
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            descriptors = list(fd_dir.iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                if os.readlink(descriptor) == target:
                    return True
    return False


def descendants(root_pid: int) -> list[int]:
    """``root_pid`` and every process below it (for environments without a cgroup)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [root_pid]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found
