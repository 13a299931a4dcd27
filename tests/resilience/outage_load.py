"""The load of the dependency-outage scenario (issue 7, scenario a), shared by
``tests/resilience/test_outage.py`` and ``bench/resilience.py``.

- ``AsyncSenders``: a few threads, each sending async invokes at a steady rate
  (open loop: an event is due every ``1/rate_per_s`` whatever happens). A send
  the node refuses is retried, oldest first, after a short pause, the way an SDK
  caller retries a 5xx; each event's first try and acknowledgement (202) are
  kept, so the test knows exactly which events Roost promised to run.
- ``SyncProbe``: one thread of sync invokes at a steady rate, its latencies.
- ``MetricsSampler``: the async queues' depth and oldest age from ``/metrics``.

Every caller is a boto3 client without retries: one call, one HTTP request.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from roost.observability.prometheus import parse

# A refused send is tried again after this pause (an SDK's first backoff step).
RETRY_PAUSE_S = 0.2


@dataclass
class SentEvent:
    """One event as its sender saw it (Unix seconds)."""

    event_id: str
    due_s: float
    first_try_s: float | None = None
    acked_s: float | None = None


@dataclass(frozen=True)
class Attempt:
    """One send or invoke: when it ended, whether it succeeded, its error code."""

    at_s: float
    ok: bool
    code: str = ""
    latency_s: float = 0.0


@dataclass
class _Log:
    """What a load thread saw, guarded by one lock."""

    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)

    def between(self, start_s: float, end_s: float) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if start_s <= a.at_s < end_s]


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


class AsyncSenders:
    """``senders`` threads sending async invokes of ``function`` at ``rate_per_s`` each."""

    def __init__(
        self,
        make_client: Callable[[], Any],
        function: str,
        payload: dict[str, Any],
        *,
        senders: int = 3,
        rate_per_s: float = 10.0,
    ) -> None:
        # Made here, in one thread: boto3's default session is not thread-safe.
        self._clients = [make_client() for _ in range(senders)]
        self._function = function
        self._payload = payload
        self._interval_s = 1.0 / rate_per_s
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._flush_until = float("inf")
        self.events: list[SentEvent] = []
        self.log = _Log()
        self._threads = [
            threading.Thread(target=self._run, args=(client,), name=f"sender-{n}", daemon=True)
            for n, client in enumerate(self._clients)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, flush_s: float = 30.0) -> None:
        """Stop making new events; the pending ones are still sent for up to ``flush_s``."""
        self._flush_until = time.time() + flush_s
        self._stop.set()
        for thread in self._threads:
            thread.join(flush_s + 15)

    def acked(self) -> list[SentEvent]:
        with self.log.lock:
            return [e for e in self.events if e.acked_s is not None]

    def pending(self) -> int:
        """Events due but not yet acknowledged (waiting at the senders)."""
        with self.log.lock:
            return sum(1 for e in self.events if e.acked_s is None)

    def _new(self, due_s: float) -> SentEvent:
        event = SentEvent(f"e{next(self._ids)}", due_s)
        with self.log.lock:
            self.events.append(event)
        return event

    def _run(self, client: Any) -> None:
        pending: list[SentEvent] = []
        next_due_s = time.time()
        while True:
            now_s = time.time()
            while not self._stop.is_set() and next_due_s <= now_s:
                pending.append(self._new(next_due_s))
                next_due_s += self._interval_s
            if self._stop.is_set() and (not pending or now_s > self._flush_until):
                return
            if not pending:
                time.sleep(max(0.0, min(next_due_s - now_s, 0.1)))
                continue
            if self._send(client, pending[0]):
                pending.pop(0)
            else:
                time.sleep(RETRY_PAUSE_S)

    def _send(self, client: Any, event: SentEvent) -> bool:
        started_s = time.time()
        if event.first_try_s is None:
            event.first_try_s = started_s
        body = json.dumps({**self._payload, "id": event.event_id})
        try:
            client.invoke(FunctionName=self._function, InvocationType="Event", Payload=body)
        except (ClientError, BotoCoreError) as error:
            self.log.add(Attempt(time.time(), False, _code(error), time.time() - started_s))
            return False
        event.acked_s = time.time()
        self.log.add(Attempt(event.acked_s, True, latency_s=event.acked_s - started_s))
        return True


class SyncProbe:
    """One thread invoking ``function`` synchronously every ``interval_s``."""

    def __init__(self, client: Any, function: str, interval_s: float = 0.1) -> None:
        self._client = client
        self._function = function
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.log = _Log()
        self._thread = threading.Thread(target=self._run, name="sync-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            started_s = time.time()
            try:
                self._client.invoke(FunctionName=self._function, Payload=b"{}")
            except (ClientError, BotoCoreError) as error:
                self.log.add(Attempt(time.time(), False, _code(error), time.time() - started_s))
                continue
            self.log.add(Attempt(time.time(), True, latency_s=time.time() - started_s))


@dataclass(frozen=True)
class QueueSample:
    """The async queues at one moment: messages in them, the oldest's age, store up."""

    at_s: float
    depth: float
    oldest_age_s: float
    store_up: bool


class MetricsSampler:
    """Reads ``/metrics`` every ``interval_s``: the async queues' total depth and oldest age."""

    def __init__(self, endpoint: str, interval_s: float = 0.5) -> None:
        self._url = endpoint + "/metrics"
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.samples: list[QueueSample] = []
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                with urllib.request.urlopen(self._url, timeout=5) as reply:
                    samples = parse(reply.read().decode())
            except OSError:
                continue
            depth = sum(s.value for s in samples if s.name == "roost_async_queue_depth")
            ages = [s.value for s in samples if s.name == "roost_async_queue_oldest_age_seconds"]
            up = all(s.value == 1 for s in samples if s.name == "roost_async_queue_store_up")
            self.samples.append(QueueSample(time.time(), depth, max(ages, default=0.0), up))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def error_rate(attempts: list[Attempt]) -> float:
    """The failed share of ``attempts`` (0 for none)."""
    return sum(1 for a in attempts if not a.ok) / len(attempts) if attempts else 0.0
