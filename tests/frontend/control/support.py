"""Helpers shared by the control-plane tests: deploying a function, checking errors.

Most tests go through boto3 against a running Roost. Races are tested in process
instead (``InProcessPlane``): the handlers run over a memory store that lets a test
run another request between a request's reads and its write.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from roost.frontend.context import RequestContext
from roost.frontend.control.account import AccountHandlers
from roost.frontend.control.aliases import AliasHandlers
from roost.frontend.control.concurrency import ConcurrencyHandlers
from roost.frontend.control.deps import AccountLimits, ControlPlane
from roost.frontend.control.functions import FunctionHandlers
from roost.frontend.control.permissions import PermissionHandlers
from roost.frontend.control.tags import TagHandlers
from roost.frontend.control.versions import VersionHandlers
from roost.frontend.router import Handler, Output
from roost.functions.lifecycle import FunctionActivator
from roost.store.memory import MemoryCodeStore, MemoryConfigStore
from roost.store.ports import CommitResult, DeletePrefix, Write
from tests.conftest import create_args

ACCOUNT_ID = "000000000000"
REGION = "us-east-1"

# Roost completes a transition within milliseconds; poll for it at that pace.
FAST_POLL = {"Delay": 0.02, "MaxAttempts": 500}


def function_arn(name: str, qualifier: str | None = None) -> str:
    """The ARN Roost gives a function of the built-in test account."""
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def body(response: dict[str, Any]) -> dict[str, Any]:
    """A boto3 response without its ``ResponseMetadata``."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def deploy(client: Any, name: str, code: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    """Create a function and wait until it is Active; returns its configuration."""
    client.create_function(**create_args(name, code, **overrides))
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_POLL)
    return dict(client.get_function_configuration(FunctionName=name))


def settle(client: Any, name: str) -> dict[str, Any]:
    """Wait until the last update of a function is complete; returns its configuration."""
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_POLL)
    return dict(client.get_function_configuration(FunctionName=name))


def update_configuration(client: Any, name: str, **settings: Any) -> dict[str, Any]:
    """UpdateFunctionConfiguration, then wait until it is applied."""
    client.update_function_configuration(FunctionName=name, **settings)
    return settle(client, name)


def update_code(client: Any, name: str, code: bytes, **options: Any) -> dict[str, Any]:
    """UpdateFunctionCode, then wait until it is applied; returns the call's answer."""
    answer = dict(client.update_function_code(FunctionName=name, ZipFile=code, **options))
    settle(client, name)
    return answer


@contextmanager
def raises_aws(code: str, status: int) -> Iterator[pytest.ExceptionInfo[ClientError]]:
    """Expect a ``ClientError`` with this AWS error code and HTTP status."""
    with pytest.raises(ClientError) as caught:
        yield caught
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        code,
        status,
    ), error
    assert error["Error"]["Message"], "AWS errors carry a message"


def unchanged(read: Callable[[], dict[str, Any]]) -> Callable[[], None]:
    """Snapshot ``read()`` now; the returned check asserts it reads the same later."""
    before = body(read())

    def check() -> None:
        assert body(read()) == before

    return check


Step = Callable[[], Awaitable[object]]


class InterleavingStore(MemoryConfigStore):
    """A memory store that runs a test's step just before a chosen commit.

    The step is typically another request: it lands between the reads of the request
    being tested and that request's (conditional) write, as a concurrent call would.
    """

    def __init__(self) -> None:
        super().__init__()
        self._steps: list[tuple[str, Step]] = []

    def before_commit(self, touching: str, step: Step) -> None:
        """Run ``step`` once, before the next commit writing a key that starts ``touching``."""
        self._steps.append((touching, step))

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        keys = [w.prefix if isinstance(w, DeletePrefix) else w.key for w in writes]
        for entry in list(self._steps):
            touching, step = entry
            if any(key.startswith(touching) for key in keys):
                self._steps.remove(entry)
                await step()
        return await super().commit(writes)


class ManualActivator(FunctionActivator):
    """Completes transitions only when the test says so (``settle``), never in the background."""

    def __init__(self, cp: ControlPlane) -> None:
        super().__init__(cp.functions, cp.code)
        self.scheduled: list[tuple[str, str]] = []

    def schedule(self, account_id: str, name: str) -> None:
        self.scheduled.append((account_id, name))

    async def settle(self) -> None:
        """Complete every transition scheduled so far."""
        scheduled, self.scheduled = self.scheduled, []
        for account_id, name in scheduled:
            await self.activate(account_id, name)


class InProcessPlane:
    """The control-plane handlers of one account over memory stores, without HTTP."""

    def __init__(self, limits: AccountLimits | None = None) -> None:
        self.store = InterleavingStore()
        built = ControlPlane.build(self.store, MemoryCodeStore(), limits)
        self.activator = ManualActivator(built)
        self.cp = dataclasses.replace(built, activator=self.activator)
        self._handlers: dict[str, Handler] = {}
        for group in (
            FunctionHandlers(self.cp),
            VersionHandlers(self.cp),
            AliasHandlers(self.cp),
            ConcurrencyHandlers(self.cp),
            PermissionHandlers(self.cp),
            TagHandlers(self.cp),
            AccountHandlers(self.cp),
        ):
            self._handlers.update(group.routes())

    async def call(self, operation: str, **params: Any) -> Output:
        """Run one operation's handler as the built-in test account."""
        ctx = RequestContext(ACCOUNT_ID, "test", "request", REGION, operation)
        return await self._handlers[operation](ctx, params)

    def step(self, operation: str, **params: Any) -> Step:
        """A call to run later, e.g. as an ``InterleavingStore`` step."""
        return lambda: self.call(operation, **params)

    async def deploy(self, name: str, *, versions: int = 0, **overrides: Any) -> None:
        """Create an Active function and publish ``versions`` versions of it."""
        await self.call("CreateFunction", **create_args(name, **overrides))
        await self.activator.settle()
        for number in range(versions):
            await self.call("UpdateFunctionConfiguration", FunctionName=name, Timeout=3 + number)
            await self.activator.settle()
            await self.call("PublishVersion", FunctionName=name)


def run_in_process(
    scenario: Callable[[InProcessPlane], Coroutine[Any, Any, None]],
    limits: AccountLimits | None = None,
) -> None:
    """Run an async scenario against a fresh ``InProcessPlane``."""

    async def main() -> None:
        plane = InProcessPlane(limits)
        try:
            await scenario(plane)
        finally:
            await plane.activator.stop()
            await plane.store.close()

    asyncio.run(main())
