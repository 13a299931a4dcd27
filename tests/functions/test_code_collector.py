"""The code collector deletes packages no version uses, and only those."""

from __future__ import annotations

import asyncio

from roost.functions.code_collector import CodeCollector
from roost.functions.model import CodeLocation, FunctionConfig
from roost.functions.repository import FunctionRecord, FunctionRepository
from roost.store.memory import MemoryCodeStore, MemoryConfigStore

ACCOUNT = "111111111111"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def config(name: str, sha256_hex: str, version: str = "$LATEST") -> FunctionConfig:
    location = CodeLocation(sha256_hex, "b64", 3)
    return FunctionConfig(
        name=name, runtime="python3.12", role="r", handler="a.b", code=location, version=version
    )


def test_only_unreferenced_packages_past_the_grace_period_are_deleted() -> None:
    async def scenario() -> None:
        clock = Clock()
        code = MemoryCodeStore(clock)
        functions = FunctionRepository(MemoryConfigStore())
        latest = await code.put(b"latest code")
        published = await code.put(b"published code")
        orphan = await code.put(b"orphan code")
        record = FunctionRecord(ACCOUNT, config("fn", latest.sha256_hex), last_version=1)
        await functions.create(record, [config("fn", published.sha256_hex, "1")])
        collector = CodeCollector(functions, code, grace_s=60)

        # Within the grace period nothing goes, referenced or not.
        assert await collector.sweep() == 0

        clock.now += 61
        fresh = await code.put(b"uploaded just now")
        assert await collector.sweep() == 1

        remaining = {b.sha256_hex for b in await code.list()}
        assert remaining == {latest.sha256_hex, published.sha256_hex, fresh.sha256_hex}
        assert orphan.sha256_hex not in remaining

    asyncio.run(scenario())


def test_a_deleted_functions_package_goes_after_the_grace_period() -> None:
    async def scenario() -> None:
        clock = Clock()
        code = MemoryCodeStore(clock)
        functions = FunctionRepository(MemoryConfigStore())
        blob = await code.put(b"code")
        record = await functions.create(FunctionRecord(ACCOUNT, config("fn", blob.sha256_hex)))
        collector = CodeCollector(functions, code, grace_s=60)
        clock.now += 61
        assert await collector.sweep() == 0

        await functions.delete(record)

        assert await collector.sweep() == 1
        assert not await code.exists(blob.sha256_hex)

    asyncio.run(scenario())


def test_a_package_shared_by_two_functions_stays_while_one_uses_it() -> None:
    async def scenario() -> None:
        clock = Clock()
        code = MemoryCodeStore(clock)
        functions = FunctionRepository(MemoryConfigStore())
        blob = await code.put(b"shared")
        first = await functions.create(FunctionRecord(ACCOUNT, config("a", blob.sha256_hex)))
        await functions.create(FunctionRecord(ACCOUNT, config("b", blob.sha256_hex)))
        await functions.delete(first)
        clock.now += 3600

        assert await CodeCollector(functions, code, grace_s=60).sweep() == 0
        assert await code.exists(blob.sha256_hex)

    asyncio.run(scenario())
