"""A plane's router: its own handler table and its own bound on work in flight.

The front-end load balancer of the talk sends control-plane requests and invokes
to separate fleets; here each plane is a ``PlaneRouter`` with its own handlers and
concurrency limit, so a flood on one cannot take the other's capacity.

The front door takes a plane's slot (``admission``) as soon as a request's
head names its plane, before the signature is checked or the body parsed:
those cost CPU too, so requests beyond the bound wait without costing any.
How long and how many may wait is the plane's ``AdmissionControl``
(``flow.admission``): the sync invoke plane refuses beyond a short line with a
429, the others wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

from roost.api.errors import UnsupportedOperationException
from roost.api.model import Plane
from roost.flow.admission import AdmissionControl, AdmissionSettings
from roost.frontend.context import RequestContext

Params = dict[str, Any]
Output = dict[str, Any]
Handler = Callable[[RequestContext, Params], Awaitable[Output]]


class PlaneRouter:
    """Dispatches operations of one plane to their handlers.

    ``limit`` narrows the bound while the node needs it (``flow.sync_first``):
    it maps ``max_in_flight`` to the slots allowed right now. ``max_in_flight``
    is an int (an unbounded line behind it) or ``AdmissionSettings``.
    """

    def __init__(
        self,
        plane: Plane,
        handlers: Mapping[str, Handler],
        max_in_flight: int | AdmissionSettings,
        *,
        limit: Callable[[int], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plane = plane
        self._handlers = dict(handlers)
        settings = (
            max_in_flight
            if isinstance(max_in_flight, AdmissionSettings)
            else AdmissionSettings(max_in_flight)
        )
        self.max_in_flight = settings.max_in_flight
        self.control = AdmissionControl(settings, limit, clock)
        self._clock = clock
        self._last_done = -math.inf
        self.admission = _Admission(self)

    def idle_for(self) -> float:
        """Seconds since the plane's last request ended (0 while one is in flight)."""
        if self.control.in_flight:
            return 0.0
        return self._clock() - self._last_done

    def handles(self, operation: str) -> bool:
        """Whether this router has a handler for ``operation``."""
        return operation in self._handlers

    async def dispatch(self, ctx: RequestContext, params: Params) -> Output:
        """Run the operation's handler within this plane's concurrency bound."""
        async with self.admission:
            return await self.dispatch_admitted(ctx, params)

    async def dispatch_admitted(self, ctx: RequestContext, params: Params) -> Output:
        """Run the operation's handler; the caller holds a slot of ``admission``."""
        handler = self._handlers.get(ctx.operation)
        if handler is None:
            raise UnsupportedOperationException(ctx.operation)
        return await handler(ctx, params)


class _Admission:
    """``async with router.admission``: one slot of the plane's bound, held around a
    request (or ``TooManyRequestsException`` when the line refuses it); its end
    is the plane's latest activity."""

    def __init__(self, router: PlaneRouter) -> None:
        self._router = router

    async def __aenter__(self) -> None:
        await self._router.control.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        router = self._router
        router._last_done = router._clock()
        router.control.release()
