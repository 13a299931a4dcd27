"""``DestinationSink``: where the async pollers report how an event ended.

It has the shape of the async data plane's ``OutcomeSink`` (``succeeded`` and
``failed``) and decides what to send, as AWS does:

- on success, the invocation record to ``DestinationConfig.OnSuccess``;
- on failure (``RetriesExhausted`` or ``EventAgeExceeded``), the record to
  ``DestinationConfig.OnFailure`` **and** the event to the function's
  ``DeadLetterConfig.TargetArn``: both apply when both are configured.

The event invoke configuration is the one of the qualifier the event was
invoked with (``$LATEST`` when unqualified); the dead-letter target belongs to
the version that ran (for an alias, the version it pointed to).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from roost.cancellation import all_ended
from roost.destinations.delivery import RecordDelivery
from roost.destinations.outbox import DeliveryNotParked
from roost.destinations.records import (
    AsyncEvent,
    Condition,
    InvocationResult,
    dead_letter_message,
    invocation_record,
)
from roost.functions.aliases import AliasRepository
from roost.functions.attachments import (
    AttachmentRepository,
    EventInvokeConfigSource,
    StoredEventInvokeConfigs,
)
from roost.functions.model import FunctionConfig
from roost.functions.naming import LATEST, is_version, parse_function_name
from roost.functions.repository import FunctionRepository
from roost.store.errors import StoreUnavailable
from roost.store.ports import ConfigStore

log = logging.getLogger(__name__)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DestinationSink:
    """Reports finished async events to their destinations and dead-letter targets.

    Both methods return once every applicable target has the message or delivery
    gave up (retried, then parked or logged), so a poller can await them before
    deleting the event from its queue. They raise only on cancellation,
    ``DeliveryNotParked``, or ``StoreUnavailable`` (the function's settings could
    not be read): the poller then keeps the event, which comes back later.
    """

    def __init__(
        self,
        store: ConfigStore,
        delivery: RecordDelivery,
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
        configs: EventInvokeConfigSource | None = None,
    ) -> None:
        # ``configs``: where DestinationConfig is read (the node's L1 function
        # cache, so a success with no destination reads no store); the store by default.
        self._configs = configs or StoredEventInvokeConfigs(AttachmentRepository(store))
        self._functions = FunctionRepository(store)
        self._aliases = AliasRepository(store)
        self._delivery = delivery
        self._clock = clock

    async def succeeded(self, event: AsyncEvent, result: InvocationResult) -> None:
        """``event`` ran successfully: send its record to ``OnSuccess``, if configured."""
        await self._guarded(event, self._report_success(event, result))

    async def failed(
        self, event: AsyncEvent, condition: Condition | str, result: InvocationResult | None
    ) -> None:
        """``event`` was dropped: record to ``OnFailure`` and event to the DLQ, as configured.

        ``condition`` is ``RetriesExhausted`` or ``EventAgeExceeded``; ``result``
        is the last attempt's, or None if no attempt reached the function.
        """
        await self._guarded(event, self._report_failure(event, Condition(condition), result))

    async def _guarded(self, event: AsyncEvent, report: Coroutine[Any, Any, None]) -> None:
        # An outcome that could neither be delivered nor parked, or whose targets
        # could not be read (the store is out), must not be lost: raising keeps the
        # event, which comes back (at-least-once). Anything else is a bug, logged
        # rather than retried for as long as the event may live.
        try:
            await report
        except (asyncio.CancelledError, DeliveryNotParked, StoreUnavailable):
            raise
        except Exception:
            log.exception("could not report the outcome of %s", event.request_id)

    async def _report_success(self, event: AsyncEvent, result: InvocationResult) -> None:
        destination = await self._destination(event, "OnSuccess")
        if destination is not None:
            record = invocation_record(event, Condition.SUCCESS, result, now=self._clock())
            await self._delivery.send_record(destination, record, Condition.SUCCESS)

    async def _report_failure(
        self, event: AsyncEvent, condition: Condition, result: InvocationResult | None
    ) -> None:
        if not condition.is_failure:
            raise ValueError(f"{condition} is not a failure condition")
        destination = await self._destination(event, "OnFailure")
        dead_letter_arn = await self._dead_letter_arn(event, result)
        sends = []
        if destination is not None:
            record = invocation_record(event, condition, result, now=self._clock())
            sends.append(self._delivery.send_record(destination, record, condition))
        if dead_letter_arn:
            message = dead_letter_message(event, condition, result)
            sends.append(self._delivery.send_dead_letter(dead_letter_arn, message))
        # Both run to their end before a failure of either is raised (keeping the
        # event): none is left running unwatched with its own failure unheard.
        await all_ended(*sends)

    async def _destination(self, event: AsyncEvent, when: str) -> str | None:
        """``DestinationConfig.{when}.Destination`` of the invoked qualifier, or None."""
        ref = parse_function_name(event.function_arn)
        account_id = ref.account_id or ""
        document = await self._configs.event_invoke_config(
            account_id, ref.name, ref.qualifier or LATEST
        )
        if document is None:
            return None
        config = document.get("DestinationConfig") or {}
        destination = (config.get(when) or {}).get("Destination")
        return str(destination) if destination else None

    async def _dead_letter_arn(
        self, event: AsyncEvent, result: InvocationResult | None
    ) -> str | None:
        """``DeadLetterConfig.TargetArn`` of the version that ran (or would have)."""
        config = await self._version_config(event, result)
        return config.dead_letter_target_arn if config is not None else None

    async def _version_config(
        self, event: AsyncEvent, result: InvocationResult | None
    ) -> FunctionConfig | None:
        ref = parse_function_name(event.function_arn)
        account_id = ref.account_id or ""
        version = ref.qualifier or LATEST
        if result is not None and result.executed_version:
            version = result.executed_version
        elif version != LATEST and not is_version(version):
            alias = await self._aliases.get(account_id, ref.name, version)
            if alias is None:
                return None
            version = alias.function_version
        if version == LATEST:
            record = await self._functions.get(account_id, ref.name)
            return record.latest if record is not None else None
        if not is_version(version):
            return None
        return await self._functions.get_version(account_id, ref.name, int(version))
