"""Function state transitions: Pending -> Active and InProgress -> Successful.

A create or update is acknowledged once its configuration is durable, in state
``Pending`` (or ``LastUpdateStatus=InProgress``); the activator then checks the
code is in place and completes the transition, or marks it ``Failed`` with a
reason. Transitions left unfinished by a crash are completed by ``recover``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from roost.functions.model import FunctionConfig, State, UpdateStatus
from roost.functions.repository import FunctionRecord, FunctionRepository
from roost.store.errors import ConditionFailed
from roost.store.ports import CodeStore

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 10


def needs_activation(config: FunctionConfig) -> bool:
    """Whether a version has a transition still to complete."""
    return config.state is State.PENDING or config.last_update_status is UpdateStatus.IN_PROGRESS


class FunctionActivator:
    """Completes pending state transitions in the background."""

    def __init__(self, functions: FunctionRepository, code: CodeStore) -> None:
        self._functions = functions
        self._code = code
        self._tasks: set[asyncio.Task[bool]] = set()

    def schedule(self, account_id: str, name: str) -> None:
        """Complete the function's pending transitions soon (fire and forget)."""
        task = asyncio.get_running_loop().create_task(self.activate(account_id, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def activate(self, account_id: str, name: str) -> bool:
        """Complete every pending transition of one function (idempotent).

        Returns whether there was anything to complete.
        """
        for _ in range(_MAX_ATTEMPTS):
            record = await self._functions.get(account_id, name)
            if record is None:
                return False
            try:
                return await self._activate(record)
            except ConditionFailed:
                continue  # Someone else wrote the record; read it again.
            except Exception:
                log.exception("activating %s/%s failed", account_id, name)
                return False
        return False

    async def _activate(self, record: FunctionRecord) -> bool:
        pending = [
            v
            for v in await self._functions.list_versions(record.account_id, record.name)
            if needs_activation(v)
        ]
        if not pending and not needs_activation(record.latest):
            return False
        versions = [await self._complete(v) for v in pending]
        latest = record.latest
        if needs_activation(latest):
            latest = await self._complete(latest)
        # One batch, conditional on the record: a function deleted or changed since
        # it was read gets nothing written back.
        await self._functions.save(replace(record, latest=latest), versions)
        return True

    async def _complete(self, config: FunctionConfig) -> FunctionConfig:
        ready = await self._code.exists(config.code.sha256_hex)
        reason = None if ready else "The function's deployment package could not be found."
        changes: dict[str, object] = {}
        if config.state is State.PENDING:
            changes.update(
                state=State.ACTIVE if ready else State.FAILED,
                state_reason=reason,
                state_reason_code=None if ready else "InvalidZipFileException",
            )
        if config.last_update_status is UpdateStatus.IN_PROGRESS or config.state is State.PENDING:
            changes.update(
                last_update_status=UpdateStatus.SUCCESSFUL if ready else UpdateStatus.FAILED,
                last_update_status_reason=reason,
                last_update_status_reason_code=None if ready else "InvalidZipFileException",
            )
            if ready and config.state is State.FAILED:
                changes.update(state=State.ACTIVE, state_reason=None, state_reason_code=None)
        return replace(config, **changes)  # type: ignore[arg-type]

    async def recover(self) -> int:
        """Finish transitions a previous process left pending; returns how many."""
        candidates = [
            r
            for r in await self._functions.list_all()
            if needs_activation(r.latest) or r.last_version > 0
        ]
        completed = 0
        for record in candidates:
            completed += await self.activate(record.account_id, record.name)
        return completed

    async def stop(self) -> None:
        """Wait for scheduled activations to finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
