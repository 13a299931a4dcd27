"""The ``CodeStore`` contract, run against every adapter.

Each test is a scenario (an async function of a fresh store) that the
``run_with_store`` fixture executes under ``asyncio.run`` for each adapter.
Filesystem-specific behaviour (layout, durability) follows the suite.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from roost.store.errors import BlobNotFound
from roost.store.filesystem import FileCodeStore
from roost.store.memory import MemoryCodeStore
from roost.store.ports import BlobRef, CodeStore
from roost.store.redis import RedisCodeStore
from tests.fixtures.crash import acknowledged_before_sigkill
from tests.fixtures.stores import redis_url_of

Scenario = Callable[[CodeStore], Awaitable[None]]
RunWithStore = Callable[[Scenario], None]

PACKAGE = b"PK\x05\x06" + bytes(18)  # The smallest valid zip: an empty archive.
PACKAGE_SHA256 = hashlib.sha256(PACKAGE).hexdigest()
MISSING_SHA256 = hashlib.sha256(b"never stored").hexdigest()


@pytest.fixture(params=["memory", "filesystem", "redis"])
def run_with_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunWithStore]:
    url = redis_url_of(request) if request.param == "redis" else ""

    async def open_store() -> CodeStore:
        if request.param == "memory":
            return MemoryCodeStore()
        if request.param == "redis":
            return await RedisCodeStore.open(url)
        return FileCodeStore(tmp_path / "code")

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            store = await open_store()
            try:
                await scenario(store)
            finally:
                # Only the Redis adapter holds a connection to release.
                if isinstance(store, RedisCodeStore):
                    await store.close()

        asyncio.run(main())

    yield run


def test_list_names_every_blob_with_its_size(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        assert await store.list() == []
        first = await store.put(PACKAGE)
        second = await store.put(b"other bytes")

        listed = {(b.sha256_hex, b.size_bytes) for b in await store.list()}

        assert listed == {(first.sha256_hex, first.size_bytes), (second.sha256_hex, 11)}

    run_with_store(scenario)


def test_delete_stale_keeps_a_recently_touched_blob(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        ref = await store.put(PACKAGE)

        assert await store.delete_stale(ref.sha256_hex, older_than_s=3600) is False
        assert await store.exists(ref.sha256_hex)

    run_with_store(scenario)


def test_delete_stale_removes_an_untouched_blob(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        ref = await store.put(PACKAGE)

        assert await store.delete_stale(ref.sha256_hex, older_than_s=0) is True
        assert not await store.exists(ref.sha256_hex)
        assert await store.delete_stale(ref.sha256_hex, older_than_s=0) is False
        assert await store.delete_stale("not-a-digest", older_than_s=0) is False

    run_with_store(scenario)


def test_put_again_refreshes_the_touch_time(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        await store.put(PACKAGE)
        before = {b.sha256_hex: b.touched_at_s for b in await store.list()}[PACKAGE_SHA256]
        await asyncio.sleep(0.02)

        await store.put(PACKAGE)

        after = {b.sha256_hex: b.touched_at_s for b in await store.list()}[PACKAGE_SHA256]
        assert after > before

    run_with_store(scenario)


def test_put_returns_the_sha256_and_size(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        ref = await store.put(PACKAGE)

        assert ref == BlobRef(PACKAGE_SHA256, len(PACKAGE))

    run_with_store(scenario)


def test_put_then_get_roundtrips_the_bytes(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        data = bytes(range(256)) * 1000
        ref = await store.put(data)

        assert await store.get(ref.sha256_hex) == data
        assert await store.exists(ref.sha256_hex)

    run_with_store(scenario)


def test_put_is_idempotent_by_content(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        first = await store.put(PACKAGE)
        second = await store.put(bytes(PACKAGE))
        concurrent = await asyncio.gather(*(store.put(PACKAGE) for _ in range(5)))

        assert first == second
        assert set(concurrent) == {first}
        assert await store.get(first.sha256_hex) == PACKAGE

    run_with_store(scenario)


def test_an_empty_blob_is_a_blob(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        ref = await store.put(b"")

        assert ref == BlobRef(hashlib.sha256(b"").hexdigest(), 0)
        assert await store.get(ref.sha256_hex) == b""

    run_with_store(scenario)


def test_get_of_a_missing_blob_raises_blob_not_found(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        with pytest.raises(BlobNotFound):
            await store.get(MISSING_SHA256)
        assert not await store.exists(MISSING_SHA256)

    run_with_store(scenario)


@pytest.mark.parametrize("digest", ["", "../../etc/passwd", PACKAGE_SHA256.upper(), "ab"])
def test_a_malformed_digest_names_no_blob(run_with_store: RunWithStore, digest: str) -> None:
    async def scenario(store: CodeStore) -> None:
        await store.put(PACKAGE)

        with pytest.raises(BlobNotFound):
            await store.get(digest)
        assert not await store.exists(digest)
        await store.delete(digest)
        assert await store.exists(PACKAGE_SHA256)

    run_with_store(scenario)


def test_delete_removes_only_that_blob(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        kept = await store.put(b"kept")
        await store.put(PACKAGE)

        await store.delete(PACKAGE_SHA256)

        assert not await store.exists(PACKAGE_SHA256)
        with pytest.raises(BlobNotFound):
            await store.get(PACKAGE_SHA256)
        assert await store.get(kept.sha256_hex) == b"kept"

    run_with_store(scenario)


def test_delete_of_a_missing_blob_is_not_an_error(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        await store.delete(MISSING_SHA256)

        assert not await store.exists(MISSING_SHA256)

    run_with_store(scenario)


def test_a_deleted_blob_can_be_stored_again(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        await store.put(PACKAGE)
        await store.delete(PACKAGE_SHA256)

        await store.put(PACKAGE)

        assert await store.get(PACKAGE_SHA256) == PACKAGE

    run_with_store(scenario)


def test_adapters_satisfy_the_protocol(run_with_store: RunWithStore) -> None:
    async def scenario(store: CodeStore) -> None:
        assert isinstance(store, CodeStore)

    run_with_store(scenario)


# Filesystem only


def test_file_blobs_live_at_path_of_with_a_two_digit_fan_out(tmp_path: Path) -> None:
    store = FileCodeStore(tmp_path / "code")

    asyncio.run(store.put(PACKAGE))

    path = store.path_of(PACKAGE_SHA256)
    assert path == tmp_path / "code" / PACKAGE_SHA256[:2] / f"{PACKAGE_SHA256}.zip"
    assert path.read_bytes() == PACKAGE
    # Nothing but the blob: the temporary file was renamed, not left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("digest", ["../../etc/passwd", PACKAGE_SHA256.upper(), "", "0" * 63])
def test_path_of_rejects_a_malformed_digest(tmp_path: Path, digest: str) -> None:
    with pytest.raises(ValueError):
        FileCodeStore(tmp_path).path_of(digest)


def test_file_blobs_are_seen_by_a_new_store_on_the_same_root(tmp_path: Path) -> None:
    asyncio.run(FileCodeStore(tmp_path / "code").put(PACKAGE))

    assert asyncio.run(FileCodeStore(tmp_path / "code").get(PACKAGE_SHA256)) == PACKAGE


def test_a_leftover_temporary_file_is_not_a_blob(tmp_path: Path) -> None:
    store = FileCodeStore(tmp_path)
    directory = store.path_of(PACKAGE_SHA256).parent
    directory.mkdir(parents=True)
    (directory / f".{PACKAGE_SHA256}.crashed.tmp").write_bytes(PACKAGE[:3])

    assert not asyncio.run(store.exists(PACKAGE_SHA256))
    asyncio.run(store.put(PACKAGE))
    assert asyncio.run(store.get(PACKAGE_SHA256)) == PACKAGE


# Durability: every blob acknowledged before a SIGKILL is whole afterwards.

_FILE_WRITER = """
import asyncio, sys
from pathlib import Path
from roost.store.filesystem import FileCodeStore

async def main() -> None:
    store = FileCodeStore(Path(sys.argv[1]))
    for n in range(1_000_000):
        ref = await store.put(f"package {n} ".encode() * 1000)
        print(n, ref.sha256_hex, flush=True)

asyncio.run(main())
"""

ACKS_BEFORE_KILL = 25


def test_file_blobs_acknowledged_survive_sigkill(tmp_path: Path) -> None:
    root = tmp_path / "code"
    acknowledged = acknowledged_before_sigkill(
        _FILE_WRITER, str(root), acks_before_kill=ACKS_BEFORE_KILL
    )
    lines = [line.split() for line in acknowledged]

    store = FileCodeStore(root)
    for n, digest in lines:
        assert asyncio.run(store.get(digest)) == f"package {n} ".encode() * 1000
