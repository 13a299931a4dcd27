"""Fault injection: make a store, an event source, a destination or a worker host
slow or failing, on purpose.

The talk's static stability and outage recovery are only real if they are
tested. A ``FaultSwitch`` is owned by one node (no global state); it holds a
``FaultPlan`` per ``FaultTarget``. ``FaultyConfigStore``, ``FaultyMappingStore``
and ``FaultyQueueStore`` wrap a real store adapter and consult the switch
before every call; the clients of the other dependencies (destination
deliveries, event source AWS clients, environment placement) take a
``FaultHook`` (``switch.hook(target)``) and await it before every call:

- ``FaultMode.OK``: pass the call through;
- ``FaultMode.SLOW``: wait ``delay_ms``, then pass it through (a hung store,
  which callers with a deadline see as unavailable);
- ``FaultMode.FAIL``: raise without touching the dependency: ``StoreUnavailable``
  for a store, ``InjectedFault`` (a ``ConnectionError``) for the others, which
  their callers treat as any failed call of that dependency.

A plan may end by itself (``for_s``): the switch reverts to ``OK`` once the
time is up, so a test (or a crashed test) cannot leave a store failing.
``close`` always passes through, so a node stops cleanly whatever the plan.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from roost.store.errors import StoreUnavailable
from roost.store.ports import (
    CommitResult,
    ConfigStore,
    EventSourceMappingStore,
    Item,
    MappingRecord,
    QueueDepth,
    QueueStore,
    ReceivedMessage,
    Write,
)

# A slow store waits at most this long per call, whatever the plan asks.
MAX_DELAY_MS = 60_000
# A plan lasts at most this long (it is a test aid, not a maintenance switch).
MAX_DURATION_S = 3_600.0


class FaultTarget(enum.StrEnum):
    """The dependencies a fault can be injected into (their wire names)."""

    CONFIG_STORE = "config-store"
    MAPPING_STORE = "mapping-store"
    QUEUE_STORE = "queue-store"
    DESTINATIONS = "destinations"
    EVENT_SOURCES = "event-sources"
    WORKER_HOST = "worker-host"

    @property
    def is_store(self) -> bool:
        """Whether the target is one of the node's stores (it fails with ``StoreUnavailable``)."""
        return self in _STORES


_STORES = frozenset({FaultTarget.CONFIG_STORE, FaultTarget.MAPPING_STORE, FaultTarget.QUEUE_STORE})

FaultHook = Callable[[], Awaitable[None]]
"""Awaited before each call to a dependency: returns, waits, or raises (``FaultSwitch.hook``)."""


class InjectedFault(ConnectionError):
    """A call to a dependency that is not a store failed because its fault plan says so.

    A ``ConnectionError``: the callers treat it as the endpoint being unreachable.
    """


class FaultMode(enum.StrEnum):
    """What a faulty store does with a call."""

    OK = "ok"
    SLOW = "slow"
    FAIL = "fail"


@dataclass(frozen=True)
class FaultPlan:
    """One target's fault: its mode, the delay of ``SLOW`` and when it ends.

    ``until_s`` is on the switch's monotonic clock; None: until changed.
    """

    mode: FaultMode = FaultMode.OK
    delay_ms: int = 0
    until_s: float | None = None

    def active(self, now_s: float) -> bool:
        """Whether the plan still applies at ``now_s``."""
        return self.mode is not FaultMode.OK and (self.until_s is None or now_s < self.until_s)


class FaultSwitch:
    """The fault plans of one node, by target; changed at run time, read per call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._plans: dict[FaultTarget, FaultPlan] = {}

    def set(
        self,
        target: FaultTarget,
        mode: FaultMode,
        *,
        delay_ms: int = 0,
        for_s: float | None = None,
    ) -> FaultPlan:
        """Make ``target`` behave as ``mode`` from now, for ``for_s`` seconds (None: until
        set again); the plan set. Raises ``ValueError`` for a delay or duration out of range.
        """
        if not 0 <= delay_ms <= MAX_DELAY_MS:
            raise ValueError(f"delay_ms must be between 0 and {MAX_DELAY_MS}")
        if for_s is not None and not 0 < for_s <= MAX_DURATION_S:
            raise ValueError(f"for_s must be above 0 and at most {MAX_DURATION_S:g}")
        until_s = None if for_s is None else self._clock() + for_s
        plan = FaultPlan(mode, delay_ms, until_s)
        self._plans[target] = plan
        return plan

    def clear(self) -> None:
        """Every target back to ``OK``."""
        self._plans.clear()

    def plan(self, target: FaultTarget) -> FaultPlan:
        """The plan applying to ``target`` now (an expired one reads as ``OK``)."""
        plan = self._plans.get(target)
        if plan is None or not plan.active(self._clock()):
            return FaultPlan()
        return plan

    def remaining_s(self, target: FaultTarget) -> float | None:
        """Seconds until ``target``'s plan ends (None: no end, or nothing active)."""
        plan = self.plan(target)
        if plan.until_s is None:
            return None
        return max(0.0, plan.until_s - self._clock())

    async def check(self, target: FaultTarget) -> None:
        """Apply ``target``'s plan to one call: return, wait, or raise (``StoreUnavailable``
        for a store, ``InjectedFault`` for another dependency).

        Safe to cancel (a cancelled wait touches nothing).
        """
        plan = self.plan(target)
        if plan.mode is FaultMode.FAIL:
            message = f"{target.value} unavailable (fault injected)"
            raise StoreUnavailable(message) if target.is_store else InjectedFault(message)
        if plan.mode is FaultMode.SLOW and plan.delay_ms > 0:
            await asyncio.sleep(plan.delay_ms / 1000)

    def hook(self, target: FaultTarget) -> FaultHook:
        """``check(target)`` as a no-argument hook, for a dependency's client to await."""
        return functools.partial(self.check, target)


_Choice = TypeVar("_Choice", FaultTarget, FaultMode)


def apply_plan(switch: FaultSwitch, document: Mapping[str, object]) -> FaultPlan:
    """Set the plan one document describes (``{"target", "mode", "delay_ms"?, "for_s"?}``,
    the body of ``POST /_roost/faults``); the plan set.

    Raises ``ValueError`` naming what is wrong: an unknown target or mode, a
    number that is not one, or a delay or duration out of range.
    """
    target = _choice(FaultTarget, document.get("target"), "target")
    mode = _choice(FaultMode, document.get("mode"), "mode")
    delay_ms = _number(document.get("delay_ms", 0), "delay_ms")
    for_s = document.get("for_s")
    return switch.set(
        target,
        mode,
        delay_ms=int(delay_ms),
        for_s=None if for_s is None else _number(for_s, "for_s"),
    )


def apply_plans_at_start(switch: FaultSwitch, text: str) -> list[FaultPlan]:
    """Set the plans of ``ROOST_FAULTS_AT_START``: one plan document, or a JSON list of
    them, in the endpoint's syntax, so a node can start with a store already failing.

    Raises ``ValueError`` for text that is not such JSON or a plan ``apply_plan`` refuses.
    """
    try:
        parsed = json.loads(text)
    except ValueError:
        raise ValueError("the fault plans must be JSON: an object or a list of objects") from None
    documents = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(document, dict) for document in documents):
        raise ValueError("the fault plans must be JSON: an object or a list of objects")
    return [apply_plan(switch, document) for document in documents]


def _choice(kind: type[_Choice], value: object, name: str) -> _Choice:
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}.") from None


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}.")
    return float(value)


class FaultyConfigStore:
    """A ``ConfigStore`` that obeys a ``FaultSwitch`` before reaching the real one."""

    def __init__(
        self,
        inner: ConfigStore,
        switch: FaultSwitch,
        target: FaultTarget = FaultTarget.CONFIG_STORE,
    ) -> None:
        self.inner = inner
        self._switch = switch
        self._target = target

    async def get(self, key: str) -> Item | None:
        await self._switch.check(self._target)
        return await self.inner.get(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[Item]:
        await self._switch.check(self._target)
        return await self.inner.list(prefix, start_after=start_after, limit=limit)

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        await self._switch.check(self._target)
        return await self.inner.commit(writes)

    async def close(self) -> None:
        await self.inner.close()


class FaultyMappingStore:
    """An ``EventSourceMappingStore`` that obeys a ``FaultSwitch`` before the real one."""

    def __init__(
        self,
        inner: EventSourceMappingStore,
        switch: FaultSwitch,
        target: FaultTarget = FaultTarget.MAPPING_STORE,
    ) -> None:
        self.inner = inner
        self._switch = switch
        self._target = target

    async def put(self, record: MappingRecord, *, expected_revision: str | None = None) -> str:
        await self._switch.check(self._target)
        return await self.inner.put(record, expected_revision=expected_revision)

    async def get(self, uuid: str) -> MappingRecord | None:
        await self._switch.check(self._target)
        return await self.inner.get(uuid)

    async def list(
        self,
        *,
        account_id: str | None = None,
        function_arn: str | None = None,
        source_key: str | None = None,
        start_after: str | None = None,
        limit: int | None = None,
    ) -> list[MappingRecord]:
        await self._switch.check(self._target)
        return await self.inner.list(
            account_id=account_id,
            function_arn=function_arn,
            source_key=source_key,
            start_after=start_after,
            limit=limit,
        )

    async def delete(self, uuid: str, *, expected_revision: str | None = None) -> bool:
        await self._switch.check(self._target)
        return await self.inner.delete(uuid, expected_revision=expected_revision)

    async def close(self) -> None:
        await self.inner.close()


class FaultyQueueStore:
    """A ``QueueStore`` (the async internal queues) that obeys a ``FaultSwitch`` first.

    A failed ``send`` never reaches the store, so nothing is acknowledged that
    was not persisted: the async front end answers the caller with an error.
    """

    def __init__(
        self,
        inner: QueueStore,
        switch: FaultSwitch,
        target: FaultTarget = FaultTarget.QUEUE_STORE,
    ) -> None:
        self.inner = inner
        self._switch = switch
        self._target = target

    async def send(self, queue: str, body: bytes, *, delay_s: float = 0.0) -> str:
        await self._switch.check(self._target)
        return await self.inner.send(queue, body, delay_s=delay_s)

    async def send_batch(
        self, queue: str, bodies: Sequence[bytes], *, delay_s: float = 0.0
    ) -> list[str]:
        await self._switch.check(self._target)
        return await self.inner.send_batch(queue, bodies, delay_s=delay_s)

    async def receive(self, queue: str, **options: Any) -> list[ReceivedMessage]:
        # Options are passed on as they come, so a receive option the port gains
        # (an order, a shard) reaches the store without this wrapper changing.
        await self._switch.check(self._target)
        received: list[ReceivedMessage] = await self.inner.receive(queue, **options)
        return received

    async def delete(self, queue: str, receipt: str) -> bool:
        await self._switch.check(self._target)
        return await self.inner.delete(queue, receipt)

    async def change_visibility(self, queue: str, receipt: str, timeout_s: float) -> bool:
        await self._switch.check(self._target)
        return await self.inner.change_visibility(queue, receipt, timeout_s)

    async def depth(self, queue: str) -> QueueDepth:
        await self._switch.check(self._target)
        return await self.inner.depth(queue)

    async def oldest_age_s(self, queue: str) -> float | None:
        await self._switch.check(self._target)
        return await self.inner.oldest_age_s(queue)

    async def queues(self) -> list[str]:
        await self._switch.check(self._target)
        return await self.inner.queues()

    async def close(self) -> None:
        await self.inner.close()
