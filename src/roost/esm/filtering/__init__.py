"""Event filtering for event source mappings: EventBridge patterns in Lambda's FilterCriteria.

The API layer validates ``FilterCriteria`` at create and update with
``parse_filter_criteria`` (which raises AWS-shaped errors); the poller keeps the
returned ``FilterCriteria`` and calls ``matches(record)`` or ``split(records)``
on what it reads. ``compile_pattern`` compiles one bare EventBridge pattern.

Modules: ``pattern`` (parse and validate a pattern into a compiled tree),
``expressions`` (the ``{"operator": ...}`` objects), ``operators`` (compiled
comparisons), ``wildcard``, ``matching`` (the matcher), ``criteria`` (Lambda's
filters and per-source record preparation), ``errors``.
"""

from __future__ import annotations

from roost.esm.filtering.criteria import (
    DEFAULT_MAX_FILTERS,
    MAX_PATTERN_LENGTH,
    EventSourceKind,
    FilterCriteria,
    parse_filter_criteria,
)
from roost.esm.filtering.errors import INVALID_FILTER_PATTERN_MESSAGE, InvalidFilterPattern
from roost.esm.filtering.matching import EventPattern, compile_pattern

__all__ = [
    "DEFAULT_MAX_FILTERS",
    "INVALID_FILTER_PATTERN_MESSAGE",
    "MAX_PATTERN_LENGTH",
    "EventPattern",
    "EventSourceKind",
    "FilterCriteria",
    "InvalidFilterPattern",
    "compile_pattern",
    "parse_filter_criteria",
]
