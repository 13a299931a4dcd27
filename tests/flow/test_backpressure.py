"""Host pressure: readings to a level, states with hysteresis, the host's inputs,
the CPU sampler, and what the drain governor does with the state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from roost.flow.backpressure import (
    BackpressureSettings,
    CpuSampler,
    HostInputs,
    HostPressure,
    PressureReading,
    PressureState,
)
from roost.flow.drain_governor import Decision, DrainGovernor, DrainSettings, IntervalReport
from roost.flow.drain_governor import Pressure as NodePressure

NORMAL, ELEVATED, CRITICAL = PressureState.NORMAL, PressureState.ELEVATED, PressureState.CRITICAL
SETTINGS = BackpressureSettings(elevated_at=0.8, critical_at=0.95, hysteresis=0.1)


@dataclass
class Readings:
    """``PressureInputs`` handing out the readings a test sets."""

    now: PressureReading = field(default_factory=PressureReading)

    def read(self) -> PressureReading:
        return self.now


def pressure(settings: BackpressureSettings = SETTINGS) -> tuple[HostPressure, Readings]:
    readings = Readings()
    return HostPressure(settings, readings), readings


def test_the_level_is_the_highest_input_with_cpu_capped_below_critical() -> None:
    host, _ = pressure()
    assert host.level_of(PressureReading(cpu=0.2, memory=0.5, slots=0.3)) == 0.5
    # A saturated CPU alone makes the host elevated, never critical
    assert host.level_of(PressureReading(cpu=1.0)) == SETTINGS.cpu_ceiling
    assert host.observe(PressureReading(cpu=1.0)) is ELEVATED
    # Without the CPU input it counts for nothing
    no_cpu, _ = pressure(BackpressureSettings(cpu=False))
    assert no_cpu.level_of(PressureReading(cpu=1.0)) == 0.0


def test_states_rise_at_once_and_fall_only_below_the_hysteresis_band() -> None:
    host, _ = pressure()
    # Given a host rising through both thresholds
    assert host.observe(PressureReading(slots=0.5)) is NORMAL
    assert host.observe(PressureReading(slots=0.8)) is ELEVATED
    assert host.observe(PressureReading(slots=1.0)) is CRITICAL
    # When the level hovers just below the critical threshold, it stays critical
    assert host.observe(PressureReading(slots=0.9)) is CRITICAL
    assert host.observe(PressureReading(slots=0.96)) is CRITICAL
    # Then it falls to elevated once 0.1 below, and to normal once 0.1 below that
    assert host.observe(PressureReading(slots=0.84)) is ELEVATED
    assert host.observe(PressureReading(slots=0.75)) is ELEVATED
    assert host.observe(PressureReading(slots=0.69)) is NORMAL
    # And a drop straight from critical to nothing goes straight to normal
    host.observe(PressureReading(memory=1.0))
    assert host.observe(PressureReading()) is NORMAL
    assert host.transitions == {NORMAL: 2, ELEVATED: 2, CRITICAL: 2}


def test_a_level_flickering_at_a_threshold_does_not_flap() -> None:
    host, readings = pressure()
    states = []
    for level in [0.79, 0.81, 0.79, 0.81, 0.78, 0.8, 0.75]:
        readings.now = PressureReading(memory=level)
        states.append(host.sample())
    assert states == [NORMAL] + [ELEVATED] * 6
    assert host.transitions[ELEVATED] == 1


def test_pauses_and_the_critical_wait_follow_the_state() -> None:
    async def scenario() -> None:
        host, _ = pressure()
        assert host.pause_s() == 0 and not host.elevated
        host.observe(PressureReading(slots=0.85))
        assert host.pause_s() == SETTINGS.elevated_pause_s and host.elevated
        host.observe(PressureReading(slots=1.0))
        assert host.pause_s() == SETTINGS.critical_pause_s and host.critical
        waiter = asyncio.ensure_future(host.below_critical())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        host.observe(PressureReading(slots=0.2))
        await asyncio.wait_for(waiter, 1)

    asyncio.run(scenario())


def test_a_disabled_layer_never_samples() -> None:
    host, readings = pressure(BackpressureSettings(enabled=False))
    readings.now = PressureReading(memory=1.0)
    assert host.sample() is NORMAL


def test_sampling_runs_every_interval_once_started() -> None:
    async def scenario() -> None:
        host, readings = pressure(BackpressureSettings(interval_s=0.01))
        host.start()
        readings.now = PressureReading(slots=1.0)
        await asyncio.sleep(0.05)
        assert host.critical
        await host.stop()

    asyncio.run(scenario())


def test_host_inputs_count_busy_environments_against_budget_and_cap() -> None:
    # Given 3 busy environments of 512 MB on a host of 2048 MB and a cap of 4
    inputs = HostInputs(lambda: (3, 1536), memory_budget_mb=2048, max_environments=4)
    assert inputs.read() == PressureReading(cpu=0.0, memory=0.75, slots=0.75)
    # Without a cap only memory presses
    uncapped = HostInputs(lambda: (3, 1536), memory_budget_mb=2048, max_environments=None)
    assert uncapped.read().slots == 0.0
    with_cpu = HostInputs(lambda: (0, 0), 2048, None, cpu=lambda: 0.4)
    assert with_cpu.read().cpu == 0.4


def test_the_cpu_sampler_reads_a_cgroup_quota(tmp_path: Path) -> None:
    # Given a cgroup allowed 1 core that used 0 µs, then a lot
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    (tmp_path / "cpu.stat").write_text("usage_usec 0\nuser_usec 0\n")
    sampler = CpuSampler(tmp_path)
    assert sampler() == 0.0  # the first call sets the baseline
    (tmp_path / "cpu.stat").write_text("usage_usec 999999999999\n")
    assert sampler() == 1.0  # clamped: more than the quota's time since
    assert 0.0 <= CpuSampler(tmp_path / "absent")() <= 1.0  # /proc/stat or the load


@pytest.mark.parametrize(
    ("host", "decision"),
    [(NORMAL, Decision.INCREASE), (ELEVATED, Decision.HOLD), (CRITICAL, Decision.DECREASE)],
)
def test_the_drain_governor_holds_when_elevated_and_cuts_when_critical(
    host: PressureState, decision: Decision
) -> None:
    governor = DrainGovernor(DrainSettings())
    report = IntervalReport(attempts=10, latency_sum_s=1.0, waited=5)
    assert governor.decide(report, NodePressure(host=host)) is decision
