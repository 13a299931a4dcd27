"""Wildcard values: ``*`` matches any run of characters, ``\\*`` a literal asterisk.

EventBridge's rules for a wildcard value: any number of ``*``, but never two in a
row; a backslash escapes only ``*`` or another backslash. A wildcard is compiled
into its literal segments once; matching then walks the segments left to right
with ``str.find``, which is linear in the value and cannot backtrack
catastrophically the way a translated regular expression (``.*a.*a.*a``) can.
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.esm.filtering.errors import InvalidFilterPattern


@dataclass(frozen=True, slots=True)
class WildcardPattern:
    """A compiled wildcard: the literal text between unescaped ``*``.

    ``segments`` has one more element than the pattern has wildcards; a pattern
    without wildcards is a single segment and matches only that exact string.
    """

    text: str
    segments: tuple[str, ...]

    def matches(self, value: str) -> bool:
        """Whether ``value`` matches the whole wildcard (not a substring of it)."""
        segments = self.segments
        if len(segments) == 1:
            return value == segments[0]
        head, tail = segments[0], segments[-1]
        if len(value) < len(head) + len(tail):
            return False
        if not value.startswith(head) or not value.endswith(tail):
            return False
        # The middle segments may float anywhere between head and tail, in order;
        # taking each at its leftmost place leaves the most room for the rest.
        position, end = len(head), len(value) - len(tail)
        for segment in segments[1:-1]:
            found = value.find(segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True


def parse_wildcard(text: str) -> WildcardPattern:
    """Compile a wildcard value, raising ``InvalidFilterPattern`` where EventBridge would."""
    segments: list[str] = []
    current: list[str] = []
    index = 0
    previous_was_wildcard = False
    while index < len(text):
        char = text[index]
        if char == "\\":
            escaped = text[index + 1] if index + 1 < len(text) else ""
            if escaped not in ("*", "\\"):
                raise InvalidFilterPattern(f"Invalid escape character at pos {index + 1}")
            current.append(escaped)
            index += 2
            previous_was_wildcard = False
            continue
        if char == "*":
            if previous_was_wildcard:
                raise InvalidFilterPattern(f"Consecutive wildcard characters at pos {index}")
            segments.append("".join(current))
            current = []
            previous_was_wildcard = True
        else:
            current.append(char)
            previous_was_wildcard = False
        index += 1
    segments.append("".join(current))
    return WildcardPattern(text=text, segments=tuple(segments))
