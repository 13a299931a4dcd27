"""The capacity buffer: what losing each zone would leave."""

from __future__ import annotations

from roost.cluster.worker_registry import WorkerRecord
from roost.observability.cluster_metrics import loss_headroom


def host(zone: str, slots: int, busy: int) -> WorkerRecord:
    return WorkerRecord(f"{zone}-{slots}-{busy}", zone, "", slots, busy, 0, 0, 0)


def test_three_zones_with_a_buffer_survive_the_loss_of_any_one() -> None:
    records = [host("a", 10, 4), host("b", 10, 4), host("c", 10, 4)]

    assert loss_headroom(records) == {"a": 8, "b": 8, "c": 8}


def test_a_zone_whose_loss_would_overload_the_others_shows_negative() -> None:
    records = [host("a", 20, 9), host("b", 5, 5), host("c", 5, 5)]

    headroom = loss_headroom(records)

    assert headroom["a"] < 0
    assert headroom["b"] > 0
