"""The worker host's environment cap: counted once per environment, idle ones evicted
for it, ``HostFull`` when everything is busy."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from roost.functions.model import CodeLocation, FunctionConfig
from roost.store.filesystem import FileCodeStore
from roost.worker.environment import ExecutionEnvironment, RuntimeStatus
from roost.worker.host import HostFull, HostSettings, WorkerHost
from roost.worker.sandbox_area import SandboxArea


@dataclass
class _Spec:
    memory_mb: int = 128


@dataclass
class _FakeEnvironment:
    """Just what the host's bookkeeping reads of an environment."""

    env_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: RuntimeStatus = RuntimeStatus.READY
    spec: _Spec = field(default_factory=_Spec)
    last_used: float = 0.0
    destroyed: bool = False

    async def destroy(self) -> None:
        self.destroyed = True


def _host(tmp_path: Path, cap: int | None, start_s: float = 0.0) -> WorkerHost:
    area = SandboxArea.for_data_dir(tmp_path)
    area.prepare()
    settings = HostSettings(prewarm_per_size=0, sandboxed=False, zygote=False, max_environments=cap)
    host = WorkerHost(area, FileCodeStore(tmp_path / "code"), settings)

    async def start_for(account_id: str, config: Any, network: bool) -> ExecutionEnvironment:
        env = _FakeEnvironment()
        host.environments[env.env_id] = env  # type: ignore[assignment]
        await asyncio.sleep(start_s)
        return env  # type: ignore[return-value]

    host._start_for = start_for  # type: ignore[method-assign]
    return host


def _config(name: str = "fn") -> FunctionConfig:
    code = CodeLocation(sha256_hex="0" * 64, code_sha256="", size_bytes=0)
    return FunctionConfig(name, "python3.12", "arn:aws:iam::000000000000:role/r", "app.h", code)


@pytest.fixture
def config() -> FunctionConfig:
    return _config()


def test_busy_environments_fill_the_cap_then_the_host_refuses(
    tmp_path: Path, config: FunctionConfig
) -> None:
    async def main() -> None:
        host = _host(tmp_path, cap=2)
        await host.create("a", config)
        await host.create("a", config)

        with pytest.raises(HostFull) as caught:
            await host.create("a", config)

        assert caught.value.reason == "environments"
        assert host.capacity().refused["environments"] == 1
        assert host.capacity().function_environments == 2

    asyncio.run(main())


def test_starting_environments_count_once_against_the_cap(
    tmp_path: Path, config: FunctionConfig
) -> None:
    async def main() -> None:
        # Given a cap of 3 and three cold starts in progress at once
        host = _host(tmp_path, cap=3, start_s=0.05)
        results = await asyncio.gather(
            *(host.create("a", config) for _ in range(5)), return_exceptions=True
        )

        # Then exactly three start, two are refused, and each counts once
        refused = [r for r in results if isinstance(r, HostFull)]
        assert len(refused) == 2
        assert host.function_environments == 3

    asyncio.run(main())


def test_an_idle_environment_is_evicted_to_make_room(
    tmp_path: Path, config: FunctionConfig
) -> None:
    async def main() -> None:
        host = _host(tmp_path, cap=1)
        idle = await host.create("a", config)
        host.checkin(idle)

        fresh = await host.create("a", _config("other"))

        assert idle.destroyed  # type: ignore[attr-defined]
        assert fresh is not idle and host.function_environments == 1

    asyncio.run(main())


def test_without_a_cap_only_memory_bounds_the_host(tmp_path: Path, config: FunctionConfig) -> None:
    async def main() -> None:
        host = _host(tmp_path, cap=None)
        for _ in range(10):
            await host.create("a", config)

        assert host.capacity().max_environments is None
        assert host.function_environments == 10

    asyncio.run(main())
