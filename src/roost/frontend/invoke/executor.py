"""Executors: where an invoke that passed counting runs.

``LocalExecutor`` runs it on this node's worker host (assignment, then the
environment); a cluster frontend uses ``RemoteExecutor``
(``roost.cluster.remote_executor``) to run it on the worker host the
directory picks. The invoke handler does not know which: counting before, logs
after, are the same either way.
"""

from __future__ import annotations

from typing import Protocol

from roost.frontend.invoke.assignment import AssignmentService
from roost.functions.model import FunctionConfig
from roost.worker.environment import InvokeOutcome
from roost.worker.runtime_api import Invocation


class Executor(Protocol):
    """Runs one counted invoke of a function version to its outcome."""

    async def run(
        self, account_id: str, config: FunctionConfig, network: bool, invocation: Invocation
    ) -> InvokeOutcome:
        """The invoke's outcome; raises ``AwsError`` (a throttle) when it cannot run."""


class LocalExecutor:
    """Runs invokes in this node's environments."""

    def __init__(self, assignment: AssignmentService) -> None:
        self._assignment = assignment

    async def run(
        self, account_id: str, config: FunctionConfig, network: bool, invocation: Invocation
    ) -> InvokeOutcome:
        """A warm (or new) environment of the version runs the invoke."""
        env = await self._assignment.acquire(account_id, config, network)
        try:
            return await env.invoke(invocation)
        finally:
            await self._assignment.release(env)
