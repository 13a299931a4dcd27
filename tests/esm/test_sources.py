"""Recognising the event source from an ARN or a self-managed Kafka cluster."""

from __future__ import annotations

import pytest

from roost.api.errors import InvalidParameterValueException
from roost.esm.sources import EventSource, SourceType, source_of_arn, source_of_kafka

ACCOUNT = "000000000000"


@pytest.mark.parametrize(
    ("arn", "kind", "fifo"),
    [
        (f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders", SourceType.SQS, False),
        (f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders.fifo", SourceType.SQS, True),
        (f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks", SourceType.KINESIS, False),
        (
            f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks/consumer/c1:1700000000",
            SourceType.KINESIS,
            False,
        ),
        (
            f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T/stream/2024-01-01T00:00:00.000",
            SourceType.DYNAMODB_STREAMS,
            False,
        ),
    ],
)
def test_arn_sources(arn: str, kind: SourceType, fifo: bool) -> None:
    source = source_of_arn(arn)

    assert (source.type, source.arn, source.fifo, source.key) == (kind, arn, fifo, arn)
    assert source.self_managed_wire() is None


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:s3:::bucket",
        f"arn:aws:sns:us-east-1:{ACCOUNT}:topic",
        f"arn:aws:kafka:us-east-1:{ACCOUNT}:cluster/c/uuid",
        f"arn:aws:kinesis:us-east-1:{ACCOUNT}:table/x",
    ],
)
def test_unrecognized_sources(arn: str) -> None:
    with pytest.raises(InvalidParameterValueException, match="Unrecognized event source"):
        source_of_arn(arn)


def test_a_dynamodb_table_is_not_its_stream() -> None:
    with pytest.raises(InvalidParameterValueException, match="Stream not found"):
        source_of_arn(f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T")


def test_self_managed_kafka() -> None:
    source = source_of_kafka({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["b:9092", "a:9092"]}})

    assert source.type is SourceType.KAFKA and source.arn is None
    assert source.key == "kafka://a:9092,b:9092"  # the same cluster whatever the order
    assert source.self_managed_wire() == {
        "Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["b:9092", "a:9092"]}
    }
    assert EventSource.from_document(source.to_document()) == source


@pytest.mark.parametrize(
    "endpoints",
    [
        {},
        {"KAFKA_BOOTSTRAP_SERVERS": []},
        {"OTHER": ["a:1"]},
        {"KAFKA_BOOTSTRAP_SERVERS": [f"b{i}:9092" for i in range(11)]},
    ],
)
def test_bad_kafka_endpoints(endpoints: dict[str, list[str]]) -> None:
    with pytest.raises(InvalidParameterValueException):
        source_of_kafka({"Endpoints": endpoints})


def test_which_sources_are_positioned() -> None:
    assert [t for t in SourceType if t.is_positioned] == [
        SourceType.KINESIS,
        SourceType.DYNAMODB_STREAMS,
        SourceType.KAFKA,
    ]
    assert [t for t in SourceType if t.is_stream] == [
        SourceType.KINESIS,
        SourceType.DYNAMODB_STREAMS,
    ]
