"""``/metrics`` for backpressure (docs/resilience.md, "Backpressure"): the worker
host's pressure level, its inputs and state, and the work pollers held back."""

from __future__ import annotations

from roost.flow.backpressure import HostPressure, PressureState
from roost.observability.prometheus import MetricFamily, MetricType


def backpressure_families(pressure: HostPressure) -> list[MetricFamily]:
    """Level, inputs, state and its changes, and deferrals by consumer, read now."""
    gauge, counter = MetricType.GAUGE, MetricType.COUNTER
    figures = pressure.figures()
    level = MetricFamily(
        "roost_backpressure_level", gauge, "Worker host pressure 0..1: the highest input."
    )
    level.add(round(figures.level, 4))
    inputs = MetricFamily(
        "roost_backpressure_input",
        gauge,
        "Worker host pressure inputs 0..1: cpu, memory (busy environments over the budget), "
        "slots (busy environments over the cap).",
    )
    for name, value in figures.reading.as_dict().items():
        inputs.add(round(value, 4), input=name)
    state = MetricFamily(
        "roost_backpressure_state", gauge, "Worker host pressure: 0 normal, 1 elevated, 2 critical."
    )
    state.add(figures.state.value)
    entered = MetricFamily(
        "roost_backpressure_transitions", counter, "Times the pressure state was entered."
    )
    for target in PressureState:
        entered.add(figures.transitions.get(target, 0), "_total", state=target.name.lower())
    deferred = MetricFamily(
        "roost_backpressure_deferred",
        counter,
        "Polls and events held back by backpressure, by consumer "
        "(async_receive, async_low_priority, esm_poll, stream_read).",
    )
    for consumer, count in sorted(figures.deferred.items()):
        deferred.add(count, "_total", consumer=consumer)
    return [level, inputs, state, entered, deferred]
