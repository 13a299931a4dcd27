"""Every control-plane operation Roost implements, by name, from the handler classes."""

from __future__ import annotations

from roost.frontend.control.account import AccountHandlers
from roost.frontend.control.aliases import AliasHandlers
from roost.frontend.control.concurrency import ConcurrencyHandlers
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.event_invoke_config import EventInvokeConfigHandlers
from roost.frontend.control.functions import FunctionHandlers
from roost.frontend.control.permissions import PermissionHandlers
from roost.frontend.control.tags import TagHandlers
from roost.frontend.control.versions import VersionHandlers
from roost.frontend.router import Handler


def control_plane_routes(cp: ControlPlane) -> dict[str, Handler]:
    """Every control-plane operation Roost implements, by name."""
    routes: dict[str, Handler] = {}
    for handlers in (
        FunctionHandlers(cp),
        VersionHandlers(cp),
        AliasHandlers(cp),
        ConcurrencyHandlers(cp),
        TagHandlers(cp),
        PermissionHandlers(cp),
        EventInvokeConfigHandlers(cp),
        AccountHandlers(cp),
    ):
        routes.update(handlers.routes())
    return routes
