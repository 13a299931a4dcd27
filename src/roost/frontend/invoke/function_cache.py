"""The L1 function cache: what the invoke path knows of functions, in memory.

A warm invoke reads nothing from the store: the function record, its published
versions, aliases and EventInvokeConfigs are loaded once and kept until the
control plane changes the function (``invalidate``), which it does after every
successful write. An
entry caught mid-transition (Pending, InProgress) is re-read, since the
background activator completes those without going through the API.

Static stability: besides the fresh views, the cache keeps the last view it
read of every function (``known``), which survives invalidation and is saved to
a disk snapshot (``FunctionSnapshot``) and loaded from it at start-up. When the
config store is unavailable, a function that cannot be re-read is served from
its last known view, so invokes of known functions keep working through a
config store outage, even across a restart. Only a function never seen raises
``StoreUnavailable``. A store answer always wins over the snapshot: once the
store is back, the next read replaces the last known view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from roost.frontend.invoke.function_snapshot import FunctionSnapshot, SnapshotContents
from roost.functions.aliases import Alias, AliasRepository
from roost.functions.attachments import AttachmentKind, AttachmentRepository
from roost.functions.lifecycle import needs_activation
from roost.functions.model import FunctionConfig
from roost.functions.repository import FunctionRecord, FunctionRepository
from roost.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

NETWORK_TAG = "roost:network"

# Told (account, function or None for the whole account, reservations changed).
Broadcast = Callable[[str, str | None, bool], None]


@dataclass(frozen=True)
class FunctionView:
    """One function as the invoke path sees it."""

    record: FunctionRecord
    versions: dict[str, FunctionConfig]
    aliases: dict[str, Alias]
    # EventInvokeConfig documents by qualifier, read by the async plane.
    event_invoke_configs: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def network(self) -> bool:
        """Whether the function may use the network (tag ``roost:network=none`` says no)."""
        return self.record.tags.get(NETWORK_TAG, "").lower() != "none"

    def settled(self) -> bool:
        """Whether no version is waiting for a state transition."""
        configs = [self.record.latest, *self.versions.values()]
        return not any(needs_activation(c) for c in configs)


class FunctionCache:
    """Function views by (account, name), plus each account's reserved total."""

    def __init__(
        self,
        functions: FunctionRepository,
        aliases: AliasRepository,
        attachments: AttachmentRepository | None = None,
        snapshot: FunctionSnapshot | None = None,
    ) -> None:
        self._functions = functions
        self._aliases = aliases
        self._attachments = attachments
        self._views: dict[tuple[str, str], FunctionView] = {}
        self._reserved: dict[str, int] = {}
        self._snapshot = snapshot
        # The last known good views and totals: the fallback while the store is down.
        self.known = snapshot.load() if snapshot is not None else SnapshotContents()
        self._listeners: list[Callable[[], None]] = []
        # Bumped by every invalidation: a load that began before one must not
        # put what it read (possibly older than the change) into the cache.
        self._generation = 0
        # In a cluster, where this node's invalidations go (every other node's
        # cache); see roost.cluster.invalidation_bus.
        self._broadcast: Broadcast | None = None

    def broadcast_to(self, broadcast: Broadcast) -> None:
        """Tell ``broadcast`` of every invalidation made here (not of those received)."""
        self._broadcast = broadcast

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every invalidation (e.g. to reconcile provisioning)."""
        self._listeners.append(listener)

    async def get(self, account_id: str, name: str) -> FunctionView | None:
        """The function's view, loading it on a miss; None if it does not exist.

        With the store unavailable, the last known view if there is one (else
        ``StoreUnavailable``).
        """
        key = (account_id, name)
        view = self._views.get(key)
        if view is not None and view.settled():
            return view
        generation = self._generation
        try:
            loaded = await self._load(account_id, name)
        except StoreUnavailable:
            fallback = view or self.known.views.get(key)
            if fallback is None:
                raise
            log.debug("store unavailable: serving %s/%s from its last known view", *key)
            return fallback
        if loaded is None:
            self._views.pop(key, None)
            if self.known.views.pop(key, None) is not None:
                self._save_known()
            return None
        if generation == self._generation:
            self._views[key] = loaded
        if self.known.views.get(key) != loaded:
            self.known.views[key] = loaded
            self._save_known()
        return loaded

    async def _load(self, account_id: str, name: str) -> FunctionView | None:
        """The function's view as stored now (None: no such function)."""
        record = await self._functions.get(account_id, name)
        if record is None:
            return None
        versions = {v.version: v for v in await self._functions.list_versions(account_id, name)}
        aliases = {a.name: a for a in await self._aliases.list(account_id, name)}
        configs: dict[str, Mapping[str, Any]] = {}
        if self._attachments is not None:
            for item in await self._attachments.list(
                AttachmentKind.EVENT_INVOKE_CONFIG, account_id, name
            ):
                configs[item.key.rsplit("/", 1)[1]] = item.value
        return FunctionView(record, versions, aliases, configs)

    def _save_known(self) -> None:
        if self._snapshot is not None:
            self._snapshot.save_soon(self.known)

    async def flush(self) -> None:
        """Write the snapshot now if a change is pending (at shutdown)."""
        if self._snapshot is not None:
            await self._snapshot.flush()

    async def event_invoke_config(
        self, account_id: str, function: str, qualifier: str
    ) -> Mapping[str, Any] | None:
        """``EventInvokeConfigSource``: the qualifier's document from the function's view."""
        view = await self.get(account_id, function)
        if view is None:
            return None
        return view.event_invoke_configs.get(qualifier)

    async def reserved_in_account(self, account_id: str) -> int:
        """Concurrency reserved by all the account's functions (one document, not a scan)."""
        total = self._reserved.get(account_id)
        if total is None:
            generation = self._generation
            try:
                total = (await self._functions.get_reservations(account_id)).total()
            except StoreUnavailable:
                # Static stability: the last total known (none known: nothing reserved).
                return self.known.reserved.get(account_id, 0)
            if generation == self._generation:
                self._reserved[account_id] = total
            if self.known.reserved.get(account_id) != total:
                self.known.reserved[account_id] = total
                self._save_known()
        return total

    async def refresh(self, account_id: str, name: str) -> FunctionView | None:
        """Load a function's view now (after a change the API did not see), so the
        next invoke does not wait for the store."""
        self._views.pop((account_id, name), None)
        return await self.get(account_id, name)

    def invalidate(
        self,
        account_id: str,
        name: str | None,
        *,
        reservations: bool = True,
        received: bool = False,
    ) -> None:
        """Forget a function (or, with no name, everything of the account), and the
        account's reserved total unless the change cannot have touched it.

        A change made through this node is broadcast to the cluster's other
        nodes; one ``received`` from them is not sent on.
        """
        if self._broadcast is not None and not received:
            self._broadcast(account_id, name, reservations)
        self._generation += 1
        if reservations:
            self._reserved.pop(account_id, None)
        if name is None:
            for key in [k for k in self._views if k[0] == account_id]:
                del self._views[key]
        else:
            self._views.pop((account_id, name), None)
        for listener in self._listeners:
            listener()

    def invalidate_all(self) -> None:
        """Forget every function and total (after invalidations may have been missed)."""
        self._generation += 1
        self._views.clear()
        self._reserved.clear()
        for listener in self._listeners:
            listener()
