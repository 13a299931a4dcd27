"""Value matchers: one compiled comparison operator each, tested against one event value.

A matcher sees one leaf value of the event (a string, number, boolean or null;
arrays are unpacked by the matcher engine, objects never reach here) and answers
whether it matches. Everything a pattern says is parsed and normalised when the
pattern is compiled, so matching does no parsing: sets for exact values, case-
folded text for the ignore-case forms, ``Decimal`` bounds for numbers, parsed
networks for CIDR blocks.

Numbers follow EventBridge's engine (Event Ruler): they compare by value, so 300,
300.0 and 3.0e2 are equal; ``numeric`` ranges only work inside -5e9..5e9, and a
value outside that range never matches a range. Operators that name strings
(prefix, suffix, wildcard, ignore-case, cidr) match only string values.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from roost.esm.filtering.wildcard import WildcardPattern

# Event Ruler turns numbers into fixed-width comparable strings, which caps the
# numbers a numeric pattern can name, and an event value it can range-compare.
NUMERIC_LIMIT = Decimal(5_000_000_000)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ValueMatcher(Protocol):
    """A compiled comparison against one event leaf value."""

    def matches(self, value: object) -> bool:
        """Whether ``value`` (a JSON scalar from the event) satisfies the operator."""
        ...


def as_number(value: object) -> Decimal | None:
    """The value as an exact ``Decimal`` if it is a JSON number, else ``None``.

    Booleans are ints in Python but not numbers in JSON. Floats go through
    ``repr`` so 0.1 compares equal to the pattern's 0.1 rather than to the
    binary fraction the float really holds.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        decimal = Decimal(repr(value))
        return decimal if decimal.is_finite() else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def fold(text: str) -> str:
    """Case-insensitive form of a string, used on both sides of an ignore-case compare."""
    return text.casefold()


@dataclass(frozen=True, slots=True)
class ExactStrings:
    """Any of these strings, character for character."""

    values: frozenset[str]

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and value in self.values


@dataclass(frozen=True, slots=True)
class ExactNumbers:
    """Any of these numbers, by value (``Decimal`` hashes equal numbers alike)."""

    values: frozenset[Decimal]

    def matches(self, value: object) -> bool:
        number = as_number(value)
        return number is not None and number in self.values


@dataclass(frozen=True, slots=True)
class ExactLiterals:
    """``null``, ``true`` or ``false`` named in the pattern."""

    null: bool = False
    true: bool = False
    false: bool = False

    def matches(self, value: object) -> bool:
        if value is None:
            return self.null
        if value is True:
            return self.true
        if value is False:
            return self.false
        return False


@dataclass(frozen=True, slots=True)
class Prefix:
    """A string starting with ``prefix`` (already case-folded when ``ignore_case``)."""

    prefix: str
    ignore_case: bool = False

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return (fold(value) if self.ignore_case else value).startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class Suffix:
    """A string ending with ``suffix`` (already case-folded when ``ignore_case``)."""

    suffix: str
    ignore_case: bool = False

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return (fold(value) if self.ignore_case else value).endswith(self.suffix)


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase:
    """A string equal to ``folded`` once both are case-folded."""

    folded: str

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and fold(value) == self.folded


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A string matching a wildcard value."""

    pattern: WildcardPattern

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and self.pattern.matches(value)


@dataclass(frozen=True, slots=True)
class AnythingBut:
    """Any value except these strings and numbers.

    Exclusion is by type, as in Event Ruler: excluded strings never exclude a
    number and excluded numbers never exclude a string; null and booleans pass.
    """

    strings: frozenset[str] = frozenset()
    numbers: frozenset[Decimal] = frozenset()

    def matches(self, value: object) -> bool:
        if isinstance(value, str):
            return value not in self.strings
        number = as_number(value)
        if number is not None:
            return number not in self.numbers
        return True


@dataclass(frozen=True, slots=True)
class AnythingButPrefix:
    """Any value that is not a string starting with one of ``prefixes``."""

    prefixes: tuple[str, ...]

    def matches(self, value: object) -> bool:
        return not (isinstance(value, str) and value.startswith(self.prefixes))


@dataclass(frozen=True, slots=True)
class AnythingButSuffix:
    """Any value that is not a string ending with one of ``suffixes``."""

    suffixes: tuple[str, ...]

    def matches(self, value: object) -> bool:
        return not (isinstance(value, str) and value.endswith(self.suffixes))


@dataclass(frozen=True, slots=True)
class AnythingButIgnoreCase:
    """Any value that is not a string equal, ignoring case, to one of ``folded``."""

    folded: frozenset[str]

    def matches(self, value: object) -> bool:
        return not (isinstance(value, str) and fold(value) in self.folded)


@dataclass(frozen=True, slots=True)
class AnythingButWildcard:
    """Any value that is not a string matching one of the wildcards."""

    patterns: tuple[WildcardPattern, ...]

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return True
        return not any(pattern.matches(value) for pattern in self.patterns)


@dataclass(frozen=True, slots=True)
class NumericRange:
    """A number within bounds; ``None`` leaves that side open. ``=`` is low == high."""

    low: Decimal | None = None
    low_inclusive: bool = False
    high: Decimal | None = None
    high_inclusive: bool = False

    def matches(self, value: object) -> bool:
        number = as_number(value)
        if number is None or not -NUMERIC_LIMIT <= number <= NUMERIC_LIMIT:
            return False
        if self.low is not None and (
            number < self.low or (number == self.low and not self.low_inclusive)
        ):
            return False
        return self.high is None or (
            number < self.high or (number == self.high and self.high_inclusive)
        )


@dataclass(frozen=True, slots=True)
class Cidr:
    """A string holding an IPv4 or IPv6 address inside ``network``."""

    network: IpNetwork

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        # An IPv4 address is never "in" an IPv6 network (and vice versa): False.
        return address in self.network
