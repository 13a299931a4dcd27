"""FilterCriteria: filters ORed, limits, and each source's record preparation.

Behaviour from https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html
(up to five filters ORed; SQS body and stream data format tables).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

import roost.esm.filtering.pattern as pattern_module
from roost.api.errors import InvalidParameterValueException, ValidationException
from roost.esm.filtering import (
    EventSourceKind,
    FilterCriteria,
    InvalidFilterPattern,
    compile_pattern,
    parse_filter_criteria,
)
from tests.esm.filtering.cases import b64json, b64text
from tests.esm.filtering.test_lambda_examples import kafka, kinesis, sqs

SQS = EventSourceKind.SQS


def criteria(*patterns: Any, source: EventSourceKind = SQS) -> FilterCriteria:
    filters = [{"Pattern": json.dumps(pattern)} for pattern in patterns]
    return parse_filter_criteria({"Filters": filters}, source)


@pytest.mark.parametrize("raw", [None, {}, {"Filters": []}])
def test_no_filters_let_every_record_through(raw: Any) -> None:
    parsed = parse_filter_criteria(raw, SQS)

    assert parsed.matches(sqs("anything"))
    assert parsed.to_wire() == {"Filters": []}


def test_filters_are_ored() -> None:
    parsed = criteria({"body": {"kind": ["a"]}}, {"body": {"kind": ["b"]}})
    records = [sqs({"kind": kind}) for kind in ("a", "b", "c", "a")]

    kept, dropped = parsed.split(records)

    assert [json.loads(r["body"])["kind"] for r in kept] == ["a", "b", "a"]
    assert [json.loads(r["body"])["kind"] for r in dropped] == ["c"]


def test_more_than_five_filters_are_refused() -> None:
    six = {"Filters": [{"Pattern": json.dumps({"body": {"n": [n]}})} for n in range(6)]}

    with pytest.raises(InvalidParameterValueException) as caught:
        parse_filter_criteria(six, SQS)

    assert "limit of 5" in caught.value.message
    assert len(parse_filter_criteria(six, SQS, max_filters=10).filters) == 6


def test_a_pattern_longer_than_4096_characters_is_refused() -> None:
    long_value = "x" * 4100
    raw = {"Filters": [{"Pattern": json.dumps({"body": [long_value]})}]}

    with pytest.raises(ValidationException) as caught:
        parse_filter_criteria(raw, SQS)

    assert "Member must have length less than or equal to 4096" in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"Filters": [{}]}, id="no-pattern"),
        pytest.param({"Filters": [{"Pattern": 5}]}, id="pattern-not-string"),
        pytest.param({"Filters": "x"}, id="filters-not-list"),
        pytest.param({"Filters": [{"Pattern": "{}"}]}, id="empty-pattern"),
    ],
)
def test_malformed_criteria_are_invalid_patterns(raw: Any) -> None:
    with pytest.raises(InvalidFilterPattern):
        parse_filter_criteria(raw, SQS)


def test_to_wire_echoes_the_patterns_as_given() -> None:
    raw = {"Filters": [{"Pattern": '{ "body" : { "a" : [ 1, 2 ] } }'}]}

    assert parse_filter_criteria(raw, SQS).to_wire() == raw


def test_sqs_json_body_is_decoded_before_matching() -> None:
    parsed = criteria({"body": {"RequestCode": ["BBBB"], "Nested": {"Depth": [2]}}})

    assert parsed.matches(sqs('{\n "RequestCode": "BBBB", "Nested": {"Depth": 2}\n}'))
    assert not parsed.matches(sqs('{"RequestCode": "AAAA", "Nested": {"Depth": 2}}'))


def test_sqs_plain_body_matches_plain_string_patterns() -> None:
    parsed = criteria({"body": [{"prefix": "Hello"}]})

    assert parsed.matches(sqs("Hello, world"))
    assert not parsed.matches(sqs("Goodbye"))


def test_sqs_json_pattern_never_matches_a_plain_body() -> None:
    # Even a pattern a plain string would satisfy vacuously (nothing exists in it).
    parsed = criteria({"body": {"field": [{"exists": False}]}})

    assert not parsed.matches(sqs("not json at all"))
    assert parsed.matches(sqs({"other": 1}))


def test_sqs_plain_pattern_never_matches_a_json_body() -> None:
    parsed = criteria({"body": [{"anything-but": "x"}]})

    assert not parsed.matches(sqs({"a": 1}))
    assert parsed.matches(sqs("y"))


def test_sqs_body_without_a_body_pattern_filters_on_metadata_only() -> None:
    parsed = criteria({"attributes": {"SenderId": ["AIDAEXAMPLE"]}})

    assert parsed.matches(sqs("plain text"))
    assert parsed.matches(sqs({"json": True}))


def test_sqs_scalar_json_body_is_treated_as_text() -> None:
    assert criteria({"body": ["123"]}).matches(sqs("123"))
    assert not criteria({"body": [123]}).matches(sqs("123"))


def test_one_filter_per_body_format_covers_both_kinds_of_body() -> None:
    parsed = criteria({"body": {"a": [1]}}, {"body": ["ping"]})

    assert parsed.split([sqs({"a": 1}), sqs("ping"), sqs("pong")])[0] == [
        sqs({"a": 1}),
        sqs("ping"),
    ]


def test_kinesis_data_is_base64_then_json_decoded() -> None:
    parsed = criteria(
        {"data": {"order": {"quantity": [{"numeric": [">=", 1000]}]}}},
        source=EventSourceKind.KINESIS,
    )

    assert parsed.matches(kinesis(b64json({"order": {"quantity": 1000}})))
    assert not parsed.matches(kinesis(b64json({"order": {"quantity": 999}})))


def test_kinesis_data_that_is_not_json_matches_no_data_filter() -> None:
    data_filter = criteria({"data": {"a": [{"exists": False}]}}, source=EventSourceKind.KINESIS)
    metadata_filter = criteria({"partitionKey": ["1"]}, source=EventSourceKind.KINESIS)

    assert not data_filter.matches(kinesis(b64text("plain text")))
    assert not data_filter.matches(kinesis("%%% not base64 %%%"))
    assert metadata_filter.matches(kinesis(b64text("plain text")))


@pytest.mark.parametrize(
    ("source", "pattern"),
    [
        (EventSourceKind.KINESIS, {"data": [{"prefix": "x"}]}),
        (EventSourceKind.DYNAMODB, {"dynamodb": ["x"]}),
        (EventSourceKind.KINESIS, {"$or": [{"data": ["x"]}, {"partitionKey": ["1"]}]}),
    ],
)
def test_stream_data_patterns_must_be_json_objects(source: EventSourceKind, pattern: Any) -> None:
    with pytest.raises(InvalidFilterPattern):
        criteria(pattern, source=source)


def test_kafka_value_is_decoded_as_json_or_kept_as_text() -> None:
    parsed = criteria(
        {"value": {"device_ID": [{"prefix": "AB"}]}},
        {"value": [{"wildcard": "*-urgent"}]},
        source=EventSourceKind.KAFKA,
    )

    assert parsed.matches(kafka(b64json({"device_ID": "AB1234"})))
    assert parsed.matches(kafka(b64text("disk-full-urgent")))
    assert not parsed.matches(kafka(b64text("disk-full")))
    assert not parsed.matches(kafka(base64_of_invalid_utf8()))


def base64_of_invalid_utf8() -> str:
    return base64.b64encode(b"\xff\xfe").decode()


def test_matching_leaves_the_record_untouched() -> None:
    record = kinesis(b64json({"order": {"type": "buy"}}))
    before = copy.deepcopy(record)

    kept, _ = criteria(
        {"data": {"order": {"type": ["buy"]}}}, source=EventSourceKind.KINESIS
    ).split([record])

    assert kept == [before]
    assert kept[0] is record


def test_matching_does_not_parse_the_pattern_again(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = criteria({"body": {"a": [{"numeric": [">", 1]}]}})

    def fail(text: str) -> Any:
        raise AssertionError("pattern parsed while matching")

    monkeypatch.setattr(pattern_module, "load_pattern_json", fail)

    assert parsed.matches(sqs({"a": 2}))


@pytest.mark.parametrize(
    ("arn", "kind"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:queue", EventSourceKind.SQS),
        ("arn:aws:kinesis:us-east-1:123456789012:stream/s", EventSourceKind.KINESIS),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024", EventSourceKind.DYNAMODB),
        ("arn:aws:kafka:us-east-1:123456789012:cluster/c/uuid", EventSourceKind.KAFKA),
        (None, EventSourceKind.KAFKA),
        ("arn:aws:mq:us-east-1:123456789012:broker:b", None),
    ],
)
def test_source_kind_from_arn(arn: str | None, kind: EventSourceKind | None) -> None:
    assert EventSourceKind.from_arn(arn) is kind


def test_a_body_nested_too_deeply_for_the_decoder_is_plain_text() -> None:
    deep = "[" * 100_000 + "]" * 100_000

    assert criteria({"body": [{"prefix": "[[["}]}).matches(sqs(deep))
    assert not criteria({"body": {"a": [1]}}).matches(sqs(deep))


def test_deeply_nested_event_arrays_are_flattened() -> None:
    nested: list[Any] = ["needle"]
    for _ in range(5_000):
        nested = [nested]

    assert compile_pattern('{"v": ["needle"]}').matches({"v": nested})
