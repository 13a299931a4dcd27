"""The states of an event source mapping and the only moves between them.

AWS reports seven states. Three are stable (``Enabled``, ``Disabled``, and the
mapping being gone after ``Deleting``); the others are transitional: a user's
request starts one, and whoever carries the change out (the node's
``MappingActivator`` now, the pollers once they exist) completes it with
``settle`` or ``finish_delete``. A transitional mapping refuses another update
(``ResourceInUseException``), as AWS does, so two changes never overlap.

Every move is a pure function of the current state here, so the control plane,
the activator and the pollers agree on what is legal.
"""

from __future__ import annotations

import enum


class MappingState(enum.Enum):
    """``State`` of an event source mapping, as the API spells it."""

    CREATING = "Creating"
    ENABLING = "Enabling"
    ENABLED = "Enabled"
    DISABLING = "Disabling"
    DISABLED = "Disabled"
    UPDATING = "Updating"
    DELETING = "Deleting"

    @property
    def transitional(self) -> bool:
        """Whether a change is still being carried out (the mapping refuses updates)."""
        return self not in STABLE


STABLE = frozenset({MappingState.ENABLED, MappingState.DISABLED})

# What AWS reports in StateTransitionReason: who asked for the last change.
USER_INITIATED = "USER_INITIATED"
LAMBDA_INITIATED = "LAMBDA_INITIATED"

# The states each transitional state settles into (by the desired ``enabled`` flag).
_SETTLES = {
    MappingState.CREATING: (MappingState.ENABLED, MappingState.DISABLED),
    MappingState.UPDATING: (MappingState.ENABLED, MappingState.DISABLED),
    MappingState.ENABLING: (MappingState.ENABLED, MappingState.DISABLED),
    MappingState.DISABLING: (MappingState.ENABLED, MappingState.DISABLED),
}


class IllegalTransition(Exception):
    """A move the state machine does not allow from the mapping's current state."""

    def __init__(self, state: MappingState, action: str) -> None:
        super().__init__(f"cannot {action} an event source mapping in state {state.value}")
        self.state = state
        self.action = action


def initial_state() -> MappingState:
    """The state of a mapping just created: ``Creating``, whatever ``Enabled`` says."""
    return MappingState.CREATING


def begin_update(state: MappingState, *, was_enabled: bool, enabled: bool) -> MappingState:
    """The state an accepted update puts a stable mapping in.

    Toggling ``Enabled`` gives ``Enabling`` or ``Disabling``; any other change
    gives ``Updating``. A transitional mapping cannot be updated.
    """
    if state.transitional:
        raise IllegalTransition(state, "update")
    if enabled and not was_enabled:
        return MappingState.ENABLING
    if was_enabled and not enabled:
        return MappingState.DISABLING
    return MappingState.UPDATING


def begin_delete(state: MappingState) -> MappingState:
    """``Deleting``; refused while an update or another delete is being carried out."""
    if state in (MappingState.UPDATING, MappingState.DELETING):
        raise IllegalTransition(state, "delete")
    return MappingState.DELETING


def settle(state: MappingState, *, enabled: bool) -> MappingState:
    """The stable state a transitional one ends in: ``Enabled`` or ``Disabled``.

    ``Deleting`` does not settle: it ends with the mapping removed (``finish_delete``).
    """
    targets = _SETTLES.get(state)
    if targets is None:
        raise IllegalTransition(state, "settle")
    return targets[0] if enabled else targets[1]


def can_finish_delete(state: MappingState) -> bool:
    """Whether the mapping may now be removed from the store."""
    return state is MappingState.DELETING
