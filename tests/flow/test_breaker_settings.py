"""``ROOST_BREAKER_*``: the circuit breakers' knobs, parsed, validated and wired."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.config import RoostConfig
from roost.flow.circuit_breaker import (
    DESTINATION_BREAKERS,
    HOST_BREAKERS,
    SOURCE_BREAKERS,
    BreakerSettings,
)
from roost.node import Node

EVERY_KNOB = {
    "ROOST_BREAKER_WINDOW_S": ("window_s", "12.5", 12.5),
    "ROOST_BREAKER_MIN_CALLS": ("min_calls", "7", 7),
    "ROOST_BREAKER_FAILURE_RATE": ("failure_rate", "0.25", 0.25),
    "ROOST_BREAKER_CONSECUTIVE_FAILURES": ("consecutive_failures", "9", 9),
    "ROOST_BREAKER_COOL_DOWN_S": ("cool_down_s", "2", 2.0),
    "ROOST_BREAKER_MAX_COOL_DOWN_S": ("max_cool_down_s", "20", 20.0),
    "ROOST_BREAKER_FLEET_FRACTION": ("fleet_fraction", "0.75", 0.75),
    "ROOST_BREAKER_MIN_FLEET_TARGETS": ("min_fleet_targets", "3", 3),
    "ROOST_BREAKER_ACTIVE_S": ("active_s", "100", 100.0),
    "ROOST_BREAKER_FLEET_BACKOFF_S": ("fleet_backoff_s", "0.5", 0.5),
    "ROOST_BREAKER_MAX_FLEET_BACKOFF_S": ("max_fleet_backoff_s", "8", 8.0),
}


@pytest.fixture(autouse=True)
def _no_breaker_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in EVERY_KNOB:
        monkeypatch.delenv(variable, raising=False)


def test_without_variables_the_breakers_keep_their_defaults() -> None:
    assert RoostConfig.from_env().breakers == BreakerSettings()


def test_every_variable_sets_its_knob(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, (_, text, _) in EVERY_KNOB.items():
        monkeypatch.setenv(variable, text)

    settings = RoostConfig.from_env().breakers

    for name, _, value in EVERY_KNOB.values():
        assert getattr(settings, name) == value, name


def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_BREAKER_MIN_CALLS", "")
    assert RoostConfig.from_env().breakers.min_calls == BreakerSettings().min_calls


@pytest.mark.parametrize(
    ("variable", "text", "says"),
    [
        ("ROOST_BREAKER_WINDOW_S", "0", "window_s"),
        ("ROOST_BREAKER_MIN_CALLS", "0", "min_calls"),
        ("ROOST_BREAKER_FAILURE_RATE", "1.5", "failure_rate"),
        ("ROOST_BREAKER_FAILURE_RATE", "0", "failure_rate"),
        ("ROOST_BREAKER_CONSECUTIVE_FAILURES", "0", "consecutive_failures"),
        ("ROOST_BREAKER_COOL_DOWN_S", "120", "cool_down_s"),
        ("ROOST_BREAKER_FLEET_FRACTION", "1", "fleet_fraction"),
        ("ROOST_BREAKER_MIN_FLEET_TARGETS", "0", "min_fleet_targets"),
        ("ROOST_BREAKER_ACTIVE_S", "-1", "active_s"),
        ("ROOST_BREAKER_MAX_FLEET_BACKOFF_S", "0.5", "fleet_backoff_s"),
        ("ROOST_BREAKER_MIN_CALLS", "many", "invalid literal"),
    ],
)
def test_out_of_range_values_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, text: str, says: str
) -> None:
    monkeypatch.setenv(variable, text)
    with pytest.raises(ValueError, match=says):
        RoostConfig.from_env()


def test_every_board_of_a_node_takes_the_configured_settings(tmp_path: Path) -> None:
    settings = BreakerSettings(consecutive_failures=2, cool_down_s=1.0)
    node = Node(RoostConfig(data_dir=tmp_path, breakers=settings))
    for kind in (DESTINATION_BREAKERS, HOST_BREAKERS, SOURCE_BREAKERS):
        assert node.breakers.board(kind).settings == settings
