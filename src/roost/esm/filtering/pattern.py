"""Event patterns: parse and validate EventBridge pattern JSON into a compiled tree.

A pattern is a JSON object whose keys name event fields. A key holds either a
nested object (the event field must be an object too, or an array of them) or a
non-empty array of alternatives: exact values (strings, numbers, ``true``,
``false``, ``null``) and match expressions such as ``{"prefix": "us-"}``. A key
``$or`` holds two or more objects, at least one of which must match. Keys are
ANDed; the values in an array are ORed.

Validation follows EventBridge's rule compiler (Event Ruler): every problem
raises ``InvalidFilterPattern`` with Ruler's wording in ``detail``. The result
is an immutable tree of ``ObjectPattern``, ``FieldPattern`` and ``LeafPattern``
that ``matching`` walks without ever looking at JSON again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from roost.esm.filtering import operators as ops
from roost.esm.filtering.errors import InvalidFilterPattern
from roost.esm.filtering.expressions import (
    OPERATOR_NAMES,
    ExistsTest,
    is_number,
    parse_match_expression,
)

OR_KEY = "$or"


@dataclass(frozen=True, slots=True)
class LeafPattern:
    """The alternatives of one array in the pattern, ORed.

    ``exists_true``/``exists_false`` record ``{"exists": ...}`` alternatives; the
    rest are value matchers, exact values first since they are the cheapest.
    """

    matchers: tuple[ops.ValueMatcher, ...]
    exists_true: bool = False
    exists_false: bool = False

    def matches(self, values: tuple[object, ...]) -> bool:
        """Whether the event's leaf values at this field satisfy an alternative.

        ``values`` is empty when the field is absent (or is an object or an empty
        array: exists-matching only sees leaves, as in EventBridge).
        """
        if not values:
            return self.exists_false
        if self.exists_true:
            return True
        return any(matcher.matches(value) for matcher in self.matchers for value in values)


@dataclass(frozen=True, slots=True)
class FieldPattern:
    """One key of a pattern object: a leaf array or a nested object pattern."""

    key: str
    leaf: LeafPattern | None = None
    nested: ObjectPattern | None = None


@dataclass(frozen=True, slots=True)
class ObjectPattern:
    """A pattern object: every field must match, and one branch of every ``$or``."""

    fields: tuple[FieldPattern, ...]
    any_of: tuple[tuple[ObjectPattern, ...], ...] = ()


def load_pattern_json(text: str) -> Any:
    """Parse pattern text as strict JSON, numbers as ``Decimal`` (exact, never bool)."""

    def refuse_constant(name: str) -> Any:
        raise InvalidFilterPattern(f"Unrecognized token '{name}'")

    try:
        return json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=refuse_constant
        )
    except (ValueError, RecursionError) as error:
        raise InvalidFilterPattern(f"Pattern is not valid JSON: {error}") from None


def parse_pattern(text: str) -> ObjectPattern:
    """Compile pattern text, raising ``InvalidFilterPattern`` for anything EventBridge refuses."""
    document = load_pattern_json(text)
    if not isinstance(document, dict):
        raise InvalidFilterPattern("Filter is not an object")
    try:
        return _parse_object(document, inside_or=False)
    except RecursionError:
        # Only a pathologically nested pattern gets here (4096 characters allow ~680 levels).
        raise InvalidFilterPattern("Pattern is nested too deeply") from None


def _parse_object(document: dict[str, Any], *, inside_or: bool) -> ObjectPattern:
    if not document:
        raise InvalidFilterPattern("Empty objects are not allowed")
    fields: list[FieldPattern] = []
    any_of: list[tuple[ObjectPattern, ...]] = []
    for key, value in document.items():
        if key == OR_KEY:
            any_of.append(_parse_or(value))
            continue
        if inside_or and key in OPERATOR_NAMES:
            raise InvalidFilterPattern(
                f"{key} is Ruler reserved fieldName which cannot be used inside $or."
            )
        if isinstance(value, dict):
            fields.append(FieldPattern(key, nested=_parse_object(value, inside_or=inside_or)))
        elif isinstance(value, list):
            fields.append(FieldPattern(key, leaf=_parse_leaf(value)))
        else:
            raise InvalidFilterPattern(f'"{key}" must be an object or an array')
    # Leaves first: they are cheaper than descending, and fail a mismatch sooner.
    fields.sort(key=lambda field: field.leaf is None)
    return ObjectPattern(fields=tuple(fields), any_of=tuple(any_of))


def _parse_or(value: object) -> tuple[ObjectPattern, ...]:
    if not isinstance(value, list):
        raise InvalidFilterPattern("It must be an Array followed with $or.")
    branches: list[ObjectPattern] = []
    for branch in value:
        if not isinstance(branch, dict):
            raise InvalidFilterPattern("Only JSON object is allowed in array of $or relationship.")
        branches.append(_parse_object(branch, inside_or=True))
    if len(branches) < 2:
        raise InvalidFilterPattern("There must have at least 2 Objects in $or relationship.")
    return tuple(branches)


def _parse_leaf(values: list[Any]) -> LeafPattern:
    """Compile one array of alternatives, grouping exact values into set lookups."""
    if not values:
        raise InvalidFilterPattern("Empty arrays are not allowed")
    strings: set[str] = set()
    numbers: set[Decimal] = set()
    null = true = false = False
    others: list[ops.ValueMatcher] = []
    exists_true = exists_false = False
    for value in values:
        if isinstance(value, str):
            strings.add(value)
        elif value is None:
            null = True
        elif value is True:
            true = True
        elif value is False:
            false = True
        elif is_number(value):
            numbers.add(value)
        elif isinstance(value, dict):
            expression = parse_match_expression(value)
            if isinstance(expression, ExistsTest):
                exists_true |= expression.present
                exists_false |= not expression.present
            else:
                others.append(expression)
        else:
            raise InvalidFilterPattern("Match value must be String, number, true, false, or null")
    exact: list[ops.ValueMatcher] = []
    if strings:
        exact.append(ops.ExactStrings(frozenset(strings)))
    if numbers:
        exact.append(ops.ExactNumbers(frozenset(numbers)))
    if null or true or false:
        exact.append(ops.ExactLiterals(null=null, true=true, false=false))
    return LeafPattern(tuple(exact + others), exists_true=exists_true, exists_false=exists_false)
