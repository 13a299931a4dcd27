"""The mapping state machine: every legal move and the refused ones."""

from __future__ import annotations

import pytest

from roost.esm.states import (
    IllegalTransition,
    MappingState,
    begin_delete,
    begin_update,
    can_finish_delete,
    initial_state,
    settle,
)

S = MappingState
TRANSITIONAL = [S.CREATING, S.ENABLING, S.DISABLING, S.UPDATING, S.DELETING]


def test_a_new_mapping_is_creating() -> None:
    assert initial_state() is S.CREATING


def test_only_enabled_and_disabled_are_stable() -> None:
    assert {s for s in S if not s.transitional} == {S.ENABLED, S.DISABLED}


@pytest.mark.parametrize(
    ("state", "enabled", "settled"),
    [
        (S.CREATING, True, S.ENABLED),
        (S.CREATING, False, S.DISABLED),
        (S.UPDATING, True, S.ENABLED),
        (S.UPDATING, False, S.DISABLED),
        (S.ENABLING, True, S.ENABLED),
        (S.DISABLING, False, S.DISABLED),
        # The user changed their mind before the transition completed.
        (S.ENABLING, False, S.DISABLED),
        (S.DISABLING, True, S.ENABLED),
    ],
)
def test_transitional_states_settle_by_the_desired_flag(
    state: MappingState, enabled: bool, settled: MappingState
) -> None:
    assert settle(state, enabled=enabled) is settled


@pytest.mark.parametrize("state", [S.ENABLED, S.DISABLED, S.DELETING])
def test_stable_and_deleting_do_not_settle(state: MappingState) -> None:
    with pytest.raises(IllegalTransition) as refused:
        settle(state, enabled=True)
    assert refused.value.state is state


@pytest.mark.parametrize(
    ("state", "was", "now", "expected"),
    [
        (S.ENABLED, True, True, S.UPDATING),
        (S.DISABLED, False, False, S.UPDATING),
        (S.DISABLED, False, True, S.ENABLING),
        (S.ENABLED, True, False, S.DISABLING),
    ],
)
def test_update_of_a_stable_mapping(
    state: MappingState, was: bool, now: bool, expected: MappingState
) -> None:
    assert begin_update(state, was_enabled=was, enabled=now) is expected


@pytest.mark.parametrize("state", TRANSITIONAL)
def test_update_of_a_transitional_mapping_is_refused(state: MappingState) -> None:
    with pytest.raises(IllegalTransition, match="cannot update"):
        begin_update(state, was_enabled=True, enabled=True)


@pytest.mark.parametrize("state", [S.CREATING, S.ENABLING, S.ENABLED, S.DISABLING, S.DISABLED])
def test_delete_is_allowed_unless_updating_or_deleting(state: MappingState) -> None:
    assert begin_delete(state) is S.DELETING


@pytest.mark.parametrize("state", [S.UPDATING, S.DELETING])
def test_delete_while_updating_or_deleting_is_refused(state: MappingState) -> None:
    with pytest.raises(IllegalTransition, match="cannot delete"):
        begin_delete(state)


def test_only_deleting_finishes_with_removal() -> None:
    assert [s for s in S if can_finish_delete(s)] == [S.DELETING]
