"""The mapping model: its stored document and its wire shape."""

from __future__ import annotations

import datetime as dt

from roost.esm.mapping import EventSourceMapping, MappingSettings, settings_from_wire
from roost.esm.sources import EventSource, SourceType
from roost.esm.states import MappingState

KAFKA = EventSource(SourceType.KAFKA, None, ("b:9092",))


def kafka_mapping() -> EventSourceMapping:
    return EventSourceMapping(
        uuid="0b5f8a1e-0000-4000-8000-000000000001",
        account_id="000000000000",
        region="us-east-1",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f:live",
        source=KAFKA,
        settings=MappingSettings(
            batch_size=100,
            starting_position="AT_TIMESTAMP",
            starting_position_timestamp_s=1_700_000_000.0,
            topics=("orders",),
            source_access_configurations=({"Type": "BASIC_AUTH", "URI": "arn:secret"},),
            filter_criteria={"Filters": [{"Pattern": "{}"}]},
        ),
        enabled=False,
        state=MappingState.DISABLED,
        last_modified_s=1_700_000_100.5,
        tags={"team": "a"},
    )


def test_document_round_trip() -> None:
    mapping = kafka_mapping()

    again = EventSourceMapping.from_document(mapping.to_document(), "rev-1")

    assert again == mapping.__class__(**{**mapping.__dict__, "revision": "rev-1"})


def test_wire_shape() -> None:
    wire = kafka_mapping().to_wire()

    assert wire["UUID"] == "0b5f8a1e-0000-4000-8000-000000000001"
    assert wire["Topics"] == ["orders"]
    assert wire["SelfManagedEventSource"] == {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["b:9092"]}}
    assert "EventSourceArn" not in wire
    assert wire["StartingPositionTimestamp"] == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
    assert wire["State"] == "Disabled" and wire["StateTransitionReason"] == "USER_INITIATED"
    assert wire["EventSourceMappingArn"] == (
        "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:"
        "0b5f8a1e-0000-4000-8000-000000000001"
    )
    assert "Tags" not in wire  # not a member of the output shape


def test_source_key_includes_the_topic() -> None:
    assert kafka_mapping().source_key == "kafka://b:9092#orders"


def test_settings_from_wire() -> None:
    given = settings_from_wire(
        {
            "BatchSize": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "StartingPositionTimestamp": "2024-01-01T00:00:00Z",
            "ScalingConfig": {"MaximumConcurrency": 3},
            "FunctionName": "ignored",
        }
    )

    assert given == {
        "batch_size": 5,
        "function_response_types": ("ReportBatchItemFailures",),
        "starting_position_timestamp_s": 1_704_067_200.0,
        "scaling_config": {"MaximumConcurrency": 3},
    }
    settings = MappingSettings(**given)
    assert settings.maximum_concurrency == 3
    assert settings.reports_batch_item_failures


def test_filters_accessor() -> None:
    assert MappingSettings().filters == []
    criteria = {"Filters": [{"Pattern": '{"a": [1]}'}, {"Pattern": '{"b": [2]}'}]}
    assert MappingSettings(filter_criteria=criteria).filters == ['{"a": [1]}', '{"b": [2]}']
