"""Lambda's rules for a mapping's settings, beyond the model's ranges and enums.

The botocore model already checks types, ranges (BatchSize 1-10,000, windows
0-300 s, MaximumConcurrency 2-1,000, ...) and enums before a handler runs. What
is left depends on the source type, and is checked here on the settings a
mapping would have after the request (defaults and earlier settings included),
so a create and an update are held to the same rules. Every refusal is AWS's
``InvalidParameterValueException``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from roost.api.errors import InvalidParameterValueException
from roost.esm.filtering import (
    INVALID_FILTER_PATTERN_MESSAGE,
    EventSourceKind,
    FilterCriteria,
    parse_filter_criteria,
)
from roost.esm.mapping import WIRE_NAMES, MappingSettings
from roost.esm.sources import EventSource, SourceType

# AWS's default quota of filters per mapping (it can be raised to 10 on request).
MAX_FILTERS = 5
# Whose record shape each source's filters are matched against.
FILTER_KINDS = {
    SourceType.SQS: EventSourceKind.SQS,
    SourceType.KINESIS: EventSourceKind.KINESIS,
    SourceType.DYNAMODB_STREAMS: EventSourceKind.DYNAMODB,
    SourceType.KAFKA: EventSourceKind.KAFKA,
}
SQS_FIFO_MAX_BATCH_SIZE = 10
# Above this SQS batch size a batching window of at least 1 s is required.
SQS_UNWINDOWED_MAX_BATCH_SIZE = 10
MIN_RECORD_AGE_S = 60
MAX_RECORD_AGE_S = 604_800
# ProvisionedPollerConfig bounds per source (the model allows more than AWS does).
POLLER_BOUNDS = {SourceType.SQS: (2, 200, 2, 2000), SourceType.KAFKA: (1, 200, 1, 2000)}

# Settings only some source types accept (snake_case field -> the types).
_STREAMS = frozenset({SourceType.KINESIS, SourceType.DYNAMODB_STREAMS})
_ONLY_FOR: Mapping[str, frozenset[SourceType]] = {
    "parallelization_factor": _STREAMS,
    # AWS added these error controls to Kafka mappings (kafka-retry-configurations).
    "maximum_record_age_s": _STREAMS | {SourceType.KAFKA},
    "bisect_batch_on_function_error": _STREAMS | {SourceType.KAFKA},
    "maximum_retry_attempts": _STREAMS | {SourceType.KAFKA},
    "tumbling_window_s": _STREAMS,
    "destination_config": _STREAMS | {SourceType.KAFKA},
    "scaling_config": frozenset({SourceType.SQS}),
    "provisioned_poller_config": frozenset({SourceType.SQS, SourceType.KAFKA}),
    "topics": frozenset({SourceType.KAFKA}),
    "source_access_configurations": frozenset({SourceType.KAFKA}),
    "self_managed_kafka_config": frozenset({SourceType.KAFKA}),
    "queues": frozenset(),
    "amazon_managed_kafka_config": frozenset(),
    "document_db_config": frozenset(),
}


def default_settings(source: EventSource, uuid: str) -> MappingSettings:
    """What AWS fills in for a new mapping of ``source`` when the request is silent."""
    if source.type is SourceType.SQS:
        # FIFO queues have no batching window at all, so AWS reports none.
        return MappingSettings(batch_size=10, maximum_batching_window_s=None if source.fifo else 0)
    if source.type is SourceType.KAFKA:
        # AWS names the consumer group after the mapping unless told otherwise.
        return MappingSettings(batch_size=100, self_managed_kafka_config={"ConsumerGroupId": uuid})
    return MappingSettings(
        batch_size=100,
        maximum_batching_window_s=0,
        parallelization_factor=1,
        maximum_record_age_s=-1,
        bisect_batch_on_function_error=False,
        maximum_retry_attempts=-1,
        tumbling_window_s=0,
        destination_config={"OnFailure": {}},
    )


def with_defaults(source: EventSource, uuid: str, given: Mapping[str, Any]) -> MappingSettings:
    """The settings of a new mapping: what the request gives over the defaults."""
    merged = dataclasses.replace(default_settings(source, uuid), **given)
    if source.type is SourceType.KAFKA and merged.self_managed_kafka_config is not None:
        # A config given without a group id still gets the default one.
        config = {"ConsumerGroupId": uuid, **merged.self_managed_kafka_config}
        merged = dataclasses.replace(merged, self_managed_kafka_config=config)
    return merged


def validate_filter_criteria(
    criteria: Mapping[str, Any] | None, source: SourceType = SourceType.SQS
) -> FilterCriteria:
    """Check ``FilterCriteria`` as Lambda does at create and update: at most
    ``MAX_FILTERS`` filters, each an EventBridge pattern valid for ``source``.

    Returns the compiled criteria (what a poller matches records with).
    """
    if criteria is not None and not isinstance(criteria, Mapping):
        raise InvalidParameterValueException(INVALID_FILTER_PATTERN_MESSAGE)
    filters = (criteria or {}).get("Filters")
    if isinstance(filters, list) and not all(isinstance(item, Mapping) for item in filters):
        raise InvalidParameterValueException(INVALID_FILTER_PATTERN_MESSAGE)
    return parse_filter_criteria(criteria, FILTER_KINDS[source], max_filters=MAX_FILTERS)


def unsupported(member: str) -> InvalidParameterValueException:
    """AWS's error for a setting the mapping's source type does not have."""
    return InvalidParameterValueException(
        f"Unsupported {member} parameter for given event source mapping type."
    )


def _check_applicable(source: EventSource, settings: MappingSettings) -> None:
    for name, types in _ONLY_FOR.items():
        if getattr(settings, name) is not None and source.type not in types:
            raise unsupported(WIRE_NAMES[name])
    if source.type is SourceType.KAFKA and not settings.topics:
        raise InvalidParameterValueException(
            "1 validation error detected: Value null at 'topics' failed to satisfy "
            "constraint: Member must not be null."
        )
    if (settings.destination_config or {}).get("OnSuccess"):
        raise unsupported("DestinationConfig")
    _check_on_failure(source, settings)


def _check_on_failure(source: EventSource, settings: MappingSettings) -> None:
    """An ``OnFailure`` destination Roost can deliver to: SQS or SNS (and for Kafka
    a ``kafka://topic``); anything else would block its shard forever."""
    destination = ((settings.destination_config or {}).get("OnFailure") or {}).get("Destination")
    if not destination:
        return
    if source.type is SourceType.KAFKA and str(destination).startswith("kafka://"):
        return
    service = str(destination).split(":")[2] if str(destination).count(":") >= 5 else ""
    if service not in ("sqs", "sns"):
        raise InvalidParameterValueException(
            f"Unsupported OnFailure destination {destination}: Roost delivers stream "
            "failure records to an SQS queue or an SNS topic"
            + (" (or a kafka://topic)" if source.type is SourceType.KAFKA else "")
            + "."
        )


def _check_starting_position(source: EventSource, settings: MappingSettings) -> None:
    position = settings.starting_position
    if not source.type.is_positioned:
        if position is not None or settings.starting_position_timestamp_s is not None:
            raise InvalidParameterValueException(
                "StartingPosition is not valid for SQS event sources."
            )
        return
    if position is None:
        raise InvalidParameterValueException(
            "1 validation error detected: Value null at 'startingPosition' failed to "
            "satisfy constraint: Member must not be null."
        )
    if position == "AT_TIMESTAMP" and source.type is SourceType.DYNAMODB_STREAMS:
        raise InvalidParameterValueException(
            f"Unsupported starting position for arn type: {source.arn}"
        )
    has_timestamp = settings.starting_position_timestamp_s is not None
    if position == "AT_TIMESTAMP" and not has_timestamp:
        raise InvalidParameterValueException(
            "StartingPositionTimestamp must be specified when StartingPosition is AT_TIMESTAMP."
        )
    if position != "AT_TIMESTAMP" and has_timestamp:
        raise InvalidParameterValueException(
            "StartingPositionTimestamp can only be specified when StartingPosition is AT_TIMESTAMP."
        )


def _check_batching(source: EventSource, settings: MappingSettings) -> None:
    batch_size = settings.batch_size or 0
    window_s = settings.maximum_batching_window_s or 0
    if source.fifo:
        if batch_size > SQS_FIFO_MAX_BATCH_SIZE:
            raise InvalidParameterValueException(
                f"BatchSize {batch_size} is above the maximum of {SQS_FIFO_MAX_BATCH_SIZE} "
                "for an SQS FIFO queue."
            )
        if window_s > 0:
            raise InvalidParameterValueException(
                "Batching window is not supported for FIFO queues: "
                "MaximumBatchingWindowInSeconds must not be set."
            )
    elif (
        source.type is SourceType.SQS
        and batch_size > SQS_UNWINDOWED_MAX_BATCH_SIZE
        and window_s < 1
    ):
        raise InvalidParameterValueException(
            "Maximum batch window in seconds must be greater than 0 if maximum batch "
            "size is greater than 10"
        )


def _check_stream_limits(source: EventSource, settings: MappingSettings) -> None:
    age_s = settings.maximum_record_age_s
    if age_s is not None and age_s != -1 and not MIN_RECORD_AGE_S <= age_s <= MAX_RECORD_AGE_S:
        raise InvalidParameterValueException(
            f"MaximumRecordAgeInSeconds {age_s} is not valid: it must be -1 (infinite) or "
            f"between {MIN_RECORD_AGE_S} and {MAX_RECORD_AGE_S}."
        )


def _check_pollers(source: EventSource, settings: MappingSettings) -> None:
    config = settings.provisioned_poller_config
    if not config:
        return
    low_min, high_min, low_max, high_max = POLLER_BOUNDS[source.type]
    minimum = config.get("MinimumPollers")
    maximum = config.get("MaximumPollers")
    if minimum is not None and not low_min <= minimum <= high_min:
        raise InvalidParameterValueException(
            f"MinimumPollers must be between {low_min} and {high_min}."
        )
    if maximum is not None and not low_max <= maximum <= high_max:
        raise InvalidParameterValueException(
            f"MaximumPollers must be between {low_max} and {high_max}."
        )
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidParameterValueException(
            "MinimumPollers must be less than or equal to MaximumPollers."
        )
    if settings.maximum_concurrency is not None:
        raise InvalidParameterValueException(
            "ScalingConfig (MaximumConcurrency) and ProvisionedPollerConfig cannot both be "
            "set on an event source mapping."
        )


_RULES: tuple[Callable[[EventSource, MappingSettings], None], ...] = (
    _check_applicable,
    _check_starting_position,
    _check_batching,
    _check_stream_limits,
    _check_pollers,
)


def check_settings(source: EventSource, settings: MappingSettings) -> None:
    """Refuse settings Lambda would refuse for a mapping of ``source``."""
    validate_filter_criteria(settings.filter_criteria, source.type)
    for rule in _RULES:
        rule(source, settings)
