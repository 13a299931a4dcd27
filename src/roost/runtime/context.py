"""The ``context`` object handlers receive, with the fields of AWS's Python runtime."""

from __future__ import annotations

import json
import os
import time
from typing import Any


class CognitoIdentity:
    """``context.identity`` (set only for invokes through the Mobile SDK)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.cognito_identity_id = document.get("cognitoIdentityId")
        self.cognito_identity_pool_id = document.get("cognitoIdentityPoolId")


class ClientContext:
    """``context.client_context``, decoded from ``X-Amz-Client-Context``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.client = document.get("client")
        self.custom = document.get("custom")
        self.env = document.get("env")


def _json_or_none(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


class LambdaContext:
    """What ``def handler(event, context)`` gets as ``context``."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.aws_request_id = headers.get("lambda-runtime-aws-request-id", "")
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn", "")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms", "0"))
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        identity = _json_or_none(headers.get("lambda-runtime-cognito-identity"))
        self.identity = CognitoIdentity(identity) if identity is not None else None
        client = _json_or_none(headers.get("lambda-runtime-client-context"))
        self.client_context = ClientContext(client) if client is not None else None
        self.tenant_id = headers.get("lambda-runtime-aws-tenant-id")

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )
