"""Accounts in the config store and the credential resolver on the request path."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import roost.auth.accounts as accounts_module
from roost.auth.accounts import (
    BUILTIN_ACCOUNT_ID,
    BY_ID_PREFIX,
    BY_KEY_PREFIX,
    BY_NAME_PREFIX,
    AccountNameTaken,
    AccountRepository,
    CredentialResolver,
    InvalidAccountName,
)
from roost.auth.errors import UnrecognizedClientException
from roost.auth.secrets import SecretBox
from roost.auth.sigv4 import Credential, SignedRequest, SigV4Verifier
from roost.store.errors import StoreUnavailable
from roost.store.memory.config import MemoryConfigStore
from roost.store.ports import CommitResult, Item, Put, Write


class CountingStore(MemoryConfigStore):
    """Counts reads, and can be switched off to act like an unreachable store."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.down = False

    async def get(self, key: str) -> Item | None:
        self.gets += 1
        await asyncio.sleep(0)  # let concurrent callers pile up, as over a network
        if self.down:
            raise StoreUnavailable("down")
        return await super().get(key)

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        if self.down:
            raise StoreUnavailable("down")
        return await super().commit(writes)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def repository(store: CountingStore, tmp_path: Path) -> AccountRepository:
    return AccountRepository(store, SecretBox.in_data_dir(tmp_path))


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    yield FakeClock()


# --- AccountRepository ------------------------------------------------------------


def test_create_returns_aws_shaped_identifiers(repository: AccountRepository) -> None:
    account = asyncio.run(repository.create("alice"))

    assert re.fullmatch(r"\d{12}", account.account_id)
    assert account.account_id != BUILTIN_ACCOUNT_ID
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", account.access_key_id)
    assert len(account.secret_access_key) == 40
    assert account.name == "alice"
    assert account.secret_access_key not in repr(account)


def test_created_account_credential_is_found_by_access_key(repository: AccountRepository) -> None:
    account = asyncio.run(repository.create("alice"))

    credential = asyncio.run(repository.credential_for(account.access_key_id))

    assert credential == Credential(
        account.access_key_id, account.secret_access_key, account.account_id
    )


def test_create_writes_id_key_and_name_documents_without_the_plain_secret(
    repository: AccountRepository, store: CountingStore
) -> None:
    account = asyncio.run(repository.create("alice"))

    items = asyncio.run(store.list("accounts/"))

    assert sorted(item.key for item in items) == sorted(
        [
            BY_ID_PREFIX + account.account_id,
            BY_KEY_PREFIX + account.access_key_id,
            BY_NAME_PREFIX + "alice",
        ]
    )
    dumped = json.dumps([dict(item.value) for item in items])
    assert account.secret_access_key not in dumped
    assert account.secret_access_key[:20] not in dumped


def test_duplicate_name_is_refused_ignoring_case(
    repository: AccountRepository, store: CountingStore
) -> None:
    asyncio.run(repository.create("alice"))

    with pytest.raises(AccountNameTaken, match=r"(?i)alice"):
        asyncio.run(repository.create("Alice"))

    assert len(asyncio.run(store.list("accounts/"))) == 3  # nothing of the refused one


@pytest.mark.parametrize("name", ["", "a/b", "-leading", "x" * 65, "with space", "é"])
def test_invalid_names_are_refused(repository: AccountRepository, name: str) -> None:
    with pytest.raises(InvalidAccountName):
        asyncio.run(repository.create(name))


def test_colliding_random_account_id_is_redrawn(
    repository: AccountRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = asyncio.run(repository.create("alice"))
    ids = iter([first.account_id, "111111111111"])
    monkeypatch.setattr(accounts_module, "_new_account_id", lambda: next(ids))

    second = asyncio.run(repository.create("bob"))

    assert second.account_id == "111111111111"


def test_get_list_and_get_by_name(repository: AccountRepository) -> None:
    alice = asyncio.run(repository.create("alice"))
    bob = asyncio.run(repository.create("bob"))

    listed = asyncio.run(repository.list())
    by_name = asyncio.run(repository.get_by_name("BOB"))
    by_id = asyncio.run(repository.get(alice.account_id))

    assert [a.account_id for a in listed] == sorted([alice.account_id, bob.account_id])
    assert by_name is not None and by_name.account_id == bob.account_id
    assert by_id is not None
    assert (by_id.name, by_id.access_key_ids) == ("alice", (alice.access_key_id,))
    assert asyncio.run(repository.get("999999999999")) is None


@pytest.mark.parametrize("access_key_id", ["AKIAUNKNOWN000000000", "", "../by-id/x", "test"])
def test_unknown_access_keys_have_no_credential(
    repository: AccountRepository, access_key_id: str
) -> None:
    asyncio.run(repository.create("alice"))

    assert asyncio.run(repository.credential_for(access_key_id)) is None


def test_inactive_access_key_has_no_credential(
    repository: AccountRepository, store: CountingStore
) -> None:
    account = asyncio.run(repository.create("alice"))
    key = BY_KEY_PREFIX + account.access_key_id
    item = asyncio.run(store.get(key))
    assert item is not None
    asyncio.run(store.commit([Put(key, {**item.value, "status": "Inactive"})]))

    assert asyncio.run(repository.credential_for(account.access_key_id)) is None


# --- CredentialResolver -----------------------------------------------------------


def test_builtin_key_resolves_when_allowed(repository: AccountRepository) -> None:
    resolver = CredentialResolver(repository, allow_builtin=True)

    assert asyncio.run(resolver("test")) == Credential("test", "test", "000000000000")


def test_builtin_key_is_unknown_when_not_allowed(repository: AccountRepository) -> None:
    for resolver in (
        CredentialResolver(repository, allow_builtin=False),
        CredentialResolver(None, allow_builtin=False),
    ):
        assert asyncio.run(resolver("test")) is None


def test_repository_keys_resolve_and_are_cached(
    repository: AccountRepository, store: CountingStore, clock: FakeClock
) -> None:
    account = asyncio.run(repository.create("alice"))
    resolver = CredentialResolver(repository, allow_builtin=True, refresh_after_s=60, clock=clock)

    async def resolve_many() -> list[Credential | None]:
        return [await resolver(account.access_key_id) for _ in range(5)]

    store.gets = 0
    credentials = asyncio.run(resolve_many())

    assert {c.secret_access_key if c else None for c in credentials} == {account.secret_access_key}
    assert store.gets == 1
    clock.now += 61
    asyncio.run(resolver(account.access_key_id))
    assert store.gets == 2  # refreshed after refresh_after_s


def test_concurrent_lookups_of_one_key_share_one_store_read(
    repository: AccountRepository, store: CountingStore
) -> None:
    account = asyncio.run(repository.create("alice"))
    resolver = CredentialResolver(repository, allow_builtin=False)

    async def burst() -> list[Credential | None]:
        return await asyncio.gather(*(resolver(account.access_key_id) for _ in range(20)))

    store.gets = 0
    credentials = asyncio.run(burst())

    assert all(c is not None and c.account_id == account.account_id for c in credentials)
    assert store.gets == 1


def test_unknown_keys_are_cached_for_a_few_seconds_only(
    repository: AccountRepository, store: CountingStore, clock: FakeClock
) -> None:
    resolver = CredentialResolver(repository, allow_builtin=False, negative_ttl_s=2, clock=clock)
    store.gets = 0

    assert asyncio.run(resolver("AKIAUNKNOWN000000000")) is None
    assert asyncio.run(resolver("AKIAUNKNOWN000000000")) is None
    assert store.gets == 1
    clock.now += 2
    assert asyncio.run(resolver("AKIAUNKNOWN000000000")) is None
    assert store.gets == 2


def test_new_key_works_once_the_negative_entry_expires(
    repository: AccountRepository, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts_module, "_new_access_key_id", lambda: "AKIANEW0000000000000")
    resolver = CredentialResolver(repository, allow_builtin=False, negative_ttl_s=2, clock=clock)
    assert asyncio.run(resolver("AKIANEW0000000000000")) is None

    account = asyncio.run(repository.create("alice"))
    clock.now += 2.5

    credential = asyncio.run(resolver("AKIANEW0000000000000"))
    assert credential is not None and credential.account_id == account.account_id


def test_known_key_keeps_resolving_while_the_store_is_down(
    repository: AccountRepository, store: CountingStore, clock: FakeClock
) -> None:
    account = asyncio.run(repository.create("alice"))
    resolver = CredentialResolver(repository, allow_builtin=False, refresh_after_s=60, clock=clock)
    asyncio.run(resolver(account.access_key_id))
    store.down = True
    clock.now += 3600

    credential = asyncio.run(resolver(account.access_key_id))

    assert credential is not None and credential.account_id == account.account_id
    with pytest.raises(StoreUnavailable):
        asyncio.run(resolver("AKIAUNKNOWN000000000"))


def test_invalidate_forgets_a_cached_key(
    repository: AccountRepository, store: CountingStore
) -> None:
    account = asyncio.run(repository.create("alice"))
    resolver = CredentialResolver(repository, allow_builtin=False)
    asyncio.run(resolver(account.access_key_id))
    store.gets = 0

    resolver.invalidate(account.access_key_id)
    asyncio.run(resolver(account.access_key_id))

    assert store.gets == 1


def test_cache_is_bounded(repository: AccountRepository) -> None:
    resolver = CredentialResolver(repository, allow_builtin=False, max_entries=3)

    async def spray() -> None:
        for n in range(10):
            await resolver(f"AKIAUNKNOWN{n:09d}")

    asyncio.run(spray())

    assert len(resolver._unknown) == 3


def test_resolver_feeds_the_sigv4_verifier(repository: AccountRepository) -> None:
    account = asyncio.run(repository.create("alice"))
    verifier = SigV4Verifier(CredentialResolver(repository, allow_builtin=False), service="lambda")

    def signed(access_key: str, secret: str) -> SignedRequest:
        request = AWSRequest(method="GET", url="http://127.0.0.1:9000/2015-03-31/functions")
        SigV4Auth(Credentials(access_key, secret), "lambda", "us-east-1").add_auth(request)
        headers = [
            (k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
        ]
        return SignedRequest(
            "GET", "/2015-03-31/functions", b"", [*headers, ("Host", "127.0.0.1:9000")]
        )

    result = asyncio.run(verifier.verify(signed(account.access_key_id, account.secret_access_key)))

    assert result.account_id == account.account_id
    with pytest.raises(UnrecognizedClientException):
        asyncio.run(verifier.verify(signed("test", "test")))
