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
_JAVA_CLASSES = {r"\p{L}": r"\w", r"\p{Z}": r"\s", r"\p{N}": r"\d"}


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
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
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return "java.nio.HeapByteBuffer"
    return str(value)


class _Checker:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self.type_errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.violations.append(
            f"Value '{_render(value)}' at '{path}' failed to satisfy constraint: {constraint}"
        )

    def check(self, shape: Any, value: Any, path: str) -> None:
        kind = shape.type_name
        checker = getattr(self, f"_check_{kind}", None)
        if checker is not None:
            checker(shape, value, path)

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

    def _check_list(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.type_errors.append(f"'{path}' must be an array")
            return
        self._check_length(shape, value, len(value), path)
        for item in value:
            self.check(shape.member, item, f"{path}.member")

    def _check_map(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.type_errors.append(f"'{path}' must be an object")
            return
        self._check_length(shape, value, len(value), path)
        for key, item in value.items():
            self.check(shape.key, key, f"{path}.key")
            self.check(shape.value, item, f"{path}.value")

    def _check_string(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.type_errors.append(f"'{path}' must be a string")
            return
        self._check_length(shape, value, len(value), path)
        enum = shape.metadata.get("enum")
        if enum and value not in enum and shape.name not in _DOMAIN_CHECKED_ENUMS:
            self.fail(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = shape.metadata.get("pattern")
        if pattern and _regex(pattern).fullmatch(value) is None:
            self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def _check_integer(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.type_errors.append(f"'{path}' must be an integer")
            return
        self._check_range(shape, value, path)

    _check_long = _check_integer

    def _check_double(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.type_errors.append(f"'{path}' must be a number")
            return
        self._check_range(shape, value, path)

    _check_float = _check_double

    def _check_timestamp(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.type_errors.append(f"'{path}' must be a timestamp")

    def _check_boolean(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.type_errors.append(f"'{path}' must be a boolean")

    def _check_blob(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, bytes | bytearray):
            self.type_errors.append(f"'{path}' must be base64-encoded binary data")

    def _check_range(self, shape: Any, value: float, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(value, path, f"Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            self.fail(value, path, f"Member must have value less than or equal to {high}")

    def _check_length(self, shape: Any, value: Any, length: int, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and length < low:
            self.fail(value, path, f"Member must have length greater than or equal to {low}")
        if high is not None and length > high:
            self.fail(value, path, f"Member must have length less than or equal to {high}")


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


def violations_of(shape: Any, value: Mapping[str, Any]) -> list[str]:
    """Every type error and constraint violation of ``value`` (used to check responses)."""
    checker = _Checker()
    checker.check(shape, value, "")
    return checker.type_errors + checker.violations
