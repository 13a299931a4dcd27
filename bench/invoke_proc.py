"""Process trees from ``/proc`` for the invoke benchmark: who is below a server, what runs."""

from __future__ import annotations

import os
from pathlib import Path

from common import ProcInfo, proc_info


def processes() -> dict[int, ProcInfo]:
    """Every process we can read, by pid."""
    found: dict[int, ProcInfo] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            found[int(entry.name)] = proc_info(entry.name)
        except OSError:
            continue
    return found


def descendants(root: int, table: dict[int, ProcInfo]) -> list[int]:
    """All processes below ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""
