"""The worker host's backpressure sampler: ``HostPressure`` over a ``WorkerHost``.

The host reports what presses it (``flow.backpressure``): its CPU, the memory
of the environments serving invokes against its budget, and those
environments against its cap. Idle environments are left out on purpose: the
host evicts them to make room, so they take nothing from new work.
"""

from __future__ import annotations

from roost.flow.backpressure import BackpressureSettings, CpuSampler, HostInputs, HostPressure
from roost.worker.host import WorkerHost


def host_inputs(host: WorkerHost, cpu: bool = True) -> HostInputs:
    """``PressureInputs`` of ``host`` (``cpu`` False leaves CPU out)."""

    def busy() -> tuple[int, int]:
        capacity = host.capacity()
        return capacity.busy_environments, capacity.busy_memory_mb

    return HostInputs(
        busy,
        host.settings.memory_budget_mb,
        host.settings.max_environments,
        CpuSampler() if cpu else None,
    )


def start_host_pressure(settings: BackpressureSettings, host: WorkerHost) -> HostPressure | None:
    """``host``'s pressure, sampling on the running loop (None when turned off)."""
    if not settings.enabled:
        return None
    pressure = HostPressure(settings, host_inputs(host, settings.cpu))
    pressure.start()
    return pressure
