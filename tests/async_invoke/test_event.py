"""The queued event's codec."""

from __future__ import annotations

import json

import pytest

from roost.async_invoke.event import AsyncEvent, MalformedEvent, decode, encode


def sample(payload: bytes = b'{"a": 1}', **overrides: object) -> AsyncEvent:
    values: dict[str, object] = {
        "request_id": "rid-1",
        "account_id": "000000000000",
        "region": "us-east-1",
        "function_name": "fn",
        "qualifier": "live",
        "payload": payload,
        "received_at_ms": 1_700_000_000_000,
        "invoke_count": 1,
        "client_context": '{"custom": {"k": "v"}}',
    }
    values.update(overrides)
    return AsyncEvent(**values)  # type: ignore[arg-type]


def test_an_event_survives_the_round_trip() -> None:
    event = sample()

    assert decode(encode(event)) == event


def test_a_json_payload_is_stored_as_readable_text() -> None:
    body = json.loads(encode(sample(b'{"name": "roost"}')))

    assert body["payload"] == '{"name": "roost"}'
    assert "payloadBase64" not in body


def test_bytes_that_are_not_utf8_are_stored_as_base64() -> None:
    event = sample(b"\xff\xfe\x00binary", qualifier=None, client_context=None)

    body = json.loads(encode(event))

    assert "payload" not in body
    assert decode(encode(event)) == event


def test_an_empty_payload_round_trips() -> None:
    assert decode(encode(sample(b""))).payload == b""


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"requestId": "x"}', b'{"payloadBase64": "***", "requestId": "x"}'],
)
def test_a_malformed_body_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode(body)


def test_age_and_invoke_count() -> None:
    event = sample(invoke_count=0)

    assert event.age_s(event.received_at_ms + 1500) == 1.5
    assert event.invoked_once_more().invoke_count == 1
    assert event.invoke_count == 0
