"""A plane's router: its own handler table and its own bound on work in flight.

The front-end load balancer of the talk sends control-plane requests and invokes
to separate fleets; here each plane is a ``PlaneRouter`` with its own handlers and
concurrency limit, so a flood on one cannot take the other's capacity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from roost.api.errors import UnsupportedOperationException
from roost.api.model import Plane
from roost.frontend.context import RequestContext

Params = dict[str, Any]
Output = dict[str, Any]
Handler = Callable[[RequestContext, Params], Awaitable[Output]]


class PlaneRouter:
    """Dispatches operations of one plane to their handlers."""

    def __init__(self, plane: Plane, handlers: Mapping[str, Handler], max_in_flight: int) -> None:
        self.plane = plane
        self._handlers = dict(handlers)
        self._slots = asyncio.Semaphore(max_in_flight)
        self.max_in_flight = max_in_flight

    def handles(self, operation: str) -> bool:
        """Whether this router has a handler for ``operation``."""
        return operation in self._handlers

    async def dispatch(self, ctx: RequestContext, params: Params) -> Output:
        """Run the operation's handler within this plane's concurrency bound."""
        handler = self._handlers.get(ctx.operation)
        if handler is None:
            raise UnsupportedOperationException(ctx.operation)
        async with self._slots:
            return await handler(ctx, params)
