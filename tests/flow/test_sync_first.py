"""``SyncFirst``: the async plane's bounds narrow while sync invokes run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from roost.flow.sync_first import SyncFirst, SyncFirstSettings


@dataclass
class Activity:
    idle_s: float = float("inf")

    def idle_for(self) -> float:
        return self.idle_s


def test_the_async_plane_has_its_full_bounds_while_sync_is_quiet() -> None:
    sync_first = SyncFirst(Activity(), SyncFirstSettings(share_while_sync=2, quiet_s=1.0))

    assert not sync_first.sync_busy()
    assert sync_first.limit(128) == 128


def test_while_sync_runs_and_for_quiet_s_after_the_async_plane_keeps_to_its_share() -> None:
    activity = Activity(idle_s=0.0)
    sync_first = SyncFirst(activity, SyncFirstSettings(share_while_sync=2, quiet_s=1.0))

    assert sync_first.limit(128) == 2
    activity.idle_s = 0.9
    assert sync_first.limit(128) == 2
    assert sync_first.limit(1) == 1  # never more than the bound itself
    activity.idle_s = 1.1
    assert sync_first.limit(128) == 128


def test_the_default_share_is_one_slot_per_core() -> None:
    import os

    assert SyncFirstSettings().share_while_sync == (os.cpu_count() or 1)
    with pytest.raises(ValueError):
        SyncFirstSettings(share_while_sync=0)
