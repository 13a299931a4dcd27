"""Tests for ``PlaneRouter``: dispatch by operation, under the plane's in-flight bound.

Concurrency is observed with ``asyncio.Event``-gated handlers and counters, never
with timings: the loop is given turns with ``asyncio.sleep(0)`` until every task
that can make progress has.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roost.api.errors import UnsupportedOperationException
from roost.api.model import Plane
from roost.frontend.context import RequestContext
from roost.frontend.router import Handler, Output, Params, PlaneRouter


def context(operation: str) -> RequestContext:
    return RequestContext(
        account_id="111111111111",
        access_key_id="AKIDEXAMPLE",
        request_id="req-1",
        region="us-east-1",
        operation=operation,
    )


async def settle() -> None:
    """Let every runnable task run until it blocks."""
    for _ in range(20):
        await asyncio.sleep(0)


class GatedHandler:
    """A handler that counts executions in flight and waits for its gate to open."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.peak = 0
        self.started = 0
        self.finished = 0

    async def __call__(self, ctx: RequestContext, params: Params) -> Output:
        self.started += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        self.finished += 1
        return {"Echo": params.get("n")}


def test_dispatch_calls_the_operations_handler_with_context_and_params() -> None:
    seen: list[tuple[RequestContext, Params]] = []

    async def get_function(ctx: RequestContext, params: Params) -> Output:
        seen.append((ctx, params))
        return {"Configuration": {"FunctionName": params["FunctionName"]}}

    async def main() -> Output:
        router = PlaneRouter(Plane.CONTROL, {"GetFunction": get_function}, max_in_flight=4)
        return await router.dispatch(context("GetFunction"), {"FunctionName": "fn"})

    output = asyncio.run(main())

    assert output == {"Configuration": {"FunctionName": "fn"}}
    assert seen == [(context("GetFunction"), {"FunctionName": "fn"})]


def test_handles_reports_the_operations_with_handlers() -> None:
    async def handler(ctx: RequestContext, params: Params) -> Output:
        return {}

    router = PlaneRouter(Plane.INVOKE, {"Invoke": handler}, max_in_flight=1)

    assert router.handles("Invoke")
    assert not router.handles("InvokeAsync")
    assert router.plane is Plane.INVOKE
    assert router.max_in_flight == 1


def test_unknown_operation_is_unsupported() -> None:
    async def handler(ctx: RequestContext, params: Params) -> Output:
        raise AssertionError("must not be called")

    async def main() -> None:
        router = PlaneRouter(Plane.CONTROL, {"GetFunction": handler}, max_in_flight=4)
        await router.dispatch(context("CreateCodeSigningConfig"), {})

    with pytest.raises(UnsupportedOperationException) as caught:
        asyncio.run(main())

    assert caught.value.error_code == "UnsupportedOperationException"
    assert caught.value.status == 501
    assert "CreateCodeSigningConfig" in caught.value.message


def test_handlers_are_copied_at_construction() -> None:
    async def handler(ctx: RequestContext, params: Params) -> Output:
        return {}

    handlers: dict[str, Handler] = {"GetFunction": handler}
    router = PlaneRouter(Plane.CONTROL, handlers, max_in_flight=1)
    handlers["DeleteFunction"] = handler

    assert not router.handles("DeleteFunction")


@pytest.mark.parametrize(("limit", "requests"), [(1, 3), (3, 10), (5, 5)])
def test_max_in_flight_bounds_concurrent_handler_executions(limit: int, requests: int) -> None:
    async def main() -> None:
        handler = GatedHandler()
        router = PlaneRouter(Plane.INVOKE, {"Invoke": handler}, max_in_flight=limit)

        tasks = [
            asyncio.create_task(router.dispatch(context("Invoke"), {"n": n}))
            for n in range(requests)
        ]
        await settle()

        # Given more requests than slots, only `limit` handlers have started.
        assert handler.started == handler.in_flight == min(limit, requests)

        # When the gate opens, everyone is served, never more than `limit` at a time.
        handler.gate.set()
        outputs = await asyncio.gather(*tasks)

        assert handler.peak == min(limit, requests)
        assert handler.finished == requests
        assert outputs == [{"Echo": n} for n in range(requests)]

    asyncio.run(main())


def test_a_finished_request_frees_its_slot_for_a_waiting_one() -> None:
    async def main() -> None:
        first_gate, second_gate = asyncio.Event(), asyncio.Event()
        started: list[str] = []

        async def handler(ctx: RequestContext, params: Params) -> Output:
            started.append(params["who"])
            await (first_gate if params["who"] == "first" else second_gate).wait()
            return {}

        router = PlaneRouter(Plane.CONTROL, {"GetFunction": handler}, max_in_flight=1)
        first = asyncio.create_task(router.dispatch(context("GetFunction"), {"who": "first"}))
        second = asyncio.create_task(router.dispatch(context("GetFunction"), {"who": "second"}))
        await settle()
        assert started == ["first"]

        first_gate.set()
        await first
        await settle()

        assert started == ["first", "second"]
        second_gate.set()
        await second

    asyncio.run(main())


def test_a_failing_handler_releases_its_slot() -> None:
    async def main() -> None:
        calls: list[str] = []

        async def handler(ctx: RequestContext, params: Params) -> Output:
            calls.append(params["who"])
            if params["who"] == "bad":
                raise RuntimeError("boom")
            return {"ok": True}

        router = PlaneRouter(Plane.CONTROL, {"GetFunction": handler}, max_in_flight=1)

        with pytest.raises(RuntimeError):
            await router.dispatch(context("GetFunction"), {"who": "bad"})
        assert await router.dispatch(context("GetFunction"), {"who": "good"}) == {"ok": True}
        assert calls == ["bad", "good"]

    asyncio.run(main())


def test_a_cancelled_request_releases_its_slot() -> None:
    async def main() -> None:
        handler = GatedHandler()
        router = PlaneRouter(Plane.INVOKE, {"Invoke": handler}, max_in_flight=1)
        stuck = asyncio.create_task(router.dispatch(context("Invoke"), {"n": 0}))
        waiting = asyncio.create_task(router.dispatch(context("Invoke"), {"n": 1}))
        await settle()
        assert (handler.started, handler.in_flight) == (1, 1)

        stuck.cancel()
        await settle()

        assert stuck.cancelled()
        assert (handler.started, handler.in_flight) == (2, 1)
        handler.gate.set()
        assert await waiting == {"Echo": 1}

    asyncio.run(main())


def test_planes_do_not_share_slots() -> None:
    async def main() -> None:
        control_handler, invoke_handler = GatedHandler(), GatedHandler()
        control = PlaneRouter(Plane.CONTROL, {"GetFunction": control_handler}, max_in_flight=1)
        invoke = PlaneRouter(Plane.INVOKE, {"Invoke": invoke_handler}, max_in_flight=2)

        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(control.dispatch(context("GetFunction"), {"n": n}))
            for n in range(3)
        ]
        tasks += [
            asyncio.create_task(invoke.dispatch(context("Invoke"), {"n": n})) for n in range(3)
        ]
        await settle()

        # A saturated control plane leaves the invoke plane its own slots.
        assert control_handler.in_flight == 1
        assert invoke_handler.in_flight == 2

        control_handler.gate.set()
        invoke_handler.gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_idle_for_is_zero_while_a_request_is_in_flight_then_counts_from_its_end() -> None:
    clock = [100.0]

    async def main() -> None:
        handler = GatedHandler()
        router = PlaneRouter(Plane.INVOKE, {"Invoke": handler}, 4, clock=lambda: clock[0])
        assert router.idle_for() == float("inf")  # never used
        call = asyncio.ensure_future(router.dispatch(context("Invoke"), {"n": 1}))
        while not handler.started:
            await asyncio.sleep(0)
        clock[0] = 101.0
        assert router.idle_for() == 0.0
        handler.gate.set()
        await call
        clock[0] = 103.5
        assert router.idle_for() == 2.5

    asyncio.run(main())


def test_a_limit_narrows_the_bound_while_it_says_so() -> None:
    async def main() -> int:
        handler = GatedHandler()
        router = PlaneRouter(Plane.ASYNC, {"Invoke": handler}, 8, limit=lambda full: 2)
        calls = [
            asyncio.ensure_future(router.dispatch(context("Invoke"), {"n": n})) for n in range(6)
        ]
        for _ in range(10):
            await asyncio.sleep(0)
        peak = handler.peak
        handler.gate.set()
        await asyncio.gather(*calls)
        return peak

    assert asyncio.run(main()) == 2
