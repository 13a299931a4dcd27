"""``AdmissionControl``: slots, a bounded waiting line, a max wait, then 429s."""

from __future__ import annotations

import asyncio

import pytest

from roost.api.errors import TooManyRequestsException
from roost.flow.admission import AdmissionControl, AdmissionSettings, RejectReason


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _assert_throttle(error: TooManyRequestsException) -> None:
    assert error.status == 429
    assert error.fields["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert int(error.fields["retryAfterSeconds"]) >= 1


def test_free_slots_admit_at_once() -> None:
    async def main() -> None:
        control = AdmissionControl(AdmissionSettings(2, max_waiting=0, max_wait_s=0))

        await control.acquire()
        await control.acquire()

        figures = control.figures()
        assert (figures.in_flight, figures.admitted, figures.waited) == (2, 2, 0)

    asyncio.run(main())


def test_a_full_line_refuses_at_once() -> None:
    async def main() -> None:
        # Given one slot held and a line of one already waiting
        control = AdmissionControl(AdmissionSettings(1, max_waiting=1, max_wait_s=30))
        await control.acquire()
        waiter = asyncio.ensure_future(control.acquire())
        await _settle()
        assert control.waiting == 1

        # When another request arrives, it is refused without waiting
        with pytest.raises(TooManyRequestsException) as caught:
            await asyncio.wait_for(control.acquire(), 0.5)

        _assert_throttle(caught.value)
        assert control.figures().rejected[RejectReason.LINE_FULL] == 1
        # And the one in line still gets the slot once it is free
        control.release()
        await asyncio.wait_for(waiter, 1)
        assert control.in_flight == 1 and control.waiting == 0

    asyncio.run(main())


def test_a_request_waiting_beyond_max_wait_is_refused_and_leaves_the_line() -> None:
    async def main() -> None:
        control = AdmissionControl(AdmissionSettings(1, max_waiting=10, max_wait_s=0.05))
        await control.acquire()

        with pytest.raises(TooManyRequestsException) as caught:
            await control.acquire()

        _assert_throttle(caught.value)
        figures = control.figures()
        assert figures.rejected[RejectReason.WAIT_EXCEEDED] == 1
        assert figures.waiting == 0 and figures.in_flight == 1
        # The slot given back is free for the next request, not lost to the refused one
        control.release()
        await asyncio.wait_for(control.acquire(), 0.5)
        assert control.in_flight == 1

    asyncio.run(main())


def test_a_request_admitted_from_the_line_is_counted_with_its_wait() -> None:
    async def main() -> None:
        control = AdmissionControl(AdmissionSettings(1, max_waiting=1, max_wait_s=5))
        await control.acquire()
        waiter = asyncio.ensure_future(control.acquire())
        await asyncio.sleep(0.02)

        control.release()
        await asyncio.wait_for(waiter, 1)

        figures = control.figures()
        assert figures.admitted == 2 and figures.waited == 1
        assert figures.wait_sum_s > 0 and figures.wait_max_s == figures.wait_sum_s

    asyncio.run(main())


def test_a_request_cancelled_in_line_takes_no_slot() -> None:
    async def main() -> None:
        control = AdmissionControl(AdmissionSettings(1, max_waiting=4, max_wait_s=5))
        await control.acquire()
        waiter = asyncio.ensure_future(control.acquire())
        await _settle()

        waiter.cancel()
        await _settle()

        assert control.waiting == 0
        control.release()
        assert control.in_flight == 0

    asyncio.run(main())


def test_under_load_the_line_never_grows_beyond_its_bound() -> None:
    async def main() -> None:
        control = AdmissionControl(AdmissionSettings(2, max_waiting=3, max_wait_s=0.2))
        longest_line = 0
        outcomes: list[str] = []

        async def request() -> None:
            nonlocal longest_line
            try:
                await control.acquire()
            except TooManyRequestsException:
                outcomes.append("429")
                return
            try:
                longest_line = max(longest_line, control.waiting)
                await asyncio.sleep(0.01)
                outcomes.append("ok")
            finally:
                control.release()

        await asyncio.gather(*(request() for _ in range(50)))

        assert longest_line <= 3
        assert outcomes.count("ok") >= 2 and "429" in outcomes
        figures = control.figures()
        assert figures.admitted + sum(figures.rejected.values()) == 50
        assert figures.in_flight == 0 and figures.waiting == 0

    asyncio.run(main())


def test_an_unbounded_line_waits_as_long_as_it_takes() -> None:
    async def main() -> None:
        control = AdmissionControl(AdmissionSettings(1))
        await control.acquire()
        waiters = [asyncio.ensure_future(control.acquire()) for _ in range(20)]
        await _settle()
        assert control.waiting == 20

        for _ in range(20):
            control.release()
            await _settle()

        assert all(w.done() and w.exception() is None for w in waiters)
        assert sum(control.figures().rejected.values()) == 0

    asyncio.run(main())


def test_a_narrowing_limit_is_reported_as_the_cap() -> None:
    control = AdmissionControl(AdmissionSettings(8), limit=lambda full: min(full, 2))

    assert control.figures().max_in_flight == 2


@pytest.mark.parametrize(
    "settings",
    [
        {"max_in_flight": 0},
        {"max_in_flight": 1, "max_waiting": -1},
        {"max_in_flight": 1, "max_wait_s": -0.1},
    ],
)
def test_settings_out_of_range_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdmissionSettings(**settings)  # type: ignore[arg-type]
