"""The L1 function cache's disk snapshot: the talk's "disk as a backup".

The invoke path keeps the last configuration it read of every function it
served (``FunctionView``) and each account's reserved total. This module writes
them to one JSON file in the data directory whenever they change, and reads
them back when a node starts, so a node restarted while the config store is
down still serves the functions it knew (static stability). The snapshot is
only a fallback: while the store answers, the store wins.

Writes go to a temporary file that is then renamed over the old one, so a crash
mid-write leaves the previous snapshot, never half of one. Saving is coalesced:
many changes in a burst cost one write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.cancellation import cancel_and_wait
from roost.functions.aliases import Alias
from roost.functions.model import FunctionConfig
from roost.functions.repository import FunctionRecord

if TYPE_CHECKING:
    from roost.frontend.invoke.function_cache import FunctionView

log = logging.getLogger(__name__)

SNAPSHOT_FILE_NAME = "function-cache.json"
# Bumped when the layout changes; a snapshot of another format is ignored.
SNAPSHOT_FORMAT = 1
# How long a change waits for more before the snapshot is written.
SAVE_DELAY_S = 0.2

ViewKey = tuple[str, str]


@dataclass
class SnapshotContents:
    """What a snapshot holds: function views by (account, name), reserved totals."""

    views: dict[ViewKey, FunctionView] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)


def encode(contents: SnapshotContents) -> dict[str, Any]:
    """The JSON document of ``contents``."""
    return {
        "format": SNAPSHOT_FORMAT,
        "functions": [_encode_view(view) for view in contents.views.values()],
        "reserved": dict(contents.reserved),
    }


def decode(document: Mapping[str, Any]) -> SnapshotContents:
    """Inverse of ``encode``; raises ``ValueError`` for another format."""
    if document.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unknown function snapshot format {document.get('format')!r}")
    contents = SnapshotContents(reserved={k: int(v) for k, v in document["reserved"].items()})
    for entry in document["functions"]:
        view = _decode_view(entry)
        contents.views[(view.record.account_id, view.record.name)] = view
    return contents


def _encode_view(view: FunctionView) -> dict[str, Any]:
    return {
        "record": view.record.to_document(),
        "revision": view.record.store_revision,
        "versions": [config.to_document() for config in view.versions.values()],
        "aliases": [alias.to_document() for alias in view.aliases.values()],
        "event_invoke_configs": {q: dict(c) for q, c in view.event_invoke_configs.items()},
    }


def _decode_view(entry: Mapping[str, Any]) -> FunctionView:
    # Imported here: the cache module imports this one.
    from roost.frontend.invoke.function_cache import FunctionView

    versions = [FunctionConfig.from_document(d) for d in entry["versions"]]
    aliases = [Alias.from_document(d) for d in entry["aliases"]]
    return FunctionView(
        FunctionRecord.from_document(entry["record"], entry["revision"]),
        {config.version: config for config in versions},
        {alias.name: alias for alias in aliases},
        dict(entry.get("event_invoke_configs", {})),
    )


class FunctionSnapshot:
    """Reads and (coalesced, atomically) writes the snapshot file at ``path``."""

    def __init__(self, path: Path, save_delay_s: float = SAVE_DELAY_S) -> None:
        self.path = path
        self._save_delay_s = save_delay_s
        self._pending: SnapshotContents | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FunctionSnapshot:
        """The snapshot of the node whose data directory is ``data_dir``."""
        return cls(data_dir / SNAPSHOT_FILE_NAME)

    def load(self) -> SnapshotContents:
        """The snapshot on disk; empty if there is none or it cannot be read."""
        try:
            return decode(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return SnapshotContents()
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable function snapshot %s: %s", self.path, error)
            return SnapshotContents()

    def save_soon(self, contents: SnapshotContents) -> None:
        """Write ``contents`` shortly (a later call before the write replaces it).

        Without a running event loop (a synchronous caller), writes at once.
        """
        self._pending = SnapshotContents(dict(contents.views), dict(contents.reserved))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_pending()
            return
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._save_later(), name="function-snapshot")

    async def flush(self) -> None:
        """Write what is pending now (at shutdown, and in tests)."""
        if self._task is not None and not self._task.done():
            await cancel_and_wait(self._task)
        await asyncio.to_thread(self._write_pending)

    async def _save_later(self) -> None:
        await asyncio.sleep(self._save_delay_s)
        await asyncio.to_thread(self._write_pending)

    def _write_pending(self) -> None:
        contents, self._pending = self._pending, None
        if contents is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(encode(contents)))
            os.replace(temporary, self.path)
        except OSError as error:
            # The snapshot is a fallback: failing to write it must not fail invokes.
            log.warning("could not write function snapshot %s: %s", self.path, error)
