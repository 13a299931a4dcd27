"""Match expressions: the ``{"operator": operand}`` objects inside a pattern's value arrays.

Each operator has its own parser here, which checks the operand the way
EventBridge's rule compiler does and returns a compiled matcher from
``operators``. The ``detail`` of each refusal follows Event Ruler's wording, so a
log line says what EventBridge would have said; the API still answers Lambda's
single message.

Numbers arrive as ``Decimal`` (the pattern is parsed with ``parse_float`` and
``parse_int`` set to it), booleans as ``bool``: the two never mix up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from roost.esm.filtering import operators as ops
from roost.esm.filtering.errors import InvalidFilterPattern
from roost.esm.filtering.wildcard import parse_wildcard

EQUALS_IGNORE_CASE = "equals-ignore-case"

_LOWER_BOUND_OPERATORS = {">": False, ">=": True}
_UPPER_BOUND_OPERATORS = {"<": False, "<=": True}


@dataclass(frozen=True, slots=True)
class ExistsTest:
    """``{"exists": true}`` or ``{"exists": false}``: about presence, not a value."""

    present: bool


MatchExpression = ops.ValueMatcher | ExistsTest


def parse_match_expression(expression: dict[str, Any]) -> MatchExpression:
    """Compile one match expression object, or raise ``InvalidFilterPattern``."""
    if not expression:
        raise InvalidFilterPattern("Match expression name not found")
    if len(expression) > 1:
        raise InvalidFilterPattern("Only one key allowed in match expression")
    ((name, operand),) = expression.items()
    parser = _PARSERS.get(name)
    if parser is None:
        raise InvalidFilterPattern(f"Unrecognized match type {name}")
    return parser(operand)


def is_number(value: object) -> bool:
    """Whether a parsed pattern value is a JSON number."""
    return isinstance(value, Decimal)


def comparable_number(value: object, what: str) -> Decimal:
    """A number a numeric comparison can use: in range, else refused like EventBridge."""
    if not isinstance(value, Decimal):
        raise InvalidFilterPattern(f"Value of {what} must be numeric")
    if not value.is_finite() or not -ops.NUMERIC_LIMIT <= value <= ops.NUMERIC_LIMIT:
        raise InvalidFilterPattern("Value must be between -5.0E9 and 5.0E9, inclusive")
    return value


def _string(operand: object, what: str) -> str:
    if not isinstance(operand, str):
        raise InvalidFilterPattern(f"{what} match pattern must be a string")
    return operand


def _ignore_case_operand(operand: dict[str, Any], what: str) -> str:
    """The string of ``{"equals-ignore-case": "..."}`` nested in prefix or suffix."""
    if not operand:
        raise InvalidFilterPattern(f"{what.capitalize()} expression name not found")
    if len(operand) > 1:
        raise InvalidFilterPattern("Only one key allowed in match expression")
    ((name, text),) = operand.items()
    if name != EQUALS_IGNORE_CASE:
        raise InvalidFilterPattern(f"Unsupported {what} pattern: {name}")
    return _string(text, EQUALS_IGNORE_CASE)


def _prefix(operand: object) -> MatchExpression:
    if isinstance(operand, dict):
        return ops.Prefix(ops.fold(_ignore_case_operand(operand, "prefix")), ignore_case=True)
    return ops.Prefix(_string(operand, "prefix"))


def _suffix(operand: object) -> MatchExpression:
    if isinstance(operand, dict):
        return ops.Suffix(ops.fold(_ignore_case_operand(operand, "suffix")), ignore_case=True)
    return ops.Suffix(_string(operand, "suffix"))


def _equals_ignore_case(operand: object) -> MatchExpression:
    return ops.EqualsIgnoreCase(ops.fold(_string(operand, EQUALS_IGNORE_CASE)))


def _wildcard(operand: object) -> MatchExpression:
    return ops.Wildcard(parse_wildcard(_string(operand, "wildcard")))


def _exists(operand: object) -> MatchExpression:
    if not isinstance(operand, bool):
        raise InvalidFilterPattern("exists match pattern must be either true or false.")
    return ExistsTest(present=operand)


def _cidr(operand: object) -> MatchExpression:
    text = _string(operand, "cidr")
    # A bare address is not a block: EventBridge wants the prefix length spelled out.
    if text.count("/") != 1:
        raise InvalidFilterPattern(f"Malformed CIDR, one '/' required: {text}")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidFilterPattern(f"Nonstandard IP address: {text}") from None
    return ops.Cidr(network)


def _numeric(operand: object) -> MatchExpression:
    if not isinstance(operand, list):
        raise InvalidFilterPattern("Value of numeric must be an array.")
    if not operand or not isinstance(operand[0], str):
        shown = operand[0] if operand else "]"
        raise InvalidFilterPattern(f"Invalid member in numeric match: {shown}")
    operator = operand[0]
    if operator == "=":
        _expect_terms(operand, 2)
        value = comparable_number(operand[1] if len(operand) > 1 else None, "equals")
        return ops.NumericRange(value, True, value, True)
    if operator in _UPPER_BOUND_OPERATORS:
        _expect_terms(operand, 2)
        high = comparable_number(operand[1] if len(operand) > 1 else None, operator)
        return ops.NumericRange(high=high, high_inclusive=_UPPER_BOUND_OPERATORS[operator])
    if operator not in _LOWER_BOUND_OPERATORS:
        raise InvalidFilterPattern(f"Unrecognized numeric range operator: {operator}")
    low = comparable_number(operand[1] if len(operand) > 1 else None, operator)
    low_inclusive = _LOWER_BOUND_OPERATORS[operator]
    if len(operand) == 2:
        return ops.NumericRange(low=low, low_inclusive=low_inclusive)
    return _closed_range(operand, low, low_inclusive)


def _closed_range(terms: list[Any], low: Decimal, low_inclusive: bool) -> MatchExpression:
    """The ``["<"|"<=", top]`` half of a two-sided range, checked against its bottom."""
    operator = terms[2]
    if not isinstance(operator, str):
        raise InvalidFilterPattern(f"Bad value in numeric range: {operator}")
    if operator not in _UPPER_BOUND_OPERATORS:
        raise InvalidFilterPattern(f"Bad numeric range operator: {operator}")
    high = comparable_number(terms[3] if len(terms) > 3 else None, operator)
    if len(terms) > 4:
        raise InvalidFilterPattern("Too many terms in numeric range expression")
    if low >= high:
        raise InvalidFilterPattern("Bottom must be less than top")
    return ops.NumericRange(low, low_inclusive, high, _UPPER_BOUND_OPERATORS[operator])


def _expect_terms(terms: list[Any], count: int) -> None:
    if len(terms) > count:
        raise InvalidFilterPattern("Too many elements in numeric expression")


def _anything_but(operand: object) -> MatchExpression:
    if isinstance(operand, dict):
        return _anything_but_of(operand)
    if isinstance(operand, str):
        return ops.AnythingBut(strings=frozenset({operand}))
    if is_number(operand):
        return ops.AnythingBut(numbers=frozenset({comparable_number(operand, "anything-but")}))
    if not isinstance(operand, list):
        raise InvalidFilterPattern(
            "Value of anything-but must be an array or single string/number value."
        )
    strings = [item for item in operand if isinstance(item, str)]
    numbers = [item for item in operand if is_number(item)]
    if len(strings) + len(numbers) != len(operand):
        raise InvalidFilterPattern("Inside anything but list, start|null|boolean is not supported.")
    if not operand or (strings and numbers):
        raise InvalidFilterPattern(
            "Inside anything but list, either all values are number or string, "
            "mixed type is not supported"
        )
    return ops.AnythingBut(
        strings=frozenset(strings),
        numbers=frozenset(comparable_number(number, "anything-but") for number in numbers),
    )


def _anything_but_of(operand: dict[str, Any]) -> MatchExpression:
    """``anything-but`` applied to prefix, suffix, equals-ignore-case or wildcard."""
    if not operand:
        raise InvalidFilterPattern("Anything-But expression name not found")
    if len(operand) > 1:
        raise InvalidFilterPattern("Only one key allowed in match expression")
    ((name, inner),) = operand.items()
    if name not in ("prefix", "suffix", EQUALS_IGNORE_CASE, "wildcard"):
        raise InvalidFilterPattern(f"Unsupported anything-but pattern: {name}")
    values = _string_set(inner, name)
    if name in ("prefix", "suffix") and "" in values:
        raise InvalidFilterPattern("Null prefix/suffix not allowed")
    if name == "prefix":
        return ops.AnythingButPrefix(values)
    if name == "suffix":
        return ops.AnythingButSuffix(values)
    if name == EQUALS_IGNORE_CASE:
        return ops.AnythingButIgnoreCase(frozenset(ops.fold(value) for value in values))
    return ops.AnythingButWildcard(tuple(parse_wildcard(value) for value in values))


def _string_set(inner: object, what: str) -> tuple[str, ...]:
    """One string or a non-empty array of strings, as anything-but's sub-operators take."""
    if isinstance(inner, str):
        return (inner,)
    if isinstance(inner, list) and inner and all(isinstance(item, str) for item in inner):
        return tuple(dict.fromkeys(inner))
    raise InvalidFilterPattern(f"{what} match pattern must be a string")


_PARSERS: dict[str, Callable[[Any], MatchExpression]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    EQUALS_IGNORE_CASE: _equals_ignore_case,
    "wildcard": _wildcard,
    "exists": _exists,
    "cidr": _cidr,
    "numeric": _numeric,
    "anything-but": _anything_but,
}

# Operator names; EventBridge refuses them as field names inside ``$or``.
OPERATOR_NAMES = frozenset(_PARSERS)
