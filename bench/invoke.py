"""Sync invoke: Roost against serverless-offline, the same trivial Python handler in both.

One command (see ``bench/README.md``)::

    bench/run invoke [--seconds 5] [--clients 1 8 32] [--cold 30] [--burst 48] [--json out.json]

It installs its baseline if missing (npm ``serverless@3`` and ``serverless-offline@13.9.0``
into a cache directory, and ``wrk`` with apt-get), starts ``python -m roost up`` and
``npx serverless offline start`` on free loopback ports, each in a temporary directory, and
measures, against one server at a time:

* warm sync invoke latency (p50/p99) and throughput with 1, 8 and 32 concurrent clients:
  one load generator for both, ``wrk`` replaying one pre-signed Invoke request (SigV4 with
  botocore; serverless-offline ignores the signature);
* cold start: the first invoke of a freshly created function, to its response (Roost:
  CreateFunction, wait until Active, then the timed invoke; serverless-offline: the first
  invoke of one of the functions in its ``serverless.yml`` that was never invoked, which
  spawns its Python process);
* environments created per second: the first invokes of many distinct never-invoked
  functions, all at once;
* memory per idle warm environment: USS (``Private_Clean + Private_Dirty`` of
  ``/proc/PID/smaps_rollup``) of each environment's process tree (Roost: the children of the
  server, bwrap + python; serverless-offline: its ``sh -c`` + python children).

It prints a markdown table with Roost, the peer, the ratio Roost/peer and the targets of
the Execution issue, then where the CPU went during the warm runs, and optionally a py-spy
profile of the Roost server during an extra (untimed) 8-client run. Everything it started
is stopped at the end, on errors, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    NOISY_CORES,
    free_port,
    machine,
    machine_busy_seconds,
    make_zip,
    package_versions,
    raise_interrupt,
    running,
)
from invoke_cold import burst, cold_starts
from invoke_memory import memory
from invoke_peer import PEER, ServerlessOffline, ensure_peer
from invoke_profile import ensure_py_spy, profile, summarize_profile
from invoke_report import Report, print_report
from invoke_targets import HANDLER_SOURCE, MEMORY_MB, RUNTIME, Roost, Target
from invoke_wrk import check_reply, ensure_wrk, invoke_once, warm_run

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "roost-bench"
WARM_NAME = "warm"


def wait_quiet(max_wait_s: float, threshold: float = NOISY_CORES) -> float:
    """Wait (up to ``max_wait_s``) until other processes keep < ``threshold`` cores busy
    over 2 s; the last reading."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_seconds()
        time.sleep(2.0)
        busy = (machine_busy_seconds() - before) / 2.0
        if busy < threshold or time.monotonic() >= deadline:
            return round(busy, 2)
        print(f"  other processes keep {busy:.2f} cores busy: waiting ...", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sync invoke of Roost against serverless-offline: warm latency and "
        "throughput (wrk), cold starts, environments/s, memory per idle environment."
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each wrk run")
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        help="concurrent connections for the warm runs (default: 1 8 32)",
    )
    parser.add_argument("--cold", type=int, default=30, help="cold starts to time (each server)")
    parser.add_argument(
        "--burst", type=int, default=48, help="fresh functions invoked at once for environments/s"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE / "serverless",
        help="where npm installs the baseline (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-budget-mb",
        type=int,
        default=65536,
        help="ROOST_MEMORY_BUDGET_MB, so that no environment is evicted",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"first wait up to this long for other processes to use < {NOISY_CORES} cores",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    if args.cold < 1 or args.burst < 1:
        parser.error("--cold and --burst must be at least 1")
    return args


def tool_versions(wrk: str, peer_versions: dict[str, str]) -> dict[str, str]:
    """The peer's, Roost's and its dependencies', wrk's and the functions' Python versions."""
    versions = dict(peer_versions)
    versions.update(package_versions(("roost", "boto3", "botocore", "uvloop", "httptools")))
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        versions["wrk"] = (
            subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
            .stdout.split("[")[0]
            .strip()
        )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        versions["function python (/usr/bin/python3)"] = subprocess.run(
            ["/usr/bin/python3", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return versions


def new_report(
    args: argparse.Namespace, argv: Sequence[str] | None, versions: dict[str, str]
) -> Report:
    """An empty report: when, the command, the machine, the versions and the settings."""
    return Report(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=(
            "bench/run invoke " + " ".join(argv if argv is not None else sys.argv[1:])
        ).strip(),
        machine=machine(),
        versions=versions,
        settings={
            "seconds": args.seconds,
            "clients": args.clients,
            "cold": args.cold,
            "burst": args.burst,
            "runtime": RUNTIME,
            "memory_mb": MEMORY_MB,
            "roost_memory_budget_mb": args.memory_budget_mb,
            "wrk": "-t 1 --timeout 10s --latency; untimed 1 s runs before each measured run "
            "until the number of environments stops changing",
        },
    )


def print_header(report: Report, args: argparse.Namespace, peer_versions: dict[str, str]) -> None:
    cores = report.machine["cpus"]
    print(
        f"# Sync invoke: Roost vs {PEER} {peer_versions['serverless-offline']} "
        f"(serverless {peer_versions['serverless']}), wrk {args.seconds:g} s per run, "
        f"clients {' '.join(map(str, args.clients))}\n"
        f"machine: {cores} cores ({report.machine['cpu_model']}), "
        f"{report.machine['memory_gib']} GiB, {report.machine['os']}\n"
        f"note: wrk, the server under test and its environments share the {cores} cores; "
        "one server is measured at a time, the other sits idle.",
        flush=True,
    )


def measure_warm(
    args: argparse.Namespace,
    report: Report,
    wrk: str,
    py_spy: str | None,
    roost: Roost,
    targets: Sequence[Target],
    code: bytes,
    workdir: Path,
) -> None:
    """The warm function in both servers, the warm runs and the profile."""
    roost.create(WARM_NAME, code)
    roost.wait_active(WARM_NAME)
    for target in targets:
        _, status, body = invoke_once(target.url(WARM_NAME))
        check_reply(f"{target.label} warm-up", status, body)
    report.versions["roost isolation"] = roost.sandboxed()

    for clients in args.clients:
        for target in targets:
            print(f"  warm, {clients} client(s), {target.label} ...", flush=True)
            report.warm.append(warm_run(wrk, target, WARM_NAME, clients, args.seconds, workdir))
    if py_spy:
        print("  py-spy on the Roost server, 8 clients (untimed) ...", flush=True)
        spy_seconds = max(int(args.seconds), 3)
        out = workdir / "roost-profile.txt"
        folded = profile(py_spy, wrk, roost, WARM_NAME, spy_seconds, out, workdir)
        if folded is not None:
            report.profile = summarize_profile(folded, spy_seconds)


def measure_fresh(
    report: Report,
    roost: Roost,
    peer: ServerlessOffline,
    code: bytes,
    cold_names: Sequence[str],
    burst_names: Sequence[str],
) -> None:
    """Cold starts, environments/s, then the memory of every idle environment."""
    print(f"  cold starts, {len(cold_names)} each ...", flush=True)

    def prepare_roost(name: str) -> None:
        roost.create(name, code)
        roost.wait_active(name)

    roost_cold, roost_total = cold_starts(roost, cold_names, prepare_roost)
    report.cold.append(roost_cold)
    report.create_to_response = roost_total
    report.cold.append(cold_starts(peer, cold_names, lambda name: None)[0])

    print(f"  environments/s, {len(burst_names)} fresh functions at once ...", flush=True)
    for name in burst_names:
        roost.create(name, code)
    for name in burst_names:
        roost.wait_active(name)
    for target in (roost, peer):
        report.bursts.append(burst(target, burst_names))

    time.sleep(2.0)  # Let every environment go idle.
    for target in (roost, peer):
        report.memory.append(memory(target))


def roost_installed() -> bool:
    try:
        importlib.metadata.version("roost")
    except importlib.metadata.PackageNotFoundError:
        print(
            f"roost is not installed for {sys.executable}: pip install -e '.[test]'",
            file=sys.stderr,
        )
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)
    if not roost_installed():
        return 2
    wrk = ensure_wrk()
    peer_versions = ensure_peer(args.cache_dir)
    py_spy = None if args.no_profile else ensure_py_spy()

    if args.wait_quiet > 0:
        busy = wait_quiet(args.wait_quiet)
        print(f"other processes before the run: {busy:.2f} cores busy", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="roost-bench-invoke-"))
    cold_names = [f"cold{i:03d}" for i in range(args.cold)]
    burst_names = [f"burst{i:03d}" for i in range(args.burst)]
    roost = Roost(workdir, free_port(), args.memory_budget_mb)
    peer = ServerlessOffline(
        workdir, free_port(), args.cache_dir, [WARM_NAME, *cold_names, *burst_names]
    )
    targets: list[Target] = [roost, peer]
    report = new_report(args, argv, tool_versions(wrk, peer_versions))
    print_header(report, args, peer_versions)
    code = make_zip("handler.py", HANDLER_SOURCE)
    try:
        with running(targets):
            print(f"{PEER} up on :{peer.port}, Roost up on :{roost.port}", flush=True)
            measure_warm(args, report, wrk, py_spy, roost, targets, code, workdir)
            measure_fresh(report, roost, peer, code, cold_names, burst_names)
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        return 130
    except Exception:
        for target in targets:
            print(f"--- {target.label} log tail ---\n{target.log_tail()}", file=sys.stderr)
        raise
    finally:
        if args.keep_logs:
            print(f"logs and data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    failed = print_report(report, args.cold)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
        print(f"JSON results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
