"""The store fault wrappers: a switch makes a store fail, slow down, and recover."""

from __future__ import annotations

import asyncio

import pytest

from roost.store.errors import StoreUnavailable
from roost.store.faults import (
    FaultMode,
    FaultPlan,
    FaultSwitch,
    FaultTarget,
    FaultyConfigStore,
    FaultyMappingStore,
    apply_plans_at_start,
)
from roost.store.memory.config import MemoryConfigStore
from roost.store.memory.mappings import MemoryMappingStore
from roost.store.ports import ConfigStore, EventSourceMappingStore, MappingRecord, Put


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_the_wrappers_implement_the_store_ports() -> None:
    switch = FaultSwitch()
    assert isinstance(FaultyConfigStore(MemoryConfigStore(), switch), ConfigStore)
    assert isinstance(FaultyMappingStore(MemoryMappingStore(), switch), EventSourceMappingStore)


def test_a_failing_config_store_raises_store_unavailable_then_recovers() -> None:
    async def scenario() -> None:
        # Given a store with a document, behind a switch
        switch = FaultSwitch()
        store = FaultyConfigStore(MemoryConfigStore(), switch)
        await store.commit([Put("k", {"v": 1})])

        # When the switch fails the config store
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.FAIL)

        # Then every call fails without reaching the store
        with pytest.raises(StoreUnavailable, match="fault injected"):
            await store.get("k")
        with pytest.raises(StoreUnavailable):
            await store.list("")
        with pytest.raises(StoreUnavailable):
            await store.commit([Put("k", {"v": 2})])

        # And once it is back, the store is as before (the write never landed)
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.OK)
        item = await store.get("k")
        assert item is not None and item.value == {"v": 1}
        await store.close()

    asyncio.run(scenario())


def test_a_plan_ends_by_itself_after_for_s() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        switch = FaultSwitch(clock)
        store = FaultyConfigStore(MemoryConfigStore(), switch)
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.FAIL, for_s=5)
        assert switch.remaining_s(FaultTarget.CONFIG_STORE) == 5

        with pytest.raises(StoreUnavailable):
            await store.get("k")
        clock.now_s += 5
        assert await store.get("k") is None
        assert switch.plan(FaultTarget.CONFIG_STORE).mode is FaultMode.OK

    asyncio.run(scenario())


def test_a_slow_store_answers_after_the_delay() -> None:
    async def scenario() -> None:
        switch = FaultSwitch()
        store = FaultyConfigStore(MemoryConfigStore(), switch)
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.SLOW, delay_ms=5_000)

        # A caller with a deadline sees a hung store...
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(store.get("k"), 0.05)
        # ...and a short delay only slows the call down.
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.SLOW, delay_ms=1)
        assert await store.get("k") is None

    asyncio.run(scenario())


def test_targets_are_independent() -> None:
    async def scenario() -> None:
        switch = FaultSwitch()
        config = FaultyConfigStore(MemoryConfigStore(), switch)
        mappings = FaultyMappingStore(MemoryMappingStore(), switch)
        record = MappingRecord("u1", "111111111111", "arn:f", "arn:q", {"a": 1})
        await mappings.put(record)

        switch.set(FaultTarget.MAPPING_STORE, FaultMode.FAIL)

        assert await config.get("k") is None
        with pytest.raises(StoreUnavailable, match="mapping-store"):
            await mappings.list()
        with pytest.raises(StoreUnavailable):
            await mappings.get("u1")
        switch.clear()
        assert [r.uuid for r in await mappings.list()] == ["u1"]

    asyncio.run(scenario())


def test_out_of_range_plans_are_refused() -> None:
    switch = FaultSwitch()
    with pytest.raises(ValueError):
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.SLOW, delay_ms=-1)
    with pytest.raises(ValueError):
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.FAIL, for_s=0)
    assert switch.plan(FaultTarget.CONFIG_STORE).mode is FaultMode.OK


def test_plans_at_start_take_the_endpoints_syntax_one_or_a_list() -> None:
    # Given ROOST_FAULTS_AT_START's text: one plan, or a list of them
    switch = FaultSwitch()
    apply_plans_at_start(switch, '{"target": "config-store", "mode": "fail", "for_s": 30}')
    apply_plans_at_start(
        switch,
        '[{"target": "queue-store", "mode": "slow", "delay_ms": 200},'
        ' {"target": "worker-host", "mode": "fail"}]',
    )
    # Then each target has its plan from the start
    assert switch.plan(FaultTarget.CONFIG_STORE).mode is FaultMode.FAIL
    assert switch.remaining_s(FaultTarget.CONFIG_STORE) is not None
    assert switch.plan(FaultTarget.QUEUE_STORE) == FaultPlan(FaultMode.SLOW, 200)
    assert switch.plan(FaultTarget.WORKER_HOST).mode is FaultMode.FAIL
    assert switch.plan(FaultTarget.MAPPING_STORE).mode is FaultMode.OK


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "must be JSON"),
        ("[1]", "must be JSON"),
        ('{"target": "nowhere", "mode": "fail"}', "target must be one of"),
        ('{"target": "config-store", "mode": "broken"}', "mode must be one of"),
        ('{"target": "config-store", "mode": "slow", "delay_ms": "5"}', "delay_ms must be"),
        ('{"target": "config-store", "mode": "fail", "for_s": 0}', "for_s must be"),
    ],
)
def test_bad_plans_at_start_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        apply_plans_at_start(FaultSwitch(), text)
