"""The fair-share rules of ``roost.leasing.shares``."""

from __future__ import annotations

from roost.leasing.shares import by_affinity, fair_share, surplus


def test_fair_share_is_the_ceiling() -> None:
    assert fair_share(8, 2) == 4
    assert fair_share(8, 3) == 3
    assert fair_share(1, 3) == 1
    assert fair_share(0, 3) == 0
    assert fair_share(5, 0) == 5, "no live members counts as one (the keeper itself)"


def test_owners_prefer_resources_differently_and_stably() -> None:
    resources = [f"queue-{n}" for n in range(16)]

    a = by_affinity("a", resources)
    b = by_affinity("b", resources)

    assert sorted(a) == sorted(resources)
    assert a != b
    assert by_affinity("a", reversed(resources)) == a


def test_surplus_gives_up_the_least_preferred() -> None:
    held = [f"queue-{n}" for n in range(5)]

    given_up = surplus("a", held, 3)

    assert given_up == by_affinity("a", held)[3:]
    assert surplus("a", held, 5) == []
    assert surplus("a", held, 0) == by_affinity("a", held)
