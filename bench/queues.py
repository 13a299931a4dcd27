"""Internal queues: durable enqueues per second with group commit, against one fsync per send.

One command (see ``bench/README.md``)::

    bench/run queues [--seconds 5] [--senders 1 8 64] [--rounds 2] [--json out.json]

Both sides are ``SqliteQueueStore`` on the same settings (WAL, ``synchronous=FULL``, a fresh
file in ``--dir``, on disk, not tmpfs): Roost's group commit (whatever arrives while a
transaction commits goes into the next one) against the same store with
``max_batch_ops=1``, one transaction and one fsync per send, the baseline. For each number of
concurrent senders (coroutines on one uvloop, each sending a ``--body-bytes`` body and
waiting for its acknowledgement before the next) it measures sends acknowledged per second
and the ack latency (p50, p99), alternating the two sides ``--rounds`` times so that other
load on the machine lands on both, and prints a markdown table with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, machine_busy_seconds, percentile

from roost.store.sqlite import SqliteQueueStore
from roost.store.sqlite.group_commit import DEFAULT_MAX_BATCH_OPS

QUEUE = "async-0"
SIDES = {"group commit": DEFAULT_MAX_BATCH_OPS, "one transaction per send": 1}


@dataclass
class Run:
    """One side at one concurrency, summed over its rounds."""

    side: str
    senders: int
    seconds: float = 0.0
    sends: int = 0
    transactions: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    other_cores: list[float] = field(default_factory=list)

    @property
    def sends_per_s(self) -> float:
        return self.sends / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    def summary(self) -> dict[str, float | int | str]:
        return {
            "side": self.side,
            "senders": self.senders,
            "sends_per_s": round(self.sends_per_s, 1),
            "ack_p50_ms": round(self.p(50), 3),
            "ack_p99_ms": round(self.p(99), 3),
            "sends_per_transaction": round(self.sends / max(self.transactions, 1), 2),
            "other_cores": round(sum(self.other_cores) / max(len(self.other_cores), 1), 2),
        }


async def measure(
    path: Path, max_batch_ops: int, senders: int, seconds: float, body: bytes, run: Run
) -> None:
    """Open a fresh store at ``path``, send from ``senders`` coroutines for ``seconds``."""
    store = await SqliteQueueStore.open(path, max_batch_ops=max_batch_ops)
    try:
        await store.send(QUEUE, body)  # open the file and warm the statement cache
        before_tx = store.stats.transactions
        stop_at = time.perf_counter() + seconds

        async def sender() -> None:
            while (started := time.perf_counter()) < stop_at:
                await store.send(QUEUE, body)
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
                run.sends += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        run.seconds += time.perf_counter() - started
        run.transactions += store.stats.transactions - before_tx
    finally:
        await store.close()


def own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def run_all(args: argparse.Namespace, directory: Path) -> list[Run]:
    import uvloop

    body = os.urandom(args.body_bytes)
    runs = {(side, n): Run(side, n) for n in args.senders for side in SIDES}
    for round_no in range(args.rounds):
        for senders in args.senders:
            for side, max_batch_ops in SIDES.items():
                path = directory / f"queues-{round_no}-{senders}-{max_batch_ops}.db"
                run = runs[(side, senders)]
                busy, cpu = machine_busy_seconds(), own_cpu_s()
                clock = time.monotonic()
                uvloop.run(measure(path, max_batch_ops, senders, args.seconds, body, run))
                elapsed = time.monotonic() - clock
                other = (machine_busy_seconds() - busy - (own_cpu_s() - cpu)) / elapsed
                run.other_cores.append(max(other, 0.0))
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        Path(f"{path}{suffix}").unlink()
    return list(runs.values())


def print_table(runs: Sequence[Run]) -> None:
    by_key = {(run.side, run.senders): run for run in runs}
    group, single = SIDES
    print(
        "| Senders | group commit sends/s | ack p50 ms | ack p99 ms | sends per transaction "
        "| one tx per send sends/s | ack p50 ms | ack p99 ms | group/single sends/s "
        "| other processes, cores busy |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for senders in sorted({run.senders for run in runs}):
        g, s = by_key[(group, senders)].summary(), by_key[(single, senders)].summary()
        ratio = float(g["sends_per_s"]) / max(float(s["sends_per_s"]), 1e-9)
        print(
            f"| {senders} | {g['sends_per_s']:,.0f} | {g['ack_p50_ms']:.2f} | "
            f"{g['ack_p99_ms']:.2f} | {g['sends_per_transaction']} | {s['sends_per_s']:,.0f} | "
            f"{s['ack_p50_ms']:.2f} | {s['ack_p99_ms']:.2f} | {ratio:.1f}x | "
            f"{g['other_cores']} / {s['other_cores']} |"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration per measurement")
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two sides")
    parser.add_argument("--body-bytes", type=int, default=256, help="size of each message")
    parser.add_argument(
        "--dir", type=Path, default=Path("/var/tmp"), help="where the database files go (disk)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    seconds_per_side = args.seconds * args.rounds
    print(f"# Internal queues: SqliteQueueStore.send, {args.body_bytes}-byte bodies")
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; {seconds_per_side:g} s per cell "
        f"({args.rounds} rounds of {args.seconds:g} s); WAL, synchronous=FULL; files in "
        f"{args.dir}; machine: {machine()}\n"
    )
    with tempfile.TemporaryDirectory(prefix="roost-bench-queues-", dir=args.dir) as directory:
        runs = run_all(args, Path(directory))
    print_table(runs)
    if args.json:
        report = {"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine()}
        report["runs"] = [run.summary() for run in runs]
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
