"""Helpers shared by the filtering test tables."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest


def text_of(pattern: Any) -> str:
    """A pattern given as a dict is dumped to JSON; a string is used as written."""
    return pattern if isinstance(pattern, str) else json.dumps(pattern)


def case(name: str, pattern: Any, event: Any, expected: bool) -> Any:
    """One row of a matching table, named for pytest's ids."""
    return pytest.param(pattern, event, expected, id=name)


def b64json(document: Any) -> str:
    """A JSON document base64-encoded, as Kinesis data and Kafka values arrive."""
    return b64text(json.dumps(document))


def b64text(text: str) -> str:
    """Text base64-encoded."""
    return base64.b64encode(text.encode()).decode()
