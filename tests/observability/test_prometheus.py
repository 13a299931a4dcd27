"""Prometheus's text format: what ``/metrics`` writes, and reading it back."""

from __future__ import annotations

import pytest

from roost.observability.prometheus import MetricFamily, MetricType, Sample, parse, render


def test_a_family_renders_help_type_and_labelled_samples() -> None:
    family = MetricFamily("roost_things_total", MetricType.COUNTER, "Things done.")
    family.add(3, account="1", function="a")
    family.add(0.5, function="b")

    text = render([family])

    assert text == (
        "# HELP roost_things_total Things done.\n"
        "# TYPE roost_things_total counter\n"
        'roost_things_total{account="1",function="a"} 3\n'
        'roost_things_total{function="b"} 0.5\n'
    )


def test_a_summary_has_sum_and_count_samples() -> None:
    family = MetricFamily("roost_age_seconds", MetricType.SUMMARY, "Ages.")
    family.add(1.5, "_sum", function="a")
    family.add(2, "_count", function="a")

    assert parse(render([family])) == [
        Sample("roost_age_seconds_sum", {"function": "a"}, 1.5),
        Sample("roost_age_seconds_count", {"function": "a"}, 2.0),
    ]


def test_label_values_are_escaped_and_read_back_unchanged() -> None:
    family = MetricFamily("roost_g", MetricType.GAUGE, "A gauge\nwith two lines.")
    awkward = 'quote " backslash \\ newline \n end'
    family.add(1, function=awkward)

    text = render([family])

    assert "# HELP roost_g A gauge\\nwith two lines.\n" in text
    assert parse(text) == [Sample("roost_g", {"function": awkward}, 1.0)]


def test_a_family_without_samples_still_declares_itself() -> None:
    text = render([MetricFamily("roost_empty", MetricType.GAUGE, "Nothing yet.")])

    assert text == "# HELP roost_empty Nothing yet.\n# TYPE roost_empty gauge\n"
    assert parse(text) == []


def test_parse_refuses_a_line_that_is_not_a_sample() -> None:
    with pytest.raises(ValueError, match="not a metric sample"):
        parse("this is { not prometheus\n")
