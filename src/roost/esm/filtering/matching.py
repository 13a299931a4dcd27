"""The matcher: walks a compiled pattern over an event (a decoded JSON object).

Semantics, as EventBridge's engine has them:

- Every field of a pattern object must match; so must one branch of each ``$or``.
- A leaf array matches when any of its alternatives matches any of the event's
  values at that field. An event array is unpacked (nested arrays too), so
  ``["a"]`` matches ``["b", "a"]``.
- A nested pattern object applied to an event array matches when it matches one
  element of it, so the fields it names come from the same element.
- Exists-matching sees only leaves: an object or an empty array counts as absent.
- A field the pattern descends into but the event lacks (or holds as a scalar)
  is matched as an empty object: only ``{"exists": false}`` leaves below it hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from roost.esm.filtering.pattern import ObjectPattern, parse_pattern

_MISSING = object()
_EMPTY: Mapping[str, Any] = {}
# Checked by exact type first: most event values are plain JSON scalars, and an
# ``isinstance(value, Mapping)`` on each of them costs an ABC lookup.
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None), Decimal})


@dataclass(frozen=True, slots=True)
class EventPattern:
    """A compiled pattern: parse once with ``compile_pattern``, then match many events."""

    text: str
    root: ObjectPattern = field(repr=False)

    def matches(self, event: object) -> bool:
        """Whether ``event`` (a mapping decoded from JSON) matches the pattern."""
        return isinstance(event, Mapping) and match_object(self.root, event)


def compile_pattern(text: str) -> EventPattern:
    """Validate and compile EventBridge pattern JSON; raises ``InvalidFilterPattern``."""
    return EventPattern(text=text, root=parse_pattern(text))


def match_object(pattern: ObjectPattern, event: Mapping[str, Any]) -> bool:
    """Whether one event object satisfies a pattern object."""
    for field_pattern in pattern.fields:
        value = event.get(field_pattern.key, _MISSING)
        if field_pattern.leaf is not None:
            if not field_pattern.leaf.matches(leaf_values(value)):
                return False
        elif field_pattern.nested is not None and not _match_nested(field_pattern.nested, value):
            return False
    return all(
        any(match_object(branch, event) for branch in branches) for branches in pattern.any_of
    )


def leaf_values(value: object) -> tuple[object, ...]:
    """The scalars an event holds at a field: none for absent, objects and empty arrays."""
    if type(value) in _SCALAR_TYPES:
        return (value,)
    if value is _MISSING or isinstance(value, Mapping):
        return ()
    if isinstance(value, list | tuple):
        return tuple(item for item in _flatten(value) if not isinstance(item, Mapping))
    return (value,)


def _match_nested(pattern: ObjectPattern, value: object) -> bool:
    if isinstance(value, dict | Mapping):
        return match_object(pattern, value)
    if isinstance(value, list | tuple):
        objects = [item for item in _flatten(value) if isinstance(item, Mapping)]
        if objects:
            return any(match_object(pattern, item) for item in objects)
    return match_object(pattern, _EMPTY)


def _flatten(values: list[Any] | tuple[Any, ...]) -> list[object]:
    """An event array with nested arrays spliced in (EventBridge treats them as one).

    Iterative, so an adversarially deep array cannot exhaust the interpreter stack.
    """
    flat: list[object] = []
    stack: list[Iterator[Any]] = [iter(values)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list | tuple):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat
