"""Helpers shared by the API tests: requests built by botocore itself.

``botocore_request`` serializes parameters with botocore's own ``rest-json``
serializer and prepares the URL as a client does before sending, so tests see the
raw path with the percent-encoding a real SDK puts on URI labels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.awsrequest
import botocore.serialize

from roost.api.model import service_model

ENDPOINT = "https://lambda.us-east-1.amazonaws.com"

# A valid value for every URI label of the model. A label the model gains later
# makes ``minimal_params`` fail loudly, so this table is kept complete.
LABEL_VALUES: dict[str, Any] = {
    "FunctionName": "my-fn",
    "LayerName": "my-layer",
    "VersionNumber": 3,
    "StatementId": "stmt-1",
    "Name": "live",
    "UUID": "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
    "CodeSigningConfigArn": (
        "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0"
    ),
    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:my-fn",
    "ResourceArn": "arn:aws:lambda:us-east-1:123456789012:function:my-fn:1",
    # Contains slashes, which botocore encodes as %2F in a (non-greedy) label.
    "DurableExecutionArn": (
        "arn:aws:lambda:us-east-1:123456789012:function:my-fn:1/durable-execution/run-1/ab12"
    ),
    "CapacityProviderName": "my-provider",
    # Base64 alphabet: '/', '+' and '=' all get percent-encoded.
    "CallbackId": "Y2Fs/bGJh+Y2s==",
}


def placeholder(shape: Any, name: str) -> Any:
    """A type-appropriate value for a required member (URI labels from the table)."""
    if shape.serialization.get("location") == "uri":
        if name not in LABEL_VALUES:
            raise AssertionError(f"no test value for the URI label {name}; add it")
        return LABEL_VALUES[name]
    kind = shape.type_name
    if kind == "structure":
        return {m: placeholder(shape.members[m], m) for m in shape.required_members}
    if kind == "list":
        return [placeholder(shape.member, name)]
    if kind == "map":
        return {"key": placeholder(shape.value, name)}
    if kind in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if kind in ("double", "float"):
        return 1.0
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"payload"
    if kind == "timestamp":
        return dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    enum = shape.metadata.get("enum")
    return enum[0] if enum else f"{name.lower()}-value"


def minimal_params(operation: str, **overrides: Any) -> dict[str, Any]:
    """The operation's required members with placeholder values, then ``overrides``."""
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        return dict(overrides)
    params = {m: placeholder(shape.members[m], m) for m in shape.required_members}
    params.update(overrides)
    return params


@dataclass(frozen=True)
class SentRequest:
    """A request as botocore puts it on the wire."""

    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


def botocore_request(operation: str, params: dict[str, Any]) -> SentRequest:
    """Serialize ``params`` for ``operation`` exactly as a botocore client would send it."""
    model = service_model().operation_model(operation)
    request = botocore.serialize.create_serializer("rest-json").serialize_to_request(params, model)
    botocore.awsrequest.prepare_request_dict(request, endpoint_url=ENDPOINT)
    prepared = botocore.awsrequest.create_request_object(request).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    return SentRequest(
        method=prepared.method,
        raw_path=url.path,
        query=parse_qs(url.query, keep_blank_values=True),
        headers={k.lower(): v for k, v in prepared.headers.items()},
        body=body.encode() if isinstance(body, str) else bytes(body),
    )
