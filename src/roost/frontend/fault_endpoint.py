"""``/_roost/faults``: flip a running node's faults (only with fault injection on).

``POST /_roost/faults`` with a JSON body sets one target's plan::

    {"target": "config-store", "mode": "fail", "for_s": 5}
    {"target": "config-store", "mode": "slow", "delay_ms": 2000}
    {"target": "config-store", "mode": "ok"}

``target`` is a store (``config-store``, ``mapping-store``, ``queue-store``) or
another dependency (``destinations``, ``event-sources``, ``worker-host``);
``mode`` ``ok``, ``slow`` or ``fail``; ``delay_ms`` (``slow``) and ``for_s``
(then back to ``ok``) are optional (``apply_plan`` reads the body, as it reads
``ROOST_FAULTS_AT_START`` at start-up). ``GET /_roost/faults`` answers every
target's plan. The caller signs with SigV4 like every AWS request; the endpoint
exists only on a node started with ``ROOST_FAULT_INJECTION=1`` (elsewhere the
path is a 404).
"""

from __future__ import annotations

import json
from typing import Any

from roost.api.errors import AwsError, InvalidRequestContentException, ValidationException
from roost.api.response import WireResponse
from roost.frontend.http import HttpRequest
from roost.store.faults import FaultSwitch, FaultTarget, apply_plan

FAULTS_PATH = "/_roost/faults"


class FaultEndpoint:
    """Reads and sets the plans of a node's ``FaultSwitch`` over HTTP."""

    def __init__(self, switch: FaultSwitch) -> None:
        self._switch = switch

    async def answer(self, request: HttpRequest) -> WireResponse:
        """The plans after applying a POST's change (a GET changes nothing)."""
        if request.method == "POST":
            self._apply(_json_body(request.body))
        elif request.method != "GET":
            raise AwsError(
                "Use GET or POST on /_roost/faults.", code="MethodNotAllowed", status=405
            )
        body = json.dumps({"faults": [self._describe(target) for target in FaultTarget]})
        return WireResponse(200, body.encode(), {"Content-Type": "application/json"})

    def _apply(self, document: dict[str, Any]) -> None:
        try:
            apply_plan(self._switch, document)
        except ValueError as error:
            raise ValidationException(str(error)) from None

    def _describe(self, target: FaultTarget) -> dict[str, Any]:
        plan = self._switch.plan(target)
        return {
            "target": target.value,
            "mode": plan.mode.value,
            "delay_ms": plan.delay_ms,
            "remaining_s": self._switch.remaining_s(target),
        }


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        raise InvalidRequestContentException("The fault plan must be a JSON object.") from None
    if not isinstance(document, dict):
        raise InvalidRequestContentException("The fault plan must be a JSON object.")
    return document
