"""Cold starts and environments per second: first invokes of never-invoked functions, one
after the other (cold starts) and all at once (environments/s)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common import percentile
from invoke_proc import processes
from invoke_targets import PAYLOAD, Target
from invoke_wrk import check_reply, invoke_once, signed_headers


@dataclass
class Latencies:
    server: str
    what: str
    samples_ms: list[float]

    @property
    def p50_ms(self) -> float:
        return round(percentile(sorted(self.samples_ms), 50), 2)

    @property
    def p99_ms(self) -> float:
        return round(percentile(sorted(self.samples_ms), 99), 2)


def cold_starts(
    target: Target, names: Sequence[str], prepare: Callable[[str], None]
) -> tuple[Latencies, Latencies]:
    """First invoke of each fresh function, one after the other.

    Returns the invokes alone (``prepare``, signing and connecting untimed) and
    ``prepare`` through the response."""
    samples, totals = [], []
    for name in names:
        began = time.perf_counter()
        prepare(name)
        elapsed, status, body = invoke_once(target.url(name))
        totals.append(round((time.perf_counter() - began) * 1000, 3))
        check_reply(f"{target.label} cold {name}", status, body)
        samples.append(round(elapsed * 1000, 3))
    return (
        Latencies(target.label, "cold start", samples),
        Latencies(target.label, "prepare to first response", totals),
    )


@dataclass
class Burst:
    server: str
    functions: int
    wall_s: float
    environments_per_s: float
    p50_ms: float
    max_ms: float
    environments_after: int


Outcome = tuple[float, int, bytes] | BaseException


def _invoke_at_once(target: Target, names: Sequence[str]) -> tuple[list[Outcome], float, float]:
    """One signed Invoke of each of ``names``, one thread and connection each, released
    together by a barrier once all are connected: (outcomes, start, last response)."""
    results: list[Outcome] = [b""] * len(names)  # type: ignore[list-item]
    barrier = threading.Barrier(len(names) + 1)
    finished: list[float] = [0.0] * len(names)

    def worker(index: int, name: str) -> None:
        url = target.url(name)
        headers = signed_headers(url, PAYLOAD)
        host, port = headers["Host"].split(":")
        path = "/" + url.split("/", 3)[3]
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            connection.connect()
            barrier.wait()
            start = time.perf_counter()
            connection.request("POST", path, body=PAYLOAD, headers=headers)
            response = connection.getresponse()
            data = response.read()
            finished[index] = time.perf_counter()
            results[index] = (finished[index] - start, response.status, data)
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, n), daemon=True) for i, n in enumerate(names)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return results, began, max(finished)


def burst(target: Target, names: Sequence[str]) -> Burst:
    """First invokes of ``names`` all at once, one thread and connection each."""
    results, began, last = _invoke_at_once(target, names)
    latencies = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            raise RuntimeError(f"{target.label} burst {name}: {result!r}")
        elapsed, status, body = result
        check_reply(f"{target.label} burst {name}", status, body)
        latencies.append(elapsed * 1000)
    wall = last - began
    latencies.sort()
    return Burst(
        server=target.label,
        functions=len(names),
        wall_s=round(wall, 3),
        environments_per_s=round(len(names) / wall, 1),
        p50_ms=round(percentile(latencies, 50), 1),
        max_ms=round(latencies[-1], 1),
        environments_after=len(target.environments(processes())),
    )
