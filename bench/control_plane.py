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
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    NOISY_CORES,
    ROOST_ROLE,
    free_port,
    machine,
    machine_busy_seconds,
    make_client,
    make_zip,
    package_versions,
    percentile,
    proc_info,
    raise_interrupt,
    running,
)

BASELINE_REQUIREMENT = "moto[server,awslambda]>=5,<6"
PAGE_SIZE = 50
HANDLER_SOURCE = "def handler(event, context):\n    return event\n"

# --------------------------------------------------------------------------------------------
# Baseline installation and server processes
# --------------------------------------------------------------------------------------------


def ensure_baseline() -> str:
    """Install moto's standalone server into this environment if needed; its version."""
    needed = ("moto", "moto.server", "flask", "flask_cors", "docker")
    if any(_missing(module) for module in needed):
        print(f"installing baseline: pip install '{BASELINE_REQUIREMENT}'", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", BASELINE_REQUIREMENT],
            check=True,
        )
        importlib.invalidate_caches()
    return importlib.metadata.version("moto")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


@dataclass
class Server:
    """A server process on 127.0.0.1, its log in ``workdir``."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start and wait until it answers HTTP."""
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches only the benchmark, which then
            # stops the servers itself.
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        url = self.ready_url or self.endpoint + "/"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # It answers HTTP, even if not 200 for this path.
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not come up in {timeout_s} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        assert self.process is not None
        return proc_info(self.process.pid).cpu_s

    def log_tail(self, chars: int = 1500) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]


# --------------------------------------------------------------------------------------------
# Clients and operations
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A server under test, as the benchmark sees it."""

    label: str
    server: Server
    role_arn: str = ""


def moto_role_arn(endpoint: str) -> str:
    """moto checks that the role exists in its account: create it once."""
    iam = make_client(endpoint, "iam")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps(policy))
    return str(role["Role"]["Arn"])


@dataclass(frozen=True)
class Shape:
    """What one op did on the wire: HTTP requests sent and functions received."""

    requests: int = 1
    items: int = 1


Operation = Callable[[Any, random.Random], Shape]
ONE = Shape()


def op_get_function(names: Sequence[str]) -> Operation:
    def call(client: Any, rng: random.Random) -> Shape:
        name = rng.choice(names)
        reply = client.get_function(FunctionName=name)
        if reply["Configuration"]["FunctionName"] != name:
            raise AssertionError(f"GetFunction returned {reply['Configuration']['FunctionName']}")
        return ONE

    return call


def op_get_configuration(names: Sequence[str]) -> Operation:
    def call(client: Any, rng: random.Random) -> Shape:
        name = rng.choice(names)
        reply = client.get_function_configuration(FunctionName=name)
        if reply["FunctionName"] != name:
            raise AssertionError(f"GetFunctionConfiguration returned {reply['FunctionName']}")
        return ONE

    return call


def op_list_first_page(client: Any, rng: random.Random) -> Shape:
    """One ListFunctions with MaxItems (a server may ignore it: moto 5 does)."""
    reply = client.list_functions(MaxItems=PAGE_SIZE)
    items = len(reply["Functions"])
    if items < PAGE_SIZE:
        raise AssertionError(f"first page has {items} functions")
    return Shape(1, items)


def op_list_all(expected: int) -> Operation:
    """Every function, following NextMarker until there is none."""

    def call(client: Any, rng: random.Random) -> Shape:
        seen = requests = 0
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"MaxItems": PAGE_SIZE}
            if marker:
                kwargs["Marker"] = marker
            reply = client.list_functions(**kwargs)
            requests += 1
            seen += len(reply["Functions"])
            marker = reply.get("NextMarker")
            if not marker:
                break
        if seen != expected:
            raise AssertionError(f"full list walked {seen} functions, expected {expected}")
        return Shape(requests, seen)

    return call


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


@dataclass
class CpuMeter:
    """CPU time of the server, of this client process and of everything else, over a span."""

    server: Server
    server_s: float = 0.0
    client_s: float = 0.0
    machine_s: float = 0.0

    def __post_init__(self) -> None:
        self.server_s = self.server.cpu_seconds()
        self.client_s = time.process_time()
        self.machine_s = machine_busy_seconds()

    def read(self) -> tuple[float, float, float]:
        """(server, client, other processes) CPU seconds since the meter was made."""
        server = self.server.cpu_seconds() - self.server_s
        client = time.process_time() - self.client_s
        machine = machine_busy_seconds() - self.machine_s
        return server, client, max(0.0, machine - server - client)


MAX_ERRORS = 100


@dataclass
class Measurement:
    """One operation against one server at one concurrency."""

    server: str
    operation: str
    threads: int
    calls: int
    errors: int
    elapsed_s: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_call: float
    client_cpu_ms_per_call: float
    other_processes_cores: float
    http_requests_per_call: float = 1.0
    functions_per_call: float = 1.0
    first_error: str | None = None


@dataclass
class Sample:
    """Raw figures of one timed span against one server."""

    latencies: list[float] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    other_cpu_s: float = 0.0


def summarize(
    target: Target, operation: str, threads: int, samples: Sequence[Sample]
) -> Measurement:
    """One row from the samples (rounds) of one operation against one server."""
    latencies = sorted(value for sample in samples for value in sample.latencies)
    errors = [error for sample in samples for error in sample.errors]
    elapsed = sum(sample.elapsed_s for sample in samples)
    calls = len(latencies)

    def per_call_ms(seconds: float) -> float:
        return round(seconds * 1000 / calls, 3) if calls else 0.0

    return Measurement(
        server=target.label,
        operation=operation,
        threads=threads,
        calls=calls,
        errors=len(errors),
        elapsed_s=round(elapsed, 3),
        calls_per_s=round(calls / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=round(percentile(latencies, 50) * 1000, 2),
        p99_ms=round(percentile(latencies, 99) * 1000, 2),
        server_cpu_ms_per_call=per_call_ms(sum(sample.server_cpu_s for sample in samples)),
        client_cpu_ms_per_call=per_call_ms(sum(sample.client_cpu_s for sample in samples)),
        other_processes_cores=(
            round(sum(sample.other_cpu_s for sample in samples) / elapsed, 2) if elapsed else 0.0
        ),
        http_requests_per_call=(
            round(sum(s.requests for sample in samples for s in sample.shapes) / calls, 2)
            if calls
            else 0.0
        ),
        functions_per_call=(
            round(sum(s.items for sample in samples for s in sample.shapes) / calls, 1)
            if calls
            else 0.0
        ),
        first_error=errors[0] if errors else None,
    )


def run_for(target: Target, call: Operation, threads: int, seconds: float, seed: int) -> Sample:
    """Run ``call`` from ``threads`` threads for ``seconds``; every call is timed."""
    clients = [make_client(target.server.endpoint) for _ in range(threads)]
    rngs = [random.Random(seed * 1000 + i) for i in range(threads)]
    for client, rng in zip(clients, rngs, strict=True):
        call(client, rng)  # Warm-up: connection, endpoint resolution, model loading.
    per_thread: list[list[float]] = [[] for _ in range(threads)]
    shapes: list[list[Shape]] = [[] for _ in range(threads)]
    errors: list[str] = []
    errors_lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()
    deadline = [0.0]

    def worker(index: int) -> None:
        client, rng = clients[index], rngs[index]
        latencies, seen = per_thread[index], shapes[index]
        barrier.wait()
        end = deadline[0]
        clock = time.perf_counter
        while not stop.is_set():
            start = clock()
            if start >= end:
                break
            try:
                shape = call(client, rng)
            except Exception as error:
                with errors_lock:
                    errors.append(f"{type(error).__name__}: {error}")
                    if len(errors) >= MAX_ERRORS:
                        stop.set()
                continue
            latencies.append(clock() - start)
            seen.append(shape)

    workers = [
        threading.Thread(target=worker, args=(i,), daemon=True, name=f"bench-{i}")
        for i in range(threads)
    ]
    for thread in workers:
        thread.start()
    meter = CpuMeter(target.server)
    began = time.perf_counter()
    deadline[0] = began + seconds
    barrier.wait()
    try:
        for thread in workers:
            thread.join()
    except BaseException:
        stop.set()
        raise
    elapsed = time.perf_counter() - began
    server_cpu, client_cpu, other_cpu = meter.read()
    for client in clients:
        client.close()
    return Sample(
        [value for values in per_thread for value in values],
        [shape for values in shapes for shape in values],
        errors,
        elapsed,
        server_cpu,
        client_cpu,
        other_cpu,
    )


def _create(client: Any, target: Target, name: str, code: bytes) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=target.role_arn,
        Handler="app.handler",
        Code={"ZipFile": code},
        Description="bench/control_plane.py",
        Timeout=3,
        MemorySize=128,
    )


def warm_up(target: Target, code: bytes) -> None:
    """One untimed create and delete, so that lazy imports and caches are not timed."""
    client = make_client(target.server.endpoint)
    _create(client, target, "bench-warm-up", code)
    client.get_function(FunctionName="bench-warm-up")
    client.delete_function(FunctionName="bench-warm-up")
    client.close()


def create_functions(target: Target, names: Sequence[str], code: bytes) -> Sample:
    """Create the functions with one client, one after the other, timing each call."""
    client = make_client(target.server.endpoint)
    latencies: list[float] = []
    meter = CpuMeter(target.server)
    began = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        _create(client, target, name, code)
        latencies.append(time.perf_counter() - start)
    elapsed = time.perf_counter() - began
    server_cpu, client_cpu, other_cpu = meter.read()
    client.close()
    return Sample(latencies, [ONE] * len(latencies), [], elapsed, server_cpu, client_cpu, other_cpu)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def versions(moto_version: str) -> dict[str, str]:
    return {
        "moto": moto_version,
        **package_versions(("roost", "boto3", "botocore", "uvicorn", "werkzeug")),
    }


def _ratio(roost: float, moto: float) -> str:
    return f"{roost / moto:.2f}x" if moto > 0 else "n/a"


def pairs(results: Sequence[Measurement]) -> Iterator[tuple[str, int, Measurement, Measurement]]:
    """(operation, threads, Roost's, moto's) in the order they were measured."""
    by_key = {(m.server, m.operation, m.threads): m for m in results}
    done: set[tuple[str, int]] = set()
    for m in results:
        key = (m.operation, m.threads)
        roost, moto = by_key.get(("Roost", *key)), by_key.get(("moto", *key))
        if key in done or roost is None or moto is None:
            continue
        done.add(key)
        yield m.operation, m.threads, roost, moto


def markdown_table(results: Sequence[Measurement]) -> str:
    """Roost and moto side by side, one row per operation and concurrency."""
    lines = [
        "| Operation | Threads | Roost calls/s | Roost p50 ms | Roost p99 ms "
        "| moto calls/s | moto p50 ms | moto p99 ms | Roost/moto calls/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for operation, threads, roost, moto in pairs(results):
        lines.append(
            f"| {operation} | {threads} | {roost.calls_per_s:,.1f} | {roost.p50_ms:.2f} "
            f"| {roost.p99_ms:.2f} | {moto.calls_per_s:,.1f} | {moto.p50_ms:.2f} "
            f"| {moto.p99_ms:.2f} | {_ratio(roost.calls_per_s, moto.calls_per_s)} |"
        )
    return "\n".join(lines)


def cpu_table(results: Sequence[Measurement]) -> str:
    """CPU milliseconds per call (server process, benchmark client) and the wire shape."""
    lines = [
        "| Operation | Threads | server CPU ms/call Roost / moto "
        "| client CPU ms/call Roost / moto | HTTP requests/call Roost / moto "
        "| functions/call Roost / moto | other processes, cores busy Roost / moto |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for operation, threads, r, m in pairs(results):
        lines.append(
            f"| {operation} | {threads} "
            f"| {r.server_cpu_ms_per_call:.2f} / {m.server_cpu_ms_per_call:.2f} "
            f"| {r.client_cpu_ms_per_call:.2f} / {m.client_cpu_ms_per_call:.2f} "
            f"| {r.http_requests_per_call:g} / {m.http_requests_per_call:g} "
            f"| {r.functions_per_call:g} / {m.functions_per_call:g} "
            f"| {r.other_processes_cores:.2f} / {m.other_processes_cores:.2f} |"
        )
    return "\n".join(lines)


@dataclass
class Report:
    date: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    settings: dict[str, Any]
    results: list[Measurement] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratios_roost_over_moto"] = [
            {
                "operation": operation,
                "threads": threads,
                "calls_per_s": round(r.calls_per_s / m.calls_per_s, 3) if m.calls_per_s else None,
            }
            for operation, threads, r, m in pairs(self.results)
        ]
        return data


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)  # Even if started with SIGINT ignored.
    if _missing("roost"):
        print(
            f"roost is not installed for {sys.executable}: run `pip install -e '.[test]'` first",
            file=sys.stderr,
        )
        return 2
    moto_version = ensure_baseline()
    workdir = Path(tempfile.mkdtemp(prefix="roost-bench-"))
    roost_port, moto_port = free_port(), free_port()
    roost = Server(
        "Roost",
        [
            sys.executable,
            "-m",
            "roost",
            "up",
            "--port",
            str(roost_port),
            "--data-dir",
            str(workdir / "roost-data"),
        ],
        roost_port,
        workdir / "roost.log",
        ready_url=f"http://127.0.0.1:{roost_port}/_roost/health",
    )
    moto = Server(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        moto_port,
        workdir / "moto.log",
        ready_url=f"http://127.0.0.1:{moto_port}/moto-api/",
    )
    command = "python bench/control_plane.py " + " ".join(argv or sys.argv[1:])
    report = Report(
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
    try:
        with running([roost, moto]):
            targets = [
                Target("Roost", roost, ROOST_ROLE),
                Target("moto", moto, moto_role_arn(moto.endpoint)),
            ]
            names = [f"bench-fn-{i:04d}" for i in range(args.functions)]
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
            operations: list[tuple[str, Operation]] = [
                ("GetFunction", op_get_function(names)),
                ("GetFunctionConfiguration", op_get_configuration(names)),
                (f"ListFunctions (MaxItems={PAGE_SIZE}, first page)", op_list_first_page),
                (f"ListFunctions (all {args.functions}, = 1 op)", op_list_all(args.functions)),
            ]
            for threads in args.threads:
                for label, call in operations:
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
                        report.results.append(
                            summarize(target, label, threads, samples[target.label])
                        )
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

    failed = [m for m in report.results if m.errors]
    print()
    print(markdown_table(report.results))
    print()
    print(
        "Where the time goes: CPU time per call of the server process (/proc) and of this "
        "client process (process_time), and what one call moved over the wire:"
    )
    print()
    print(cpu_table(report.results))
    print()
    print(
        "calls/s = calls completed / wall time; p50/p99 = per-call latency seen by boto3. "
        "'all' follows NextMarker with MaxItems=50 until the end and counts as one op. "
        "Ratio > 1 means Roost is faster. "
        f"Client and server share the same {cores} cores."
    )
    oversized = {
        m.server
        for m in report.results
        if "first page" in m.operation and m.functions_per_call > PAGE_SIZE
    }
    for label in sorted(oversized):
        print(
            f"NOTE: {label} ignored MaxItems={PAGE_SIZE} (see functions/call): its first-page "
            "and full-walk rows do different work from the other server's."
        )
    noisy = [m for m in report.results if m.other_processes_cores > NOISY_CORES]
    if noisy:
        print(
            f"NOTE: other processes kept more than {NOISY_CORES} cores busy during "
            f"{len(noisy)} of {len(report.results)} measurements (last column above): "
            "those figures are low; run again on a quiet machine."
        )
    for m in failed:
        print(
            f"WARNING: {m.server} {m.operation} x{m.threads}: {m.errors} errors, "
            f"first: {m.first_error}",
            file=sys.stderr,
        )
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        print(f"JSON results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
