"""The counting service admits invokes within the account and reserved limits."""

from __future__ import annotations

import asyncio

import pytest

from roost.api.errors import TooManyRequestsException
from roost.flow.counting import CountingService

ACCOUNT = "111111111111"


def reason(error: pytest.ExceptionInfo[TooManyRequestsException]) -> str:
    return str(error.value.fields["Reason"])


def test_unreserved_functions_share_what_reservations_leave() -> None:
    async def scenario() -> None:
        counting = CountingService(account_limit=3)
        leases = [await counting.acquire(ACCOUNT, f"fn{n}", None, 1) for n in range(2)]

        with pytest.raises(TooManyRequestsException) as caught:
            await counting.acquire(ACCOUNT, "fn9", None, reserved_in_account=1)

        assert reason(caught) == "ConcurrentInvocationLimitExceeded"
        assert caught.value.status == 429
        await counting.release(leases[0])
        await counting.acquire(ACCOUNT, "fn9", None, reserved_in_account=1)

    asyncio.run(scenario())


def test_reserved_concurrency_caps_the_function_alone() -> None:
    async def scenario() -> None:
        counting = CountingService(account_limit=1000)
        await counting.acquire(ACCOUNT, "fn", 1, reserved_in_account=1)

        with pytest.raises(TooManyRequestsException) as caught:
            await counting.acquire(ACCOUNT, "fn", 1, reserved_in_account=1)

        assert reason(caught) == "ReservedFunctionConcurrentInvocationLimitExceeded"
        await counting.acquire(ACCOUNT, "other", None, reserved_in_account=1)

    asyncio.run(scenario())


def test_reserved_zero_throttles_everything() -> None:
    async def scenario() -> None:
        counting = CountingService(account_limit=1000)

        with pytest.raises(TooManyRequestsException):
            await counting.acquire(ACCOUNT, "fn", 0, reserved_in_account=0)
        assert counting.in_use(ACCOUNT, "fn") == 0

    asyncio.run(scenario())


def test_accounts_do_not_share_limits() -> None:
    async def scenario() -> None:
        counting = CountingService(account_limit=1)
        await counting.acquire(ACCOUNT, "fn", None, reserved_in_account=0)

        await counting.acquire("222222222222", "fn", None, reserved_in_account=0)

    asyncio.run(scenario())


def test_release_gives_the_slot_back() -> None:
    async def scenario() -> None:
        counting = CountingService(account_limit=1)
        lease = await counting.acquire(ACCOUNT, "fn", None, reserved_in_account=0)
        assert counting.in_use(ACCOUNT, "fn") == 1

        await counting.release(lease)

        assert counting.in_use(ACCOUNT, "fn") == 0
        await counting.acquire(ACCOUNT, "fn", None, reserved_in_account=0)

    asyncio.run(scenario())
