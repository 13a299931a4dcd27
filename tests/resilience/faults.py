"""Helpers of the resilience tests: flip a running Roost's store faults over HTTP."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fixtures.roost_process import BUILTIN_KEY, REGION, RoostProcess

# Set on the Roost process to enable /_roost/faults.
FAULT_ENV = {"ROOST_FAULT_INJECTION": "1"}


def faults(roost: RoostProcess, plan: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST ``plan`` to ``/_roost/faults`` (GET without one), signed like the AWS API;
    the node's plans by target."""
    method = "GET" if plan is None else "POST"
    body = b"" if plan is None else json.dumps(plan).encode()
    request = AWSRequest(
        method=method,
        url=f"{roost.endpoint}/_roost/faults",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(*BUILTIN_KEY), "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(
        prepared.url, data=body or None, headers=dict(prepared.headers), method=method
    )
    with urllib.request.urlopen(sent, timeout=10) as reply:
        answer = json.loads(reply.read())
    return {entry["target"]: entry for entry in answer["faults"]}
