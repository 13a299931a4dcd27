"""Helpers both benchmarks share: ports, packages, clients, processes, the machine, percentiles.

``bench/control_plane.py`` and ``bench/invoke.py`` (with its ``invoke_*`` modules) import
these; nothing here measures anything by itself.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import platform
import shutil
import socket
import subprocess
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

REGION = "us-east-1"
KEYS = ("test", "test")
ROOST_ROLE = "arn:aws:iam::000000000000:role/lambda-role"
# Other processes busier than this (cores) during a measurement get a note in the output.
NOISY_CORES = 0.2
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_zip(name: str, source: str) -> bytes:
    """A small Python deployment package holding ``source`` as ``name``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o100644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def make_client(endpoint: str, service: str = "lambda") -> Any:
    """A boto3 client without retries, so every call is one HTTP request."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEYS[0],
        aws_secret_access_key=KEYS[1],
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            max_pool_connections=4,
            connect_timeout=10,
            read_timeout=60,
        ),
    )


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """A signal handler that turns SIGTERM (or SIGINT) into KeyboardInterrupt."""
    raise KeyboardInterrupt(f"signal {signum}")


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@contextlib.contextmanager
def running(servers: Sequence[Startable]) -> Iterator[None]:
    """Start all servers; stop every one of them however the block ends."""
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in servers:
            server.stop()


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """The installed version of each of ``packages`` that is installed."""
    found = {}
    for package in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


# --------------------------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    comm: str
    cpu_s: float


def proc_info(pid: int | str) -> ProcInfo:
    """Parent, name and user + system CPU seconds (all threads) of one process, from
    ``/proc/PID/stat``; OSError if it is gone."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    # Relative to the state field (3 in stat(5)): ppid is 4, utime 14, stime 15.
    return ProcInfo(int(pid), int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat), 0 where unavailable."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(value) for value in fields]
    # user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]
    return busy / CLK_TCK


def machine() -> dict[str, Any]:
    """What this ran on."""
    model = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    memory_gib = 0.0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory_gib,
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 if none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q/100 * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def ensure_apt_binary(binary: str, package: str) -> str:
    """``binary``'s path, installing the Debian ``package`` with apt-get if it is missing
    (needs root; `apt-get update` only when the first install fails)."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(f"{binary} is missing: install it (`apt-get install {package}`) and rerun")
    print(f"installing {binary}: apt-get install -y {package}", flush=True)
    install = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(install, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, stdout=subprocess.DEVNULL, check=True)
    found = shutil.which(binary)
    if not found:
        raise SystemExit(f"apt-get install {package} did not provide a {binary} binary")
    return found
