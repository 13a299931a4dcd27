"""Function state transitions: Pending -> Active and InProgress -> Successful.

A create or update is acknowledged once its configuration is durable, in state
``Pending`` (or ``LastUpdateStatus=InProgress``); the activator then checks the
code is in place and completes the transition, or marks it ``Failed`` with a
reason. Transitions left unfinished by a crash are completed by ``recover``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace

from roost.cancellation import within
from roost.functions.model import FunctionConfig, State, UpdateStatus, new_revision_id
from roost.functions.repository import FunctionRecord, FunctionRepository
from roost.store.errors import ConditionFailed
from roost.store.ports import CodeStore

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY_S = 0.05
MAX_RETRY_DELAY_S = 5.0


def needs_activation(config: FunctionConfig) -> bool:
    """Whether a version has a transition still to complete."""
    return config.state is State.PENDING or config.last_update_status is UpdateStatus.IN_PROGRESS


def backoff_delays(first_s: float, cap_s: float) -> Iterator[float]:
    """Delays between retries: ``first_s``, doubling each time, never above ``cap_s``."""
    delay = min(first_s, cap_s)
    while True:
        yield delay
        delay = min(delay * 2, cap_s)


class FunctionActivator:
    """Completes pending state transitions in the background.

    A transition that cannot be completed now (a concurrent write, the store failing)
    is retried with exponential backoff until it is done, the function is gone or the
    activator is stopped.
    """

    def __init__(
        self,
        functions: FunctionRepository,
        code: CodeStore,
        *,
        first_retry_delay_s: float = FIRST_RETRY_DELAY_S,
        max_retry_delay_s: float = MAX_RETRY_DELAY_S,
    ) -> None:
        self._functions = functions
        self._code = code
        self._first_delay_s = first_retry_delay_s
        self._max_delay_s = max_retry_delay_s
        self._tasks: set[asyncio.Task[bool]] = set()
        self._stopping = asyncio.Event()
        self._listeners: list[Callable[[str, str], None]] = []

    def subscribe(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(account_id, name)`` after a function's transitions completed."""
        self._listeners.append(listener)

    def schedule(self, account_id: str, name: str) -> None:
        """Complete the function's pending transitions soon (fire and forget)."""
        task = asyncio.get_running_loop().create_task(self.activate(account_id, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def activate(self, account_id: str, name: str) -> bool:
        """Complete every pending transition of one function (idempotent).

        Retries until done; returns whether there was anything to complete (False
        also when the function is gone or the activator stopped first).
        """
        delays = backoff_delays(self._first_delay_s, self._max_delay_s)
        while True:
            outcome = await self._attempt(account_id, name)
            if outcome:
                for listener in self._listeners:
                    listener(account_id, name)
            if outcome is not None:
                return outcome
            if await self._stopped_within(next(delays)):
                return False

    async def _attempt(self, account_id: str, name: str) -> bool | None:
        """One read and conditional write; None when it has to be tried again."""
        try:
            record = await self._functions.get(account_id, name)
            if record is None:
                return False
            return await self._activate(record)
        except ConditionFailed:
            return None  # Someone else wrote the record; read it again.
        except Exception:
            log.exception("activating %s/%s failed; retrying", account_id, name)
            return None

    async def _stopped_within(self, delay_s: float) -> bool:
        """Wait ``delay_s``, or less if the activator is stopped; whether it was."""
        try:
            await within(self._stopping.wait(), delay_s)
        except TimeoutError:
            return False
        return True

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
        # AWS gives a version a new RevisionId when its transition completes.
        return replace(config, **changes, revision_id=new_revision_id())  # type: ignore[arg-type]

    async def recover(self) -> int:
        """Finish transitions a previous process left pending; returns how many."""
        candidates = [
            r
            for r in await self._functions.list_all()
            if needs_activation(r.latest) or r.last_version > 0
        ]
        completed = 0
        for record in candidates:
            outcome = await self._attempt(record.account_id, record.name)
            if outcome is None:
                # Not now: retry in the background rather than hold up the start.
                self.schedule(record.account_id, record.name)
            else:
                completed += outcome
        return completed

    async def stop(self) -> None:
        """Let scheduled activations finish their attempt in progress; no more retries."""
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
