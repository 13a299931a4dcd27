"""The sandbox area (code cache and runtime client) and the cleanup of what workers leave."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from roost.worker.cgroups import CgroupManager
from roost.worker.sandbox import SANDBOX_UID
from roost.worker.sandbox_area import SandboxArea, sweep_orphans
from tests.worker.environments import needs_cgroups

HOUR = 3600


def private_data_dir(tmp_path: Path, name: str = "data") -> Path:
    """A data dir the sandbox uid cannot reach (like pytest's, or one under /root)."""
    parent = tmp_path / f"private-{name}"
    parent.mkdir()
    parent.chmod(0o700)
    data = parent / name
    data.mkdir()
    return data


def test_an_unreachable_data_dir_gets_a_shared_area_that_names_its_owner(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    data = private_data_dir(tmp_path)

    area = SandboxArea.for_data_dir(data, shared_root=shared)
    area.prepare()

    assert area.root.parent == shared
    assert (area.root / "owner").read_text() == str(data.resolve())
    assert (area.root.stat().st_mode & 0o777) == 0o711
    assert (area.runtime_dir / "bootstrap.py").stat().st_mode & 0o777 == 0o644


def test_a_reachable_data_dir_keeps_its_area_inside() -> None:
    base = Path(tempfile.mkdtemp(prefix="roost-test-open-", dir="/var/tmp"))
    try:
        base.chmod(0o755)
        data = base / "data"
        data.mkdir()

        area = SandboxArea.for_data_dir(data)

        assert area.root == data.resolve() / "sandbox"
        assert area.owner is None
    finally:
        shutil.rmtree(base)


def test_areas_whose_data_dir_is_gone_are_swept(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    gone, alive, fresh = (private_data_dir(tmp_path, n) for n in ("gone", "alive", "fresh"))
    areas = {}
    for data in (gone, alive, fresh):
        areas[data.name] = SandboxArea.for_data_dir(data, shared_root=shared)
        areas[data.name].prepare()
    legacy = shared / "roost-sandbox-legacy"
    legacy.mkdir()
    gone.rmdir()
    fresh.rmdir()
    old = time.time() - 2 * HOUR
    for path in (areas["gone"].root, areas["alive"].root, legacy):
        os.utime(path, (old, old))

    removed = sweep_orphans(shared, keep=shared / "none")

    assert removed == 1
    assert not areas["gone"].root.exists()
    assert areas["alive"].root.exists()
    assert areas["fresh"].root.exists()  # recently used: maybe being prepared right now
    assert legacy.exists()  # names no owner: never guessed at


@needs_cgroups
def test_empty_cgroups_left_behind_are_swept_and_busy_ones_kept() -> None:
    manager = CgroupManager()
    prefix = f"env-sweep-{uuid.uuid4().hex[:8]}-"
    empty = manager.create(f"{prefix}empty", 64 << 20, 16, SANDBOX_UID)
    busy = manager.create(f"{prefix}busy", 64 << 20, 16, SANDBOX_UID)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        for procs in busy.procs_files:
            procs.write_text(str(sleeper.pid))

        young = manager.sweep(prefix=prefix)
        removed = manager.sweep(prefix=prefix, min_age_s=0)

        assert young == 0
        assert removed == len(empty.directories)
        assert not any(d.exists() for d in empty.directories)
        assert all(d.exists() for d in busy.directories)
    finally:
        assert busy.kill_all()
        sleeper.wait()
        assert busy.remove()
        empty.remove()
    assert not any(d.exists() for d in busy.directories)
