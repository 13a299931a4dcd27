"""Lambda's ``FilterCriteria``: up to five patterns, ORed, over one source's records.

``parse_filter_criteria`` is what CreateEventSourceMapping and
UpdateEventSourceMapping call: it validates ``{"Filters": [{"Pattern": "..."}]}``
and compiles every pattern once. The poller then asks ``matches(record)`` (or
``split(records)``) for each record it reads; a record no filter accepts is
dropped without an invoke (deleted from SQS, checkpointed past on streams).

Before matching, a record is seen the way Lambda sees it for its source:

- SQS: ``body`` is JSON-decoded when it holds a JSON object or array; otherwise
  it stays a plain string that only plain-string body patterns can match.
- Kinesis: the ``kinesis`` object of the record, its ``data`` base64-decoded and
  JSON-decoded; data patterns must be JSON objects (refused otherwise), and data
  that is not JSON matches no filter that names ``data``.
- DynamoDB Streams: the record as it is (``dynamodb`` is already an object).
- Kafka (MSK and self-managed): ``value`` base64-decoded, then JSON or plain text,
  as for SQS.

A filter whose data pattern disagrees with the record's data format (a JSON
pattern on a plain body, a plain pattern on a JSON body) drops the record, as the
Lambda documentation's tables say.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from roost.api.errors import InvalidParameterValueException, ValidationException
from roost.esm.filtering.errors import InvalidFilterPattern
from roost.esm.filtering.matching import EventPattern, compile_pattern
from roost.esm.filtering.pattern import ObjectPattern

DEFAULT_MAX_FILTERS = 5
MAX_PATTERN_LENGTH = 4096

Record = TypeVar("Record", bound=Mapping[str, Any])

_MISSING: Any = object()


class EventSourceKind(Enum):
    """The sources whose records Lambda can filter, by their ``eventSource`` name."""

    SQS = "aws:sqs"
    KINESIS = "aws:kinesis"
    DYNAMODB = "aws:dynamodb"
    KAFKA = "aws:kafka"

    @classmethod
    def from_arn(cls, arn: str | None) -> EventSourceKind | None:
        """The kind of an ``EventSourceArn``; ``None`` (no ARN) is self-managed Kafka."""
        if not arn:
            return cls.KAFKA
        parts = arn.split(":")
        service = parts[2] if len(parts) > 2 and parts[0] == "arn" else ""
        return _KIND_BY_SERVICE.get(service)


_KIND_BY_SERVICE = {
    "sqs": EventSourceKind.SQS,
    "kinesis": EventSourceKind.KINESIS,
    "dynamodb": EventSourceKind.DYNAMODB,
    "kafka": EventSourceKind.KAFKA,
}


class DataFormat(Enum):
    """What a record's data field turned out to hold."""

    JSON = "json"
    PLAIN = "plain"


class DataShape(Enum):
    """How a pattern names the data field: an object pattern, or a leaf array."""

    OBJECT = "object"
    LEAF = "leaf"


Decoder = Callable[[object], tuple[object, DataFormat]]


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, though Python's parser takes them.
    raise ValueError(name)


# One decoder for every record: json.loads with options builds a new one per call.
_JSON = json.JSONDecoder(parse_constant=_refuse_constant)


def _decode_text(raw: object) -> tuple[object, DataFormat]:
    """JSON objects and arrays decoded; any other text stays a plain string."""
    if not isinstance(raw, str):
        return raw, DataFormat.JSON
    try:
        decoded = _JSON.decode(raw)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to be useful
        return raw, DataFormat.PLAIN
    if isinstance(decoded, dict | list):
        return decoded, DataFormat.JSON
    return raw, DataFormat.PLAIN


def _decode_base64(raw: object) -> tuple[object, DataFormat]:
    """Base64 (as Lambda events carry Kinesis data and Kafka values), then as text."""
    try:
        payload = raw if isinstance(raw, bytes) else base64.b64decode(str(raw), validate=True)
        text = payload.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return _MISSING, DataFormat.PLAIN
    return _decode_text(text)


def _whole_record(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return record


def _kinesis_view(record: Mapping[str, Any]) -> Mapping[str, Any]:
    # Patterns name the Kinesis fields (data, partitionKey) at their top level.
    inner = record.get("kinesis")
    return inner if isinstance(inner, Mapping) else record


@dataclass(frozen=True, slots=True)
class SourceRules:
    """How one source's records are prepared for matching, and what patterns may say."""

    data_key: str
    decode: Decoder | None
    plain_patterns: bool
    view: Callable[[Mapping[str, Any]], Mapping[str, Any]] = _whole_record


SOURCE_RULES: Mapping[EventSourceKind, SourceRules] = {
    EventSourceKind.SQS: SourceRules("body", _decode_text, plain_patterns=True),
    EventSourceKind.KINESIS: SourceRules(
        "data", _decode_base64, plain_patterns=False, view=_kinesis_view
    ),
    EventSourceKind.DYNAMODB: SourceRules("dynamodb", None, plain_patterns=False),
    EventSourceKind.KAFKA: SourceRules("value", _decode_base64, plain_patterns=True),
}


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """One ``Filter`` of the criteria: its compiled pattern and how it names the data."""

    pattern: EventPattern
    data_shapes: frozenset[DataShape]

    def accepts(self, view: Mapping[str, Any], data_format: DataFormat | None) -> bool:
        """Whether a prepared record passes this filter."""
        if data_format is DataFormat.PLAIN and DataShape.OBJECT in self.data_shapes:
            return False
        if data_format is DataFormat.JSON and DataShape.LEAF in self.data_shapes:
            return False
        return self.pattern.matches(view)


@dataclass(frozen=True, slots=True)
class FilterCriteria:
    """Validated, compiled filter criteria of one event source mapping.

    With no filters every record passes. Immutable: an update builds a new one.
    """

    source: EventSourceKind
    filters: tuple[CompiledFilter, ...] = ()
    # Whether any filter names the data field; if none does, records skip decoding.
    reads_data: bool = field(init=False)

    def __post_init__(self) -> None:
        reads = any(compiled.data_shapes for compiled in self.filters)
        object.__setattr__(self, "reads_data", reads)

    @property
    def patterns(self) -> tuple[str, ...]:
        """The pattern strings as the user gave them."""
        return tuple(compiled.pattern.text for compiled in self.filters)

    def to_wire(self) -> dict[str, Any]:
        """``{"Filters": [{"Pattern": ...}]}`` as Get/ListEventSourceMappings return it."""
        return {"Filters": [{"Pattern": text} for text in self.patterns]}

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether a record (in its Lambda event shape) passes at least one filter."""
        if not self.filters:
            return True
        view, data_format = self._prepare(record)
        return any(compiled.accepts(view, data_format) for compiled in self.filters)

    def split(self, records: Iterable[Record]) -> tuple[list[Record], list[Record]]:
        """``(kept, dropped)``, each in the order the records came."""
        kept: list[Record] = []
        dropped: list[Record] = []
        for record in records:
            (kept if self.matches(record) else dropped).append(record)
        return kept, dropped

    def _prepare(self, record: Mapping[str, Any]) -> tuple[Mapping[str, Any], DataFormat | None]:
        rules = SOURCE_RULES[self.source]
        view = rules.view(record)
        raw = view.get(rules.data_key, _MISSING)
        if not self.reads_data or rules.decode is None or raw is _MISSING or raw is None:
            return view, None
        decoded, data_format = rules.decode(raw)
        prepared = dict(view)
        if decoded is _MISSING:
            del prepared[rules.data_key]
        else:
            prepared[rules.data_key] = decoded
        return prepared, data_format


def parse_filter_criteria(
    raw: Mapping[str, Any] | None,
    source: EventSourceKind,
    *,
    max_filters: int = DEFAULT_MAX_FILTERS,
) -> FilterCriteria:
    """Validate and compile ``FilterCriteria`` for a mapping of ``source``.

    ``None``, ``{}`` and ``{"Filters": []}`` mean no filtering. Raises
    ``InvalidFilterPattern`` (InvalidParameterValueException, "Invalid filter
    pattern definition.") for a bad pattern, ``InvalidParameterValueException``
    for more filters than ``max_filters`` (the quota: 5 by default, up to 10),
    and ``ValidationException`` for a pattern longer than 4096 characters.
    """
    if raw is None:
        return FilterCriteria(source)
    if not isinstance(raw, Mapping):
        raise InvalidFilterPattern("FilterCriteria must be an object")
    filters = raw.get("Filters")
    if filters is None:
        return FilterCriteria(source)
    if not isinstance(filters, list):
        raise InvalidFilterPattern("Filters must be an array")
    if len(filters) > max_filters:
        raise InvalidParameterValueException(
            f"The number of filters ({len(filters)}) exceeds the limit of {max_filters} "
            "filters for an event source mapping."
        )
    rules = SOURCE_RULES[source]
    return FilterCriteria(source, tuple(_compile_filter(item, rules) for item in filters))


def _compile_filter(item: object, rules: SourceRules) -> CompiledFilter:
    pattern = item.get("Pattern") if isinstance(item, Mapping) else None
    if not isinstance(pattern, str):
        raise InvalidFilterPattern("Filter has no Pattern")
    if len(pattern) > MAX_PATTERN_LENGTH:
        # The model's constraint; the API layer normally answers it before we run.
        raise ValidationException(
            f"1 validation error detected: Value '{pattern}' at "
            "'filterCriteria.filters.member.pattern' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_PATTERN_LENGTH}"
        )
    compiled = compile_pattern(pattern)
    shapes = data_shapes(compiled.root, rules.data_key)
    if DataShape.LEAF in shapes and not rules.plain_patterns:
        raise InvalidFilterPattern(f'The "{rules.data_key}" pattern must be a JSON object')
    return CompiledFilter(compiled, shapes)


def data_shapes(pattern: ObjectPattern, data_key: str) -> frozenset[DataShape]:
    """How a pattern's top level (and its top-level ``$or`` branches) names ``data_key``."""
    shapes = {
        DataShape.LEAF if field.leaf is not None else DataShape.OBJECT
        for field in pattern.fields
        if field.key == data_key
    }
    for branches in pattern.any_of:
        for branch in branches:
            shapes |= data_shapes(branch, data_key)
    return frozenset(shapes)
