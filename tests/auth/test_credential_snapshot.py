"""A restarted node authenticates the keys it knew while the config store is down."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from roost.auth.accounts import BY_KEY_PREFIX, AccountRepository, CredentialResolver
from roost.auth.credential_snapshot import CredentialSnapshot
from roost.auth.secrets import SecretBox
from roost.store.errors import StoreUnavailable
from roost.store.ports import Delete
from tests.auth.test_accounts import CountingStore


def _resolver(store: CountingStore, data_dir: Path) -> CredentialResolver:
    box = SecretBox.in_data_dir(data_dir)
    return CredentialResolver(
        AccountRepository(store, box),
        allow_builtin=False,
        snapshot=CredentialSnapshot.in_data_dir(data_dir, box),
    )


async def _resolve_then_flush(resolver: CredentialResolver, key: str) -> None:
    await resolver.resolve(key)
    await resolver.flush()


def test_a_restarted_resolver_serves_known_keys_while_the_store_is_down(
    tmp_path: Path,
) -> None:
    # Given a key resolved once from the store, by a resolver that then goes away
    store = CountingStore()
    account = asyncio.run(AccountRepository(store, SecretBox.in_data_dir(tmp_path)).create("a"))
    asyncio.run(_resolve_then_flush(_resolver(store, tmp_path), account.access_key_id))

    # When a new resolver starts with the store down
    store.down = True
    restarted = _resolver(store, tmp_path)

    # Then the known key resolves from the snapshot, an unknown one does not
    credential = asyncio.run(restarted.resolve(account.access_key_id))
    assert credential is not None
    assert credential.secret_access_key == account.secret_access_key
    assert credential.account_id == account.account_id
    with pytest.raises(StoreUnavailable):
        asyncio.run(restarted.resolve("AKIANEVERSEEN0000000"))


def test_the_snapshot_holds_no_plain_secret_and_only_its_owner_reads_it(
    tmp_path: Path,
) -> None:
    store = CountingStore()
    account = asyncio.run(AccountRepository(store, SecretBox.in_data_dir(tmp_path)).create("a"))
    asyncio.run(_resolve_then_flush(_resolver(store, tmp_path), account.access_key_id))

    path = tmp_path / "credential-cache.json"
    assert account.secret_access_key not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["keys"][0]["access_key_id"] == account.access_key_id


def test_while_the_store_answers_it_wins_over_the_snapshot(tmp_path: Path) -> None:
    # Given a known key, saved, that the store then no longer has
    store = CountingStore()
    account = asyncio.run(AccountRepository(store, SecretBox.in_data_dir(tmp_path)).create("a"))
    asyncio.run(_resolve_then_flush(_resolver(store, tmp_path), account.access_key_id))
    asyncio.run(store.commit([Delete(BY_KEY_PREFIX + account.access_key_id)]))

    # When a restarted resolver asks the (reachable) store
    restarted = _resolver(store, tmp_path)
    asyncio.run(_resolve_then_flush(restarted, account.access_key_id))
    assert asyncio.run(restarted.resolve(account.access_key_id)) is None

    # Then the key is gone from the snapshot too: a later outage does not revive it
    store.down = True
    with pytest.raises(StoreUnavailable):
        asyncio.run(_resolver(store, tmp_path).resolve(account.access_key_id))


def test_an_unreadable_snapshot_is_ignored(tmp_path: Path) -> None:
    box = SecretBox.in_data_dir(tmp_path)
    (tmp_path / "credential-cache.json").write_text('{"format": 1, "keys": [{"x": 1}]}')
    assert CredentialSnapshot.in_data_dir(tmp_path, box).load() == {}
    (tmp_path / "credential-cache.json").write_text("not json")
    assert CredentialSnapshot.in_data_dir(tmp_path, box).load() == {}
