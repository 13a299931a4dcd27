"""Turn an HTTP request into the operation's input parameters, following the model.

Members bound to the URI, query string and headers are read from there and
converted to their shape's type; the payload member takes the raw body (a blob)
or its JSON; every other member comes from the JSON body, with blobs base64-decoded.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from roost.api.errors import InvalidParameterValueException, InvalidRequestContentException
from roost.api.model import RouteMatch


def _scalar(shape: Any, raw: str, where: str) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise InvalidParameterValueException(
                f"Invalid value for {where}: '{raw}' is not an integer."
            ) from None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise InvalidParameterValueException(
                f"Invalid value for {where}: '{raw}' is not a boolean."
            )
        return raw.lower() == "true"
    return raw


def _decode_blobs(shape: Any, value: Any) -> Any:
    """Base64-decode blob members of a JSON value, in place of their strings."""
    kind = shape.type_name
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestContentException(
                "Could not parse request body into json: invalid base64 in blob member"
            ) from None
    if kind == "structure" and isinstance(value, dict):
        return {
            k: _decode_blobs(shape.members[k], v) if k in shape.members else v
            for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [_decode_blobs(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _decode_blobs(shape.value, v) for k, v in value.items()}
    return value


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc}"
        ) from None


def parse_input(
    match: RouteMatch,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    """The operation's input parameters, keyed by member name (PascalCase)."""
    shape = match.operation.model.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload_name = shape.serialization.get("payload")
    body_members = False
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in match.labels:
                params[name] = match.labels[wire_name]
        elif location == "querystring":
            values = query.get(wire_name)
            if values:
                if member.type_name == "list":
                    params[name] = [_scalar(member.member, v, name) for v in values]
                else:
                    params[name] = _scalar(member, values[-1], name)
        elif location == "header":
            if wire_name.lower() in headers:
                params[name] = _scalar(member, headers[wire_name.lower()], name)
        elif name == payload_name:
            if member.type_name == "blob":
                params[name] = body
            else:
                params[name] = _decode_blobs(member, _json_body(body))
        else:
            body_members = True
    if body_members and payload_name is None:
        document = _json_body(body)
        if not isinstance(document, dict):
            raise InvalidRequestContentException(
                "Could not parse request body into json: expected a JSON object"
            )
        for name, member in shape.members.items():
            if member.serialization.get("location") is None and name in document:
                params[name] = _decode_blobs(member, document[name])
    return params
