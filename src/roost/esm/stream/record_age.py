"""A stream record's age: when it arrived in the stream, read from its ``SourceRecord``.

Every stream source puts the arrival time (epoch seconds, as text) in the
record's ``ApproximateArrivalTimestamp`` attribute: Kinesis's
``approximateArrivalTimestamp``, DynamoDB's ``ApproximateCreationDateTime``,
Kafka's record timestamp. ``MaximumRecordAgeInSeconds`` and the iterator age
are measured from it.
"""

from __future__ import annotations

from collections.abc import Iterable

from roost.esm.connector import SourceRecord
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE


def arrival_s(record: SourceRecord) -> float | None:
    """When ``record`` arrived in its stream (epoch seconds), if the source said."""
    text = record.attributes.get(ARRIVAL_ATTRIBUTE)
    return float(text) if text else None


def split_expired(
    records: Iterable[SourceRecord], maximum_age_s: float, now_s: float
) -> tuple[list[SourceRecord], list[SourceRecord]]:
    """``(expired, fresh)``, each in order; nothing expires with a maximum age of -1."""
    expired: list[SourceRecord] = []
    fresh: list[SourceRecord] = []
    for record in records:
        arrived = arrival_s(record)
        too_old = maximum_age_s >= 0 and arrived is not None and now_s - arrived > maximum_age_s
        (expired if too_old else fresh).append(record)
    return expired, fresh
