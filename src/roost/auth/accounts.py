"""Accounts, their access keys, and the credential lookup on the request path.

``AccountRepository`` owns the key layout of accounts in the config store:

- ``accounts/by-id/<account_id>``: the account (name, access key ids)
- ``accounts/by-key/<access_key_id>``: the key's account and its *sealed* secret
- ``accounts/by-name/<lowercased name>``: reserves the name

An account is created with one atomic ``if_absent`` batch over the three keys, so
neither an id, a key nor a name can be taken twice, even by two nodes at once.

``CredentialResolver`` answers the SigV4 verifier's lookups. It runs on every
request, so it keeps decrypted credentials in memory, collapses concurrent
lookups of one key into a single store read, and keeps serving a known
credential while the store is unreachable (static stability), even across a
restart: what it resolved is saved, sealed, to a ``CredentialSnapshot``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from roost.auth.credential_snapshot import CredentialSnapshot
from roost.auth.secrets import SecretBox
from roost.auth.sigv4 import Credential
from roost.store.errors import ConditionFailed, StoreUnavailable
from roost.store.ports import ConfigStore, Document, Put

_V = TypeVar("_V")

BUILTIN_ACCESS_KEY_ID = "test"
BUILTIN_SECRET_ACCESS_KEY = "test"
BUILTIN_ACCOUNT_ID = "000000000000"
BUILTIN_CREDENTIAL = Credential(
    access_key_id=BUILTIN_ACCESS_KEY_ID,
    secret_access_key=BUILTIN_SECRET_ACCESS_KEY,
    account_id=BUILTIN_ACCOUNT_ID,
)

BY_ID_PREFIX = "accounts/by-id/"
BY_KEY_PREFIX = "accounts/by-key/"
BY_NAME_PREFIX = "accounts/by-name/"

ACCESS_KEY_STATUS_ACTIVE = "Active"

_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
_ACCESS_KEY_SUFFIX_LENGTH = 16
_SECRET_LENGTH = 40
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
# Collisions of random 12-digit ids or 16-character keys are rare; a few tries
# turn "rare" into "never" without looping forever on a broken store.
_CREATE_ATTEMPTS = 8
_LIST_PAGE_SIZE = 500


class AccountError(Exception):
    """Base class of account management failures."""


class InvalidAccountName(AccountError, ValueError):
    """The name is empty, too long, or has characters other than ``A-Za-z0-9._@+-``."""


class AccountNameTaken(AccountError):
    """Another account already has this name (names are unique, ignoring case)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an account named {name!r} already exists")
        self.name = name


@dataclass(frozen=True)
class NewAccount:
    """A freshly created account with its first key pair; the only time the secret is shown."""

    account_id: str
    name: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class Account:
    """An account as stored: its id, name, access key ids and creation time."""

    account_id: str
    name: str
    access_key_ids: tuple[str, ...]
    created_at: datetime


class AccountRepository:
    """Creates accounts and reads their credentials from a ``ConfigStore``."""

    def __init__(self, store: ConfigStore, box: SecretBox) -> None:
        self._store = store
        self._box = box

    async def create(self, name: str) -> NewAccount:
        """Create an account named ``name`` with one access key; durable on return.

        Raises ``InvalidAccountName`` or ``AccountNameTaken``. Not idempotent:
        a retry after a lost reply finds the name taken.
        """
        if not _NAME_RE.fullmatch(name):
            raise InvalidAccountName(
                f"invalid account name {name!r}: use 1-64 characters of A-Za-z0-9._@+- "
                "starting with a letter or digit"
            )
        name_key = BY_NAME_PREFIX + name.lower()
        for _ in range(_CREATE_ATTEMPTS):
            account = NewAccount(
                account_id=_new_account_id(),
                name=name,
                access_key_id=_new_access_key_id(),
                secret_access_key=_new_secret_access_key(),
            )
            created_at = datetime.now(UTC).isoformat()
            try:
                await self._store.commit(
                    [
                        Put(name_key, {"account_id": account.account_id}, if_absent=True),
                        Put(
                            BY_ID_PREFIX + account.account_id,
                            {
                                "account_id": account.account_id,
                                "name": name,
                                "access_key_ids": [account.access_key_id],
                                "created_at": created_at,
                            },
                            if_absent=True,
                        ),
                        Put(
                            BY_KEY_PREFIX + account.access_key_id,
                            {
                                "access_key_id": account.access_key_id,
                                "account_id": account.account_id,
                                "sealed_secret": self._box.seal(account.secret_access_key),
                                "status": ACCESS_KEY_STATUS_ACTIVE,
                                "created_at": created_at,
                            },
                            if_absent=True,
                        ),
                    ]
                )
            except ConditionFailed as error:
                if error.key == name_key:
                    raise AccountNameTaken(name) from None
                continue  # the random id or key collided: draw new ones
            return account
        raise AccountError(f"could not allocate a unique account id in {_CREATE_ATTEMPTS} tries")

    async def get(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        item = await self._store.get(BY_ID_PREFIX + account_id)
        return None if item is None else _account(item.value)

    async def get_by_name(self, name: str) -> Account | None:
        """The account with this name (ignoring case), or None."""
        item = await self._store.get(BY_NAME_PREFIX + name.lower())
        return None if item is None else await self.get(str(item.value["account_id"]))

    async def list(self) -> list[Account]:
        """Every account, ordered by account id."""
        accounts: list[Account] = []
        start_after: str | None = None
        while True:
            page = await self._store.list(
                BY_ID_PREFIX, start_after=start_after, limit=_LIST_PAGE_SIZE
            )
            accounts.extend(_account(item.value) for item in page)
            if len(page) < _LIST_PAGE_SIZE:
                return accounts
            start_after = page[-1].key

    async def credential_for(self, access_key_id: str) -> Credential | None:
        """The decrypted credential of an active access key, or None if unknown."""
        # Keys are opaque path segments: one with a "/" could reach other documents.
        if not access_key_id or "/" in access_key_id:
            return None
        item = await self._store.get(BY_KEY_PREFIX + access_key_id)
        if item is None or item.value.get("status") != ACCESS_KEY_STATUS_ACTIVE:
            return None
        return Credential(
            access_key_id=access_key_id,
            secret_access_key=self._box.open(str(item.value["sealed_secret"])),
            account_id=str(item.value["account_id"]),
        )


@dataclass
class _CacheEntry:
    credential: Credential
    refresh_at: float


class CredentialResolver:
    """The credential lookup of the SigV4 verifier: built-in key, cache, then store.

    The built-in ``test``/``test`` key of account ``000000000000`` resolves only
    when ``allow_builtin`` is set (the server sets it when bound to loopback).
    Known keys are re-read after ``refresh_after_s``; unknown keys are
    remembered for ``negative_ttl_s`` so that a new key works within seconds and
    a flood of bogus keys does not reach the store. Times are in seconds of
    ``clock`` (monotonic by default). With a ``snapshot``, the credentials the
    store confirmed are saved to disk and, after a restart, served while the
    store is unreachable (never while it answers).
    """

    def __init__(
        self,
        repository: AccountRepository | None,
        *,
        allow_builtin: bool,
        refresh_after_s: float = 60.0,
        negative_ttl_s: float = 2.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        snapshot: CredentialSnapshot | None = None,
    ) -> None:
        self._repository = repository
        self._allow_builtin = allow_builtin
        self._refresh_after_s = refresh_after_s
        self._negative_ttl_s = negative_ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._known: dict[str, _CacheEntry] = {}
        # Separate from _known so that bogus keys can only evict bogus keys.
        self._unknown: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Task[Credential | None]] = {}
        self._generation = 0
        self._snapshot = snapshot
        # The last credentials the store confirmed: the fallback while it is down.
        self._last_known = snapshot.load() if snapshot is not None else {}
        self._saving: asyncio.Task[None] | None = None
        self._save_again = False

    async def __call__(self, access_key_id: str) -> Credential | None:
        """Same as ``resolve``, so the resolver can be passed as a ``CredentialLookup``."""
        return await self.resolve(access_key_id)

    async def resolve(self, access_key_id: str) -> Credential | None:
        """The credential of ``access_key_id``, or None if it is unknown.

        Raises ``StoreUnavailable`` only for a key not already cached. Cancelling
        the caller does not cancel a store read other callers share.
        """
        if self._allow_builtin and access_key_id == BUILTIN_ACCESS_KEY_ID:
            return BUILTIN_CREDENTIAL
        now = self._clock()
        entry = self._known.get(access_key_id)
        if entry is not None and now < entry.refresh_at:
            return entry.credential
        unknown_until = self._unknown.get(access_key_id)
        if unknown_until is not None and now < unknown_until:
            return None
        if self._repository is None:
            return None
        task = self._inflight.get(access_key_id)
        if task is None:
            task = asyncio.ensure_future(self._load(self._repository, access_key_id))
            self._inflight[access_key_id] = task
            task.add_done_callback(lambda _: self._inflight.pop(access_key_id, None))
        try:
            return await asyncio.shield(task)
        except StoreUnavailable:
            if entry is not None:
                return entry.credential
            known = self._last_known.get(access_key_id)
            if known is not None:
                return known
            raise

    def invalidate(self, access_key_id: str | None = None) -> None:
        """Forget one cached key (after it was changed or deleted), or all of them."""
        self._generation += 1
        if access_key_id is None:
            self._known.clear()
            self._unknown.clear()
        else:
            self._known.pop(access_key_id, None)
            self._unknown.pop(access_key_id, None)

    async def _load(self, repository: AccountRepository, access_key_id: str) -> Credential | None:
        generation = self._generation
        credential = await repository.credential_for(access_key_id)
        if generation != self._generation:
            # Invalidated while reading: the answer may predate the change.
            return credential
        now = self._clock()
        self._remember(access_key_id, credential)
        if credential is None:
            self._known.pop(access_key_id, None)
            _bounded_put(
                self._unknown, access_key_id, now + self._negative_ttl_s, self._max_entries
            )
        else:
            self._unknown.pop(access_key_id, None)
            _bounded_put(
                self._known,
                access_key_id,
                _CacheEntry(credential, now + self._refresh_after_s),
                self._max_entries,
            )
        return credential

    def _remember(self, access_key_id: str, credential: Credential | None) -> None:
        """Keep the store's answer as the last known one, saving the snapshot if it changed."""
        if self._last_known.get(access_key_id) == credential:
            return
        if credential is None:
            del self._last_known[access_key_id]
        else:
            _bounded_put(self._last_known, access_key_id, credential, self._max_entries)
        if self._snapshot is None:
            return
        # One writer at a time, and a change made while it writes is written after:
        # the file always ends up with the latest credentials, never an older set.
        self._save_again = True
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(self._save(self._snapshot))

    async def _save(self, snapshot: CredentialSnapshot) -> None:
        while self._save_again:
            self._save_again = False
            await asyncio.to_thread(snapshot.save, dict(self._last_known))

    async def flush(self) -> None:
        """Wait for a snapshot write in progress (at shutdown)."""
        if self._saving is not None:
            await asyncio.gather(self._saving, return_exceptions=True)


def _bounded_put(cache: dict[str, _V], key: str, value: _V, max_entries: int) -> None:
    # Dicts keep insertion order, so re-inserting moves a key to the end and the
    # first key is the one refreshed longest ago.
    cache.pop(key, None)
    while len(cache) >= max_entries:
        del cache[next(iter(cache))]
    cache[key] = value


def _account(document: Document) -> Account:
    return Account(
        account_id=str(document["account_id"]),
        name=str(document["name"]),
        access_key_ids=tuple(str(key) for key in document["access_key_ids"]),
        created_at=datetime.fromisoformat(str(document["created_at"])),
    )


def _new_account_id() -> str:
    while True:
        account_id = f"{secrets.randbelow(10**12):012d}"
        if account_id != BUILTIN_ACCOUNT_ID:
            return account_id


def _new_access_key_id() -> str:
    suffix = "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(_ACCESS_KEY_SUFFIX_LENGTH))
    return "AKIA" + suffix


def _new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(_SECRET_LENGTH))
