"""The invoke orchestrator: batchItemFailures by AWS's rules, and invoke failures."""

from __future__ import annotations

import asyncio
import json

import pytest

from roost.api.errors import AwsError, ResourceNotFoundException, TooManyRequestsException
from roost.async_invoke.outcome import InvokeResult
from roost.esm.mapping import EventSourceMapping
from roost.esm.orchestrator import BatchVerdict, InvokeOrchestrator, parse_batch_item_failures
from tests.esm.support import FakeConnector, mapping, record

IDS = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (b"", set()),
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": null}', set()),
        (b'{"batchItemFailures": []}', set()),
        (b'"done"', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}', {"a", "c"}),
    ],
)
def test_a_partial_response_names_the_failed_records(response: bytes, failed: set[str]) -> None:
    assert parse_batch_item_failures(response, IDS) == failed


@pytest.mark.parametrize(
    "response",
    [
        b"not json",
        b'{"batchItemFailures": "b"}',
        b'{"batchItemFailures": ["b"]}',
        b'{"batchItemFailures": [{"itemIdentifier": ""}]}',
        b'{"batchItemFailures": [{"itemIdentifier": null}]}',
        b'{"batchItemFailures": [{"itemId": "b"}]}',
        b'{"batchItemFailures": [{"itemIdentifier": "unknown"}]}',
        b'{"batchItemFailures": [{"itemIdentifier": 7}]}',
    ],
)
def test_a_malformed_partial_response_fails_the_whole_batch(response: bytes) -> None:
    assert parse_batch_item_failures(response, IDS) is None


class ScriptedInvoker:
    def __init__(self, result: InvokeResult | Exception) -> None:
        self.result = result
        self.payloads: list[dict[str, object]] = []

    async def invoke(self, mapping: EventSourceMapping, payload: bytes) -> InvokeResult:
        self.payloads.append(json.loads(payload))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def run(result: InvokeResult | Exception, **settings: object) -> tuple[BatchVerdict, set[str]]:
    invoker = ScriptedInvoker(result)
    batch = [record("a"), record("b")]
    outcome = asyncio.run(
        InvokeOrchestrator(invoker).run(mapping(**settings), FakeConnector(), batch)
    )
    assert invoker.payloads[0]["Records"] == [dict(r.event_record) for r in batch]
    return outcome.verdict, set(outcome.failed_ids)


def ok(payload: bytes, error: str | None = None) -> InvokeResult:
    return InvokeResult(200, payload, error, "$LATEST")


def test_verdicts() -> None:
    partial = ok(b'{"batchItemFailures": [{"itemIdentifier": "b"}]}')
    reports = {"function_response_types": ("ReportBatchItemFailures",)}
    assert run(ok(b"null")) == (BatchVerdict.SUCCEEDED, set())
    # Without ReportBatchItemFailures the response is not read.
    assert run(partial) == (BatchVerdict.SUCCEEDED, set())
    assert run(partial, **reports) == (BatchVerdict.PARTIAL, {"b"})
    assert run(ok(b"bad", **{}), **reports) == (BatchVerdict.FUNCTION_ERROR, {"a", "b"})
    assert run(ok(b"{}", "Unhandled")) == (BatchVerdict.FUNCTION_ERROR, {"a", "b"})
    assert run(TooManyRequestsException("slow down"))[0] is BatchVerdict.THROTTLED
    assert run(ResourceNotFoundException("gone"))[0] is BatchVerdict.FUNCTION_GONE
    assert run(AwsError("boom", code="ServiceException"))[0] is BatchVerdict.SYSTEM_ERROR
