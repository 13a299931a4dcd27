"""Control-plane calls per second: Roost against moto's standalone server, both with boto3.

One command (see ``bench/README.md``)::

    .venv/bin/python bench/control_plane.py [--seconds 10] [--threads 1 8] [--json out.json]

It installs the baseline (``moto[server,awslambda]``) into the running interpreter's
environment if it is missing, starts ``python -m roost up`` and ``python -m moto.server`` on
free loopback ports, creates the same functions in each (timed: CreateFunction/s), then runs
each operation for a fixed time with N client threads (one boto3 client per thread, retries
off) against one server at a time, in rounds that alternate between the two servers, and
prints a markdown table with calls/s, p50/p99 latency and the Roost/moto ratio from this same
run. Both servers are stopped at the end, on errors, on Ctrl-C and on SIGTERM.

The benchmark client and the server under test share the machine's cores: the numbers are
end-to-end figures for boto3 on this machine, not the server's capacity alone. The server's
own CPU time per call (from ``/proc``) is reported next to them to show where time goes.

This is the entry point (arguments, the order of the steps); the servers live in
``control_plane_servers``, the timed operations in ``control_plane_measure`` and the tables
in ``control_plane_report``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOST_ROLE, machine, make_zip, raise_interrupt, running
from control_plane_measure import (
    HANDLER_SOURCE,
    PAGE_SIZE,
    Sample,
    create_functions,
    operations,
    run_for,
    summarize,
    warm_up,
)
from control_plane_report import Report, print_report, versions
from control_plane_servers import (
    Target,
    ensure_baseline,
    missing,
    moto_role_arn,
    moto_server,
    roost_server,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Control-plane calls/s of Roost against moto's server, with boto3."
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration per measurement")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 8],
        help="concurrent client threads, one boto3 client each (default: 1 8)",
    )
    parser.add_argument("--functions", type=int, default=1000, help="functions to create")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="split each measurement into this many rounds alternating between the servers",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random function picks")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' data and logs; print where"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.functions < PAGE_SIZE:
        parser.error(f"--functions must be at least {PAGE_SIZE} (one full first page)")
    return args


def roost_installed() -> bool:
    if missing("roost"):
        print(
            f"roost is not installed for {sys.executable}: run `pip install -e '.[test]'` first",
            file=sys.stderr,
        )
        return False
    return True


def new_report(args: argparse.Namespace, argv: Sequence[str] | None, moto_version: str) -> Report:
    """An empty report: when, the command, the machine, the versions and the settings."""
    command = "python bench/control_plane.py " + " ".join(argv or sys.argv[1:])
    return Report(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command.strip(),
        machine=machine(),
        versions=versions(moto_version),
        settings={
            "seconds": args.seconds,
            "threads": args.threads,
            "functions": args.functions,
            "page_size": PAGE_SIZE,
            "rounds": args.rounds,
            "seed": args.seed,
        },
    )


def print_header(report: Report, args: argparse.Namespace, moto_version: str) -> None:
    cores = report.machine["cpus"]
    print(
        f"# Control plane: Roost vs moto {moto_version} ({args.functions} functions, "
        f"{args.seconds:g} s per measurement in {args.rounds} alternating rounds, "
        f"threads {' '.join(map(str, args.threads))})\n"
        f"machine: {cores} cores ({report.machine['cpu_model']}), "
        f"{report.machine['memory_gib']} GiB, {report.machine['os']}, "
        f"Python {report.machine['python']}\n"
        f"note: the boto3 client threads run on the same {cores} cores as the server under "
        "test (one server is measured at a time; the other sits idle), and share one GIL.",
        flush=True,
    )


def measure_create(
    args: argparse.Namespace, report: Report, targets: Sequence[Target], names: Sequence[str]
) -> None:
    """Create the functions in each server, timed: the CreateFunction rows."""
    code = make_zip("app.py", HANDLER_SOURCE)
    # Rounds alternate between the servers, so that load from other processes on
    # the machine spreads over both instead of landing on one.
    rounds = max(1, min(args.rounds, len(names)))
    chunks = [names[i::rounds] for i in range(rounds)]
    created: dict[str, list[Sample]] = {t.label: [] for t in targets}
    for target in targets:
        warm_up(target, code)
    print(f"creating {len(names)} functions in each, {rounds} rounds ...", flush=True)
    for chunk in chunks:
        for target in targets:
            created[target.label].append(create_functions(target, chunk, code))
    for target in targets:
        report.results.append(summarize(target, "CreateFunction", 1, created[target.label]))


def measure_reads(
    args: argparse.Namespace, report: Report, targets: Sequence[Target], names: Sequence[str]
) -> None:
    """Each read operation at each concurrency, in rounds alternating between the servers."""
    timed = operations(names)
    for threads in args.threads:
        for label, call in timed:
            print(f"  {label}, {threads} thread(s) ...", flush=True)
            samples: dict[str, list[Sample]] = {t.label: [] for t in targets}
            for round_ in range(args.rounds):
                for target in targets:
                    samples[target.label].append(
                        run_for(
                            target,
                            call,
                            threads,
                            args.seconds / args.rounds,
                            args.seed * 100 + round_,
                        )
                    )
            for target in targets:
                report.results.append(summarize(target, label, threads, samples[target.label]))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)  # Even if started with SIGINT ignored.
    if not roost_installed():
        return 2
    moto_version = ensure_baseline()
    workdir = Path(tempfile.mkdtemp(prefix="roost-bench-"))
    roost, moto = roost_server(workdir), moto_server(workdir)
    report = new_report(args, argv, moto_version)
    print_header(report, args, moto_version)
    try:
        with running([roost, moto]):
            targets = [
                Target("Roost", roost, ROOST_ROLE),
                Target("moto", moto, moto_role_arn(moto.endpoint)),
            ]
            names = [f"bench-fn-{i:04d}" for i in range(args.functions)]
            measure_create(args, report, targets, names)
            measure_reads(args, report, targets, names)
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        return 130
    except Exception:
        for server in (roost, moto):
            print(f"--- {server.name} log tail ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        if args.keep_logs:
            print(f"server data and logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    failed = print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        print(f"JSON results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
