"""The event source mapping model: what the control plane stores and pollers read.

Fields are snake_case with units in their names; PascalCase appears only in
``to_wire``/``settings_from_wire``, at the API boundary. Nested structures that
Roost passes through unchanged (``FilterCriteria``, ``DestinationConfig``,
``SourceAccessConfigurations``, ...) are kept in their wire form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roost.esm.sources import EventSource
from roost.esm.states import USER_INITIATED, MappingState

Wire = Mapping[str, Any]


@dataclass(frozen=True)
class MappingSettings:
    """What a user configures on a mapping (None: not set, the API leaves it out)."""

    batch_size: int | None = None
    maximum_batching_window_s: int | None = None
    starting_position: str | None = None
    starting_position_timestamp_s: float | None = None
    parallelization_factor: int | None = None
    maximum_record_age_s: int | None = None
    bisect_batch_on_function_error: bool | None = None
    maximum_retry_attempts: int | None = None
    tumbling_window_s: int | None = None
    function_response_types: tuple[str, ...] | None = None
    filter_criteria: Wire | None = None
    destination_config: Wire | None = None
    scaling_config: Wire | None = None
    provisioned_poller_config: Wire | None = None
    topics: tuple[str, ...] | None = None
    queues: tuple[str, ...] | None = None
    source_access_configurations: tuple[Wire, ...] | None = None
    self_managed_kafka_config: Wire | None = None
    amazon_managed_kafka_config: Wire | None = None
    document_db_config: Wire | None = None
    kms_key_arn: str | None = None
    metrics_config: Wire | None = None
    logging_config: Wire | None = None

    @property
    def maximum_concurrency(self) -> int | None:
        """``ScalingConfig.MaximumConcurrency``: the cap on concurrent invokes, if set."""
        value = (self.scaling_config or {}).get("MaximumConcurrency")
        return int(value) if value is not None else None

    @property
    def reports_batch_item_failures(self) -> bool:
        """Whether the function answers partial batch failures (``batchItemFailures``)."""
        return "ReportBatchItemFailures" in (self.function_response_types or ())

    @property
    def filters(self) -> list[str]:
        """The filter patterns (JSON text), OR-ed; empty: every record is invoked."""
        return [f.get("Pattern", "") for f in (self.filter_criteria or {}).get("Filters") or []]


# Snake-case field -> the API member it is read from and written to.
WIRE_NAMES: Mapping[str, str] = {
    "batch_size": "BatchSize",
    "maximum_batching_window_s": "MaximumBatchingWindowInSeconds",
    "starting_position": "StartingPosition",
    "starting_position_timestamp_s": "StartingPositionTimestamp",
    "parallelization_factor": "ParallelizationFactor",
    "maximum_record_age_s": "MaximumRecordAgeInSeconds",
    "bisect_batch_on_function_error": "BisectBatchOnFunctionError",
    "maximum_retry_attempts": "MaximumRetryAttempts",
    "tumbling_window_s": "TumblingWindowInSeconds",
    "function_response_types": "FunctionResponseTypes",
    "filter_criteria": "FilterCriteria",
    "destination_config": "DestinationConfig",
    "scaling_config": "ScalingConfig",
    "provisioned_poller_config": "ProvisionedPollerConfig",
    "topics": "Topics",
    "queues": "Queues",
    "source_access_configurations": "SourceAccessConfigurations",
    "self_managed_kafka_config": "SelfManagedKafkaEventSourceConfig",
    "amazon_managed_kafka_config": "AmazonManagedKafkaEventSourceConfig",
    "document_db_config": "DocumentDBEventSourceConfig",
    "kms_key_arn": "KMSKeyArn",
    "metrics_config": "MetricsConfig",
    "logging_config": "LoggingConfig",
}
_TUPLES = frozenset({"function_response_types", "topics", "queues", "source_access_configurations"})


def _timestamp_s(value: Any) -> float:
    """A request timestamp (epoch seconds, or ISO 8601 text) as epoch seconds."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=parsed.tzinfo or dt.UTC).timestamp()
    return float(value)


def settings_from_wire(params: Wire) -> dict[str, Any]:
    """The settings a request gives, as ``MappingSettings`` keyword arguments."""
    changes: dict[str, Any] = {}
    for name, wire in WIRE_NAMES.items():
        if wire not in params or params[wire] is None:
            continue
        value = params[wire]
        if name in _TUPLES:
            value = tuple(value)
        elif name == "starting_position_timestamp_s":
            value = _timestamp_s(value)
        changes[name] = value
    return changes


def _settings_document(settings: MappingSettings) -> dict[str, Any]:
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in dataclasses.asdict(settings).items()
        if value is not None
    }


def _settings_from_document(document: Mapping[str, Any]) -> MappingSettings:
    known = {f.name for f in dataclasses.fields(MappingSettings)}
    values: dict[str, Any] = {
        name: tuple(value) if name in _TUPLES else value
        for name, value in document.items()
        if name in known
    }
    return MappingSettings(**values)


def mapping_arn(region: str, account_id: str, uuid: str) -> str:
    """``arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}``."""
    return f"arn:aws:lambda:{region}:{account_id}:event-source-mapping:{uuid}"


@dataclass(frozen=True)
class EventSourceMapping:
    """One mapping: a source, the function it invokes, its settings and its state.

    ``enabled`` is what the user asked for; ``state`` is how far that has been
    carried out. ``revision`` is the store revision the mapping was read at (for
    compare-and-set), not part of the stored document.
    """

    uuid: str
    account_id: str
    region: str
    function_arn: str
    source: EventSource
    settings: MappingSettings
    enabled: bool = True
    state: MappingState = MappingState.CREATING
    state_transition_reason: str = USER_INITIATED
    last_modified_s: float = 0.0
    last_processing_result: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    revision: str | None = None

    @property
    def arn(self) -> str:
        """The mapping's own ARN (``EventSourceMappingArn``)."""
        return mapping_arn(self.region, self.account_id, self.uuid)

    @property
    def source_key(self) -> str:
        """What makes two mappings of one function duplicates: the source and topic."""
        topics = ",".join(self.settings.topics or ())
        return f"{self.source.key}#{topics}" if topics else self.source.key

    def to_document(self) -> dict[str, Any]:
        """The JSON document the store keeps."""
        return {
            "uuid": self.uuid,
            "account_id": self.account_id,
            "region": self.region,
            "function_arn": self.function_arn,
            "source": self.source.to_document(),
            "settings": _settings_document(self.settings),
            "enabled": self.enabled,
            "state": self.state.value,
            "state_transition_reason": self.state_transition_reason,
            "last_modified_s": self.last_modified_s,
            "last_processing_result": self.last_processing_result,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any], revision: str | None) -> EventSourceMapping:
        """Inverse of ``to_document``, remembering the store revision."""
        return cls(
            uuid=document["uuid"],
            account_id=document["account_id"],
            region=document["region"],
            function_arn=document["function_arn"],
            source=EventSource.from_document(document["source"]),
            settings=_settings_from_document(document.get("settings") or {}),
            enabled=bool(document.get("enabled", True)),
            state=MappingState(document["state"]),
            state_transition_reason=document.get("state_transition_reason") or USER_INITIATED,
            last_modified_s=float(document.get("last_modified_s") or 0.0),
            last_processing_result=document.get("last_processing_result"),
            tags=dict(document.get("tags") or {}),
            revision=revision,
        )

    def to_wire(self) -> dict[str, Any]:
        """``EventSourceMappingConfiguration``: the answer of every mapping operation."""
        wire: dict[str, Any] = {"UUID": self.uuid}
        for name, member in WIRE_NAMES.items():
            value = getattr(self.settings, name)
            if value is None:
                continue
            if name == "starting_position_timestamp_s":
                value = dt.datetime.fromtimestamp(value, dt.UTC)
            wire[member] = list(value) if isinstance(value, tuple) else value
        wire.update(
            {
                "EventSourceArn": self.source.arn,
                "SelfManagedEventSource": self.source.self_managed_wire(),
                "FunctionArn": self.function_arn,
                "LastModified": dt.datetime.fromtimestamp(self.last_modified_s, dt.UTC),
                "LastProcessingResult": self.last_processing_result,
                "State": self.state.value,
                "StateTransitionReason": self.state_transition_reason,
                "EventSourceMappingArn": self.arn,
            }
        )
        return {k: v for k, v in wire.items() if v is not None}
