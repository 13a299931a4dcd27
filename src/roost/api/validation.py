"""Constraint checks from the model: required, ranges, lengths, enums and patterns.

The messages follow AWS's validation format ("1 validation error detected: Value
'1000' at 'timeout' failed to satisfy constraint: Member must have value less than
or equal to 900"), and every violation of a request is reported at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from roost.api.errors import InvalidRequestContentException, ValidationException

# Java regex classes the model uses that Python's re lacks, and their equivalents.
# \p{Z} is Unicode separators only: unlike \s it excludes tab and newline.
_JAVA_CLASSES = {
    r"\p{L}": r"^\W\d_",
    r"\p{Z}": "\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    r"\p{N}": r"\d",
}


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    letters = _JAVA_CLASSES[r"\p{L}"]
    if r"\p{L}" in pattern:
        # Letters are "word characters but not digits or underscore"; inside a class
        # that needs a nested negation Python lacks, so spell it as a lookahead union.
        pattern = pattern.replace(r"\p{L}", "")
        pattern = re.sub(r"\[([^\]]*)\]", lambda m: f"(?:[{m.group(1)}]|[{letters}])", pattern)
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    return re.compile(pattern, re.DOTALL)


# Shapes whose enum Lambda checks itself, answering InvalidParameterValueException
# with its own message (an unknown or deprecated runtime), not ValidationException.
_DOMAIN_CHECKED_ENUMS = frozenset({"Runtime"})


def _label(path: str, name: str) -> str:
    member = name[:1].lower() + name[1:]
    return f"{path}.{member}" if path else member


def _render(value: Any) -> str:
    """A value as AWS's (Java) validator prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return "java.nio.HeapByteBuffer"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_render(k)}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


# AWS Lambda's documented limits where they are tighter than the model's ranges
# (newer models widen Timeout and MemorySize for other compute types).
LAMBDA_MAXIMA = {"Timeout": 900, "MemorySize": 10240, "EphemeralStorageSize": 10240}


def _bounds(shape: Any, measured: float, noun: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if shape.name in LAMBDA_MAXIMA:
        high = (
            min(high, LAMBDA_MAXIMA[shape.name]) if high is not None else LAMBDA_MAXIMA[shape.name]
        )
    found = []
    if low is not None and measured < low:
        found.append(f"Member must have {noun} greater than or equal to {low}")
    if high is not None and measured > high:
        found.append(f"Member must have {noun} less than or equal to {high}")
    return found


def _scalar_constraints(shape: Any, value: Any) -> list[str]:
    """Constraints a well-typed scalar breaks (length, range, enum, pattern)."""
    if isinstance(value, str):
        found = _bounds(shape, len(value), "length")
        enum = shape.metadata.get("enum")
        if enum and value not in enum and shape.name not in _DOMAIN_CHECKED_ENUMS:
            found.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = shape.metadata.get("pattern")
        if pattern and _regex(pattern).fullmatch(value) is None:
            found.append(f"Member must satisfy regular expression pattern: {pattern}")
        return found
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _bounds(shape, value, "value")
    return []


# JSON types each scalar shape accepts, and how to name them in an error.
_SCALAR_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "string": ((str,), "a string"),
    "integer": ((int,), "an integer"),
    "long": ((int,), "an integer"),
    "double": ((int, float), "a number"),
    "float": ((int, float), "a number"),
    "boolean": ((bool,), "a boolean"),
    "blob": ((bytes, bytearray), "base64-encoded binary data"),
    "timestamp": ((int, float, str), "a timestamp"),
}


class _Checker:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self.type_errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str, *, sensitive: bool = False) -> None:
        shown = "Value" if sensitive else f"Value '{_render(value)}'"
        self.violations.append(f"{shown} at '{path}' failed to satisfy constraint: {constraint}")

    def check(self, shape: Any, value: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self._check_structure(shape, value, path)
        elif kind == "list":
            self._check_list(shape, value, path)
        elif kind == "map":
            self._check_map(shape, value, path)
        elif self._well_typed(shape, value, path):
            for constraint in _scalar_constraints(shape, value):
                self.fail(value, path, constraint, sensitive=bool(shape.metadata.get("sensitive")))

    def _well_typed(self, shape: Any, value: Any, path: str) -> bool:
        kind = shape.type_name
        if kind not in _SCALAR_TYPES:
            return True
        allowed, noun = _SCALAR_TYPES[kind]
        wrong_bool = isinstance(value, bool) and kind != "boolean"
        if wrong_bool or not isinstance(value, allowed):
            self.type_errors.append(f"'{path}' must be {noun}")
            return False
        return True

    def _check_structure(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.type_errors.append(f"'{path or 'body'}' must be an object")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                self.violations.append(
                    f"Value null at '{_label(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member in shape.members.items():
            if value.get(name) is not None:
                self.check(member, value[name], _label(path, name))

    def _elements(self, shape: Any, values: list[Any], path: str) -> list[str]:
        """Constraints broken by scalar elements; structured elements are checked in place."""
        if shape.type_name in ("structure", "list", "map"):
            for item in values:
                self.check(shape, item, f"{path}.member")
            return []
        found: list[str] = []
        for item in values:
            if self._well_typed(shape, item, path):
                found += [c for c in _scalar_constraints(shape, item) if c not in found]
        return found

    def _check_list(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.type_errors.append(f"'{path}' must be an array")
            return
        for constraint in _bounds(shape, len(value), "length"):
            self.fail(value, path, constraint)
        found = self._elements(shape.member, value, path)
        if found:
            self.fail(value, path, f"Member must satisfy constraint: [{', '.join(found)}]")

    def _check_map(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.type_errors.append(f"'{path}' must be an object")
            return
        sensitive = bool(
            shape.metadata.get("sensitive")
            or shape.key.metadata.get("sensitive")
            or shape.value.metadata.get("sensitive")
        )
        for constraint in _bounds(shape, len(value), "length"):
            self.fail(value, path, constraint, sensitive=sensitive)
        for part, items in (("keys", list(value)), ("value", list(value.values()))):
            element = shape.key if part == "keys" else shape.value
            found = self._elements(element, items, path)
            if found:
                noun = "Map keys" if part == "keys" else "Map value"
                constraint = f"{noun} must satisfy constraint: [{', '.join(found)}]"
                self.fail(value, path, constraint, sensitive=sensitive)


def validate_input(shape: Any, params: Mapping[str, Any]) -> None:
    """Raise the AWS error for the first class of problem found in ``params``.

    Wrong JSON types come first (``InvalidRequestContentException``, as AWS's
    deserializer fails before validation runs), then every constraint violation
    together in one ``ValidationException``.
    """
    checker = _Checker()
    checker.check(shape, params, "")
    if checker.type_errors:
        raise InvalidRequestContentException(
            "Could not parse request body into json: " + "; ".join(checker.type_errors)
        )
    if checker.violations:
        count = len(checker.violations)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(
            f"{count} validation {noun} detected: " + "; ".join(checker.violations)
        )


# Parameter sets an ``InputValidator`` remembers as valid; past this many it
# starts over.
VALID_MEMO = 4096
# Longest string a remembered set may hold (bounds the memory's size).
MEMO_MAX_STRING = 256
_SCALARS = (str, int, float, bool, type(None))


class InputValidator:
    """``validate_input`` that remembers parameter sets it found valid.

    Requests repeat their parameters (one function's invokes differ only in the
    payload), and validating against the model costs more than a lookup. A set
    is remembered by its scalar values (with their types: ``True`` is not ``1``
    here) and its blobs' lengths (the model constrains a blob by its length
    only); parameters holding lists or structures are validated every time.
    Only valid sets are remembered, so every invalid request gets its error.
    """

    def __init__(self, limit: int = VALID_MEMO) -> None:
        self._limit = limit
        self._valid: set[tuple[Any, ...]] = set()

    def validate(self, shape: Any, params: Mapping[str, Any]) -> None:
        """``validate_input(shape, params)``, skipped for a set already found valid."""
        key = _memo_key(shape, params)
        if key is not None and key in self._valid:
            return
        validate_input(shape, params)
        if key is not None:
            if len(self._valid) >= self._limit:
                self._valid.clear()
            self._valid.add(key)


def _memo_key(shape: Any, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    parts: list[Any] = [shape.name]
    for name, value in params.items():
        if isinstance(value, str) and len(value) > MEMO_MAX_STRING:
            return None  # a long value (a client context) seldom repeats: keep it out
        if isinstance(value, _SCALARS):
            parts.append((name, type(value), value))
        elif isinstance(value, bytes | bytearray | memoryview):
            parts.append((name, bytes, len(value)))
        else:
            return None
    return tuple(parts)


def violations_of(shape: Any, value: Mapping[str, Any]) -> list[str]:
    """Every type error and constraint violation of ``value`` (used to check responses)."""
    checker = _Checker()
    checker.check(shape, value, "")
    return checker.type_errors + checker.violations
