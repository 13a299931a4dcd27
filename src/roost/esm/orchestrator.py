"""The invoke orchestrator: one batch, one synchronous invoke, one verdict.

It builds the event from a batch (the connector knows its source's envelope),
invokes the mapping's function through the sync path with ``RequestResponse``
semantics (``BatchInvoker``; the node's is ``SyncPathBatchInvoker``), and turns
what came back into a ``BatchOutcome``: which records succeeded and which
failed. With ``FunctionResponseTypes: ["ReportBatchItemFailures"]`` the
response's ``batchItemFailures`` name the failed records, following AWS's rules
(``parse_batch_item_failures``).
"""

from __future__ import annotations

import enum
import json
import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from roost.api.errors import AwsError, ResourceNotFoundException, TooManyRequestsException
from roost.async_invoke.outcome import InvokeResult
from roost.esm.connector import SourceConnector, SourceRecord
from roost.esm.mapping import EventSourceMapping
from roost.frontend.context import RequestContext
from roost.frontend.invoke.handler import InvokeHandlers
from roost.functions.naming import parse_function_name

log = logging.getLogger(__name__)


class BatchInvoker(Protocol):
    """Runs a mapping's function once on an event (``RequestResponse``)."""

    async def invoke(self, mapping: EventSourceMapping, payload: bytes) -> InvokeResult:
        """The function's result, errors included; raises ``AwsError`` when it could not
        run (``TooManyRequestsException`` for a throttle, ``ResourceNotFoundException``
        when the function is gone). Cancelling abandons the wait, not the invoke."""


class SyncPathBatchInvoker:
    """``BatchInvoker`` over the very path a sync ``Invoke`` takes (counting, assignment,
    placement, environment), so throttles and reserved concurrency apply as on AWS."""

    def __init__(self, handlers: InvokeHandlers) -> None:
        self._handlers = handlers

    async def invoke(self, mapping: EventSourceMapping, payload: bytes) -> InvokeResult:
        """Resolve the mapping's function (and qualifier) as it is now and run it once."""
        ref = parse_function_name(mapping.function_arn)
        ctx = RequestContext(
            account_id=mapping.account_id,
            access_key_id="",
            request_id=str(uuid.uuid4()),
            region=mapping.region,
            operation="Invoke",
        )
        view, config = await self._handlers.resolve(ctx, ref.name, ref.qualifier)
        outcome = await self._handlers.execute(ctx, view, config, ref.qualifier, payload, None)
        return InvokeResult(200, outcome.payload, outcome.function_error, config.version)


class BatchVerdict(enum.Enum):
    """How an invoke of a batch went."""

    SUCCEEDED = "succeeded"  # every record is done
    PARTIAL = "partial"  # batchItemFailures named some records
    FUNCTION_ERROR = "function-error"  # the function failed, or answered an invalid response
    THROTTLED = "throttled"  # the function could not run now (TooManyRequests)
    FUNCTION_GONE = "function-gone"  # the function (or qualifier) does not exist
    SYSTEM_ERROR = "system-error"  # anything else kept the function from running

    @property
    def ran(self) -> bool:
        """Whether the function ran (its result says something about the records)."""
        return self in (BatchVerdict.SUCCEEDED, BatchVerdict.PARTIAL, BatchVerdict.FUNCTION_ERROR)


@dataclass(frozen=True)
class BatchOutcome:
    """The verdict on a batch and the ids of the records that failed (all, for a failure)."""

    verdict: BatchVerdict
    failed_ids: frozenset[str]
    detail: str = ""
    duration_s: float = 0.0
    # What the function returned, when it ran (a tumbling window's state, a
    # failure record's ``responseContext``).
    result: InvokeResult | None = None

    def failed(self, record: SourceRecord) -> bool:
        """Whether ``record`` must be tried again."""
        return record.record_id in self.failed_ids


def parse_batch_item_failures(payload: bytes, ids: Collection[str]) -> frozenset[str] | None:
    """The failed ids a partial batch response names; None: the whole batch failed.

    AWS's rules: a null or empty response, a response without
    ``batchItemFailures``, or a null or empty list is a complete success.
    Invalid JSON (or JSON nested too deep to parse), a list that is not a
    list, an entry that is not an object, an ``itemIdentifier`` that is
    missing (a bad key name), null, empty, not a string or not one of the
    batch's ids is a complete failure.
    """
    text = payload.strip()
    if not text:
        return frozenset()
    try:
        response: Any = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(response, dict):
        return frozenset()
    failures = response.get("batchItemFailures")
    if failures is None:
        return frozenset()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier or identifier not in ids:
            return None
        failed.add(identifier)
    return frozenset(failed)


class InvokeOrchestrator:
    """Invokes a mapping's function with a batch and judges the result."""

    def __init__(self, invoker: BatchInvoker) -> None:
        self._invoker = invoker

    async def run(
        self,
        mapping: EventSourceMapping,
        connector: SourceConnector,
        batch: Sequence[SourceRecord],
    ) -> BatchOutcome:
        """Invoke once; never raises for a failed invoke (only on cancellation)."""
        ids = frozenset(record.record_id for record in batch)
        return await self.invoke(mapping, connector.payload(batch), ids)

    async def invoke(
        self, mapping: EventSourceMapping, event: Mapping[str, Any], ids: frozenset[str]
    ) -> BatchOutcome:
        """Invoke once with ``event`` (records ``ids``, for a partial batch response)."""
        try:
            # Inside: an event that cannot be encoded (a window state nested too
            # deep) fails this batch, not the lane that runs it.
            payload = json.dumps(event, separators=(",", ":")).encode()
            result = await self._invoker.invoke(mapping, payload)
        except TooManyRequestsException as error:
            return BatchOutcome(BatchVerdict.THROTTLED, ids, error.message)
        except ResourceNotFoundException as error:
            return BatchOutcome(BatchVerdict.FUNCTION_GONE, ids, error.message)
        except AwsError as error:
            return BatchOutcome(BatchVerdict.SYSTEM_ERROR, ids, error.message)
        except Exception as error:
            log.exception("mapping %s: invoke failed", mapping.uuid)
            return BatchOutcome(BatchVerdict.SYSTEM_ERROR, ids, repr(error))
        try:
            return judge(mapping, result, ids)
        except Exception:
            # Whatever the function answered must not kill the caller's lane.
            log.exception("mapping %s: the function's response could not be read", mapping.uuid)
            detail = "the function's response could not be read: whole batch fails"
            return BatchOutcome(BatchVerdict.FUNCTION_ERROR, ids, detail, result=result)


def judge(mapping: EventSourceMapping, result: InvokeResult, ids: frozenset[str]) -> BatchOutcome:
    """The outcome of an invoke that ran."""
    if result.function_error:
        detail = _error_text(result.payload)
        return BatchOutcome(BatchVerdict.FUNCTION_ERROR, ids, detail, result=result)
    if not mapping.settings.reports_batch_item_failures:
        return BatchOutcome(BatchVerdict.SUCCEEDED, frozenset(), result=result)
    failed = parse_batch_item_failures(result.payload, ids)
    if failed is None:
        detail = "invalid partial batch response: whole batch fails"
        return BatchOutcome(BatchVerdict.FUNCTION_ERROR, ids, detail, result=result)
    if not failed:
        return BatchOutcome(BatchVerdict.SUCCEEDED, frozenset(), result=result)
    return BatchOutcome(BatchVerdict.PARTIAL, failed, result=result)


def _error_text(payload: bytes) -> str:
    try:
        error = json.loads(payload)
        return f"{error.get('errorType')}: {error.get('errorMessage')}"
    except (ValueError, AttributeError, RecursionError):
        return payload[:200].decode(errors="replace")
