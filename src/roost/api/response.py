"""Render an operation's output, or an AWS error, as an HTTP response per the model."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roost.api.errors import AwsError
from roost.api.model import Operation, error_shapes


@dataclass(frozen=True)
class WireResponse:
    """Status, headers and body ready for the HTTP server."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _to_json(shape: Any, value: Any) -> Any:
    kind = shape.type_name if shape is not None else None
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if kind == "structure" and isinstance(value, Mapping):
        return {k: _to_json(shape.members.get(k), v) for k, v in value.items() if v is not None}
    if kind == "list" and isinstance(value, list):
        return [_to_json(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, Mapping):
        return {k: _to_json(shape.value, v) for k, v in value.items()}
    return value


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def render_output(operation: Operation, output: Mapping[str, Any]) -> WireResponse:
    """Serialize ``output`` (member name -> value) for ``operation``."""
    shape = operation.model.output_shape
    status = operation.success_status
    if shape is None:
        return WireResponse(status)
    headers: dict[str, str] = {}
    document: dict[str, Any] = {}
    payload_name = shape.serialization.get("payload")
    body: bytes | None = None
    for name, value in output.items():
        if value is None:
            continue
        member = shape.members.get(name)
        if member is None:
            continue
        location = member.serialization.get("location")
        if location == "header":
            headers[member.serialization.get("name", name)] = str(value)
        elif location == "statusCode":
            status = int(value)
        elif name == payload_name:
            raw = value if member.type_name == "blob" else _dumps(_to_json(member, value))
            body = bytes(raw)
        else:
            document[name] = _to_json(member, value)
    if status == 204:
        return WireResponse(status, b"", headers)  # HTTP forbids a body here.
    if body is None:
        body = _dumps(document) if payload_name is None else b""
        headers.setdefault("Content-Type", "application/json")
    elif body:
        # Invoke's payload is the function's JSON; Lambda labels it so.
        headers.setdefault("Content-Type", "application/json")
    return WireResponse(status, body, headers)


def render_error(error: AwsError, request_id: str) -> WireResponse:
    """The AWS error shape: ``x-amzn-ErrorType`` plus ``{"Type", "message"}``."""
    shape = error_shapes().get(error.error_code)
    message_key = "message"
    if shape is not None and "Message" in shape.members:
        message_key = "Message"
    document: dict[str, Any] = {
        "Type": error.type,
        message_key: error.message,
    }
    document.update(error.fields)
    headers = {
        "x-amzn-ErrorType": error.error_code,
        "x-amzn-RequestId": request_id,
        "Content-Type": "application/json",
    }
    retry_after = error.fields.get("retryAfterSeconds")
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return WireResponse(error.status, _dumps(document), headers)
