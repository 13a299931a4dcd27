"""The control-plane benchmark's timed operations: the boto3 calls it times, the CPU meter,
timed spans from N client threads, the timed CreateFunction calls, and one row of results
from the rounds of one operation against one server."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common import machine_busy_seconds, make_client, percentile
from control_plane_servers import Server, Target

PAGE_SIZE = 50
HANDLER_SOURCE = "def handler(event, context):\n    return event\n"
MAX_ERRORS = 100

# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


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


def operations(names: Sequence[str]) -> list[tuple[str, Operation]]:
    """The timed read operations, labelled as in the tables, over the functions ``names``."""
    return [
        ("GetFunction", op_get_function(names)),
        ("GetFunctionConfiguration", op_get_configuration(names)),
        (f"ListFunctions (MaxItems={PAGE_SIZE}, first page)", op_list_first_page),
        (f"ListFunctions (all {len(names)}, = 1 op)", op_list_all(len(names))),
    ]


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


class Workers:
    """Threads that each call an operation with their own client until a shared deadline,
    timing every call; they start together when ``release`` sets the deadline."""

    def __init__(self, call: Operation, clients: Sequence[Any], rngs: Sequence[random.Random]):
        self.call = call
        self.clients, self.rngs = clients, rngs
        self.latencies: list[list[float]] = [[] for _ in clients]
        self.shapes: list[list[Shape]] = [[] for _ in clients]
        self.errors: list[str] = []
        self.errors_lock = threading.Lock()
        self.barrier = threading.Barrier(len(clients) + 1)
        self.stop = threading.Event()
        self.deadline = 0.0
        self.threads = [
            threading.Thread(target=self.work, args=(i,), daemon=True, name=f"bench-{i}")
            for i in range(len(clients))
        ]

    def work(self, index: int) -> None:
        client, rng = self.clients[index], self.rngs[index]
        latencies, seen = self.latencies[index], self.shapes[index]
        self.barrier.wait()
        end = self.deadline
        clock = time.perf_counter
        while not self.stop.is_set():
            start = clock()
            if start >= end:
                break
            try:
                shape = self.call(client, rng)
            except Exception as error:
                with self.errors_lock:
                    self.errors.append(f"{type(error).__name__}: {error}")
                    if len(self.errors) >= MAX_ERRORS:
                        self.stop.set()
                continue
            latencies.append(clock() - start)
            seen.append(shape)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def release(self, deadline: float) -> None:
        """Let the threads run until ``deadline`` (perf_counter), and wait for them."""
        self.deadline = deadline
        self.barrier.wait()
        try:
            for thread in self.threads:
                thread.join()
        except BaseException:
            self.stop.set()
            raise


def run_for(target: Target, call: Operation, threads: int, seconds: float, seed: int) -> Sample:
    """Run ``call`` from ``threads`` threads for ``seconds``; every call is timed."""
    clients = [make_client(target.server.endpoint) for _ in range(threads)]
    rngs = [random.Random(seed * 1000 + i) for i in range(threads)]
    for client, rng in zip(clients, rngs, strict=True):
        call(client, rng)  # Warm-up: connection, endpoint resolution, model loading.
    workers = Workers(call, clients, rngs)
    workers.start()
    meter = CpuMeter(target.server)
    began = time.perf_counter()
    workers.release(began + seconds)
    elapsed = time.perf_counter() - began
    server_cpu, client_cpu, other_cpu = meter.read()
    for client in clients:
        client.close()
    return Sample(
        [value for values in workers.latencies for value in values],
        [shape for values in workers.shapes for shape in values],
        workers.errors,
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
