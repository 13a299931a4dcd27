"""Prometheus's text exposition format (version 0.0.4): rendering and parsing.

Only what Roost needs: counters, gauges and summaries without quantiles, each
family with ``# HELP`` and ``# TYPE`` lines and its samples. ``parse`` reads the
same subset back, for ``roost async-stats`` and the tests.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


class MetricType(enum.StrEnum):
    """The metric types Roost exposes."""

    COUNTER = "counter"
    GAUGE = "gauge"
    SUMMARY = "summary"


@dataclass(frozen=True)
class Sample:
    """One line of a family: a name (the family's, or with ``_sum``/``_count``),
    its labels and its value."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class MetricFamily:
    """A metric's help text, type and samples."""

    name: str
    type: MetricType
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> None:
        """Add a sample (``suffix`` is ``_sum`` or ``_count`` for summaries)."""
        self.samples.append(Sample(self.name + suffix, labels, value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(families: Iterable[MetricFamily]) -> str:
    """The exposition text of ``families`` (each family's lines together)."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type.value}")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels.items())
            text = f"{{{labels}}}" if labels else ""
            lines.append(f"{sample.name}{text} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse(text: str) -> list[Sample]:
    """Every sample of an exposition text (comments skipped); ``ValueError`` if a
    line is not a sample Roost would write."""
    samples: list[Sample] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"not a metric sample: {line!r}")
        name, labels_text, value = match.groups()
        labels = {k: _unescape(v) for k, v in _LABEL.findall(labels_text or "")}
        samples.append(Sample(name, labels, float(value)))
    return samples
