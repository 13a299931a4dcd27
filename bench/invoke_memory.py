"""Memory per idle warm environment: USS (``Private_Clean + Private_Dirty`` of
``/proc/PID/smaps_rollup``) of each environment's process tree.

Environments forked from a zygote share its pages until they write them, so
their USS counts only what they changed; the zygote's own USS (bubblewrap, its
init and the zygote) is paid once per interpreter and reported separately."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from invoke_proc import processes
from invoke_targets import Target


def uss_kib(pid: int) -> int:
    """Unshared memory of one process: Private_Clean + Private_Dirty (KiB)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    except OSError:
        return 0
    return total


@dataclass
class Memory:
    server: str
    environments: int
    processes_per_environment: float
    uss_median_mib: float
    uss_mean_mib: float
    uss_min_mib: float
    uss_max_mib: float
    python_only_median_mib: float
    server_uss_mib: float
    zygotes: int = 0
    zygote_uss_mib: float = 0.0


def memory(target: Target) -> Memory:
    """USS of every environment of ``target`` now, of its python processes alone and of the
    server process."""
    table = processes()
    trees = target.environments(table)
    totals = sorted(sum(uss_kib(pid) for pid in tree) / 1024 for tree in trees)
    python_only = sorted(
        sum(uss_kib(pid) for pid in tree if table[pid].comm.startswith("python")) / 1024
        for tree in trees
    )
    if not totals:
        raise RuntimeError(f"{target.label}: no environments found to measure")
    # Paid once per interpreter, not per environment: reported on its own.
    zygotes = target.zygotes(table)
    zygote_kib = sum(uss_kib(pid) for tree in zygotes for pid in tree)
    return Memory(
        server=target.label,
        environments=len(trees),
        processes_per_environment=round(sum(len(t) for t in trees) / len(trees), 2),
        uss_median_mib=round(statistics.median(totals), 2),
        uss_mean_mib=round(statistics.fmean(totals), 2),
        uss_min_mib=round(totals[0], 2),
        uss_max_mib=round(totals[-1], 2),
        python_only_median_mib=round(statistics.median(python_only), 2),
        server_uss_mib=round(uss_kib(target.server_pid()) / 1024, 1),
        zygotes=len(zygotes),
        zygote_uss_mib=round(zygote_kib / 1024, 2),
    )
