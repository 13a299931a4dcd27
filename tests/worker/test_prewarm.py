"""Pre-warmed pools: linking code into a slot, taking and refilling pooled environments."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from roost.worker.environment import RuntimeStatus
from roost.worker.prewarm import PrewarmPool, link_tree


def test_link_tree_links_files_and_keeps_symlinks(tmp_path: Path) -> None:
    source = tmp_path / "code"
    (source / "pkg").mkdir(parents=True)
    (source / "app.py").write_text("print('hi')\n")
    (source / "pkg" / "mod.py").write_text("x = 1\n")
    os.symlink("app.py", source / "alias.py")
    target = tmp_path / "slot"
    target.mkdir()

    link_tree(source, target)

    assert (target / "pkg" / "mod.py").read_text() == "x = 1\n"
    assert os.stat(target / "app.py").st_ino == os.stat(source / "app.py").st_ino
    assert os.readlink(target / "alias.py") == "app.py"


class FakeEnvironment:
    def __init__(self, key: tuple[int, int]) -> None:
        self.key = key
        self.status = RuntimeStatus.POOLED


def test_take_hands_out_a_pooled_environment_and_refills_behind() -> None:
    async def scenario() -> None:
        created: list[FakeEnvironment] = []

        async def create_blank(memory_mb: int, ephemeral_mb: int) -> Any:
            env = FakeEnvironment((memory_mb, ephemeral_mb))
            created.append(env)
            return env

        pool = PrewarmPool(create_blank, per_size=2)
        pool.warm((128, 512))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert pool.size((128, 512)) == 2

        taken = pool.take((128, 512))
        await asyncio.sleep(0)
        await asyncio.sleep(0)

        assert taken is created[1]
        assert pool.size((128, 512)) == 2
        assert len(created) == 3
        assert pool.take((256, 512)) is None  # Empty at first: asks for a fill.
        await pool.stop()

    asyncio.run(scenario())


def test_a_dead_pooled_environment_is_not_handed_out() -> None:
    async def scenario() -> None:
        async def create_blank(memory_mb: int, ephemeral_mb: int) -> Any:
            return FakeEnvironment((memory_mb, ephemeral_mb))

        pool = PrewarmPool(create_blank, per_size=1)
        pool.warm((256, 512))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        [env] = pool._pools[(256, 512)]
        env.status = RuntimeStatus.DEAD

        assert pool.take((256, 512)) is None
        await pool.stop()

    asyncio.run(scenario())
