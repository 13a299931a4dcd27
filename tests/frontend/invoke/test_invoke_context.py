"""What a handler is given: its event when the invoke carries none, its client
context, and its remaining time after a slow cold start."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.frontend.invoke.support import deploy_code

ECHO = """
import json

def handler(event, context):
    client = context.client_context
    return {
        "event": event,
        "custom": client.custom if client else None,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""

# An init that takes 1.5 s of the function's 3 s timeout, were it counted.
SLOW_INIT = """
import time
time.sleep(1.5)

def handler(event, context):
    return {"remaining_ms": context.get_remaining_time_in_millis()}
"""


def run(client: Any, name: str, **extra: Any) -> Any:
    response = client.invoke(FunctionName=name, **extra)
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def test_an_invoke_without_a_payload_gives_the_handler_an_empty_object(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": ECHO})
    assert run(lambda_client, function_name)["event"] == {}
    assert run(lambda_client, function_name, Payload=b"")["event"] == {}
    assert run(lambda_client, function_name, Payload=b'{"a": 1}')["event"] == {"a": 1}


def test_a_client_context_with_any_characters_and_line_breaks_reaches_the_handler(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": ECHO})
    document = '{\n  "custom": {"price": "12 \u20ac", "name": "\u00e9t\u00e9 \u6771\u4eac"}\n}'
    context = base64.b64encode(document.encode()).decode()
    got = run(lambda_client, function_name, ClientContext=context, Payload=b"{}")
    assert got["custom"] == {"price": "12 \u20ac", "name": "\u00e9t\u00e9 \u6771\u4eac"}


def test_the_remaining_time_does_not_count_the_cold_start(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": SLOW_INIT}, Timeout=3)
    # The first invoke waits for the 1.5 s init; the handler still has its 3 s.
    assert run(lambda_client, function_name, Payload=b"{}")["remaining_ms"] > 2_500
