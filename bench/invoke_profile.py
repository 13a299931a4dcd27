"""A py-spy profile of the Roost server during an extra (untimed) 8-client wrk run, summed
up by area and by function."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from invoke_targets import Target
from invoke_wrk import run_wrk

PROFILE_RATE_HZ = 250

CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    # (area, substrings of a frame): the first frame from the leaf up that matches decides.
    ("SigV4 verification", ("roost/auth/",)),
    ("invocation log store (asyncio.to_thread)", ("roost/worker/log_store", "futures/thread.py")),
    ("Runtime API server (environment side)", ("roost/worker/runtime_api",)),
    (
        "invoke path (front end, counting, assignment, environment)",
        ("roost/frontend/invoke", "roost/flow", "roost/worker/"),
    ),
    (
        "HTTP server (frontend/server.py, connection.py, httptools)",
        ("roost/frontend/server", "roost/frontend/connection", "httptools"),
    ),
    ("Roost API layer (parsing, routing, rendering)", ("roost/api/", "roost/frontend/")),
    ("uvloop's C loop (I/O and callbacks, no Python frame)", ("asyncio/runners.py",)),
]


def ensure_py_spy() -> str | None:
    """py-spy next to this interpreter, installed with pip if missing; None if that fails."""
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("py-spy")
    if found:
        return found
    print("installing py-spy: pip install py-spy", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=False
    )
    if done.returncode == 0 and candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


def profile(
    py_spy: str, wrk: str, target: Target, name: str, seconds: float, out: Path, script_dir: Path
) -> Path | None:
    """py-spy on the server during an extra (untimed) 8-client wrk run: raw folded stacks.

    ``--gil``: only samples of the thread that holds the GIL (py-spy's idle detection
    counted threads parked on locks and queues as busy here), so the figures are shares
    of the time the server ran Python or C code under the GIL."""
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(target.server_pid()),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(PROFILE_RATE_HZ),
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)
        run_wrk(wrk, target, name, 8, seconds, script_dir)
        _, err = spy.communicate(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not out.exists():
        print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        return None
    return out


def _frame(frame: str) -> str:
    """'function (path/to/file.py:12)' -> 'function (file.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = where.split("/")
    where = "/".join(parts[parts.index("roost") :]) if "roost" in parts else parts[-1]
    return f"{name} ({where})"


def _area(frames: list[str]) -> str:
    """The area of the first frame from the leaf up that matches one, else "other"."""
    for frame in reversed(frames):
        hit = next((b for b, keys in CATEGORIES if any(k in frame for k in keys)), None)
        if hit:
            return hit
    return "other"


def summarize_profile(path: Path, seconds: float, top: int = 15) -> dict[str, Any]:
    """Self time by function and time by area, from py-spy's raw (folded) output."""
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # py-spy's first entry is the thread ("process 1:\"...\"" / "thread (0x...)").
        frames = [f for f in frames if " (" in f]
        if not frames:
            continue
        total += count
        own[_frame(frames[-1])] += count
        areas[_area(frames)] += count
    return {
        "samples": total,
        "gil_held_share": round(total / (seconds * PROFILE_RATE_HZ), 2),
        "self": [(name, round(100 * c / total, 1)) for name, c in own.most_common(top)],
        "areas": [(name, round(100 * c / total, 1)) for name, c in areas.most_common()],
    }


def profile_text(summary: dict[str, Any]) -> str:
    lines = [
        f"py-spy --gil, Roost server, 8 clients (untimed extra run): {summary['samples']} "
        f"samples with the GIL held (~{summary['gil_held_share']:.0%} of the time)",
        "",
        "| Area (first match from the leaf up) | % of busy samples |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {pct} |" for name, pct in summary["areas"]]
    lines += ["", "| Function (self time) | % |", "|---|---:|"]
    lines += [f"| `{name}` | {pct} |" for name, pct in summary["self"]]
    return "\n".join(lines)
