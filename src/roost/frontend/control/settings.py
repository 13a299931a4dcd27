"""Wire settings of CreateFunction/UpdateFunctionConfiguration -> config fields.

The model has already checked types and ranges; what is checked here are Lambda's
own rules beyond the model (environment size and reserved keys, runtime and
handler validity).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from roost.api.errors import InvalidParameterValueException
from roost.functions.runtimes import validate_handler, validate_runtime

ENVIRONMENT_MAX_BYTES = 4096
RESERVED_ENVIRONMENT_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

# Lambda's upper bounds, below the model's (which allows more for other compute types).

# Settings Roost keeps and returns but does not act on yet.
PASSTHROUGH_MEMBERS = ("VpcConfig", "KMSKeyArn", "FileSystemConfigs", "ImageConfig")


def _environment(value: Mapping[str, Any]) -> dict[str, str]:
    variables = dict(value.get("Variables") or {})
    reserved = sorted(k for k in variables if k in RESERVED_ENVIRONMENT_KEYS)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{', '.join(reserved)}"
        )
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > ENVIRONMENT_MAX_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. "
            f"String measured: {measured}"
        )
    return variables


def config_changes(params: Mapping[str, Any], *, for_update: bool) -> dict[str, Any]:
    """FunctionConfig field values for the settings present in ``params``.

    ``for_update`` (UpdateFunctionConfiguration) checks ``Runtime`` against AWS's
    block-update date rather than its earlier block-create date.
    """
    changes: dict[str, Any] = {}
    simple = {
        "Role": "role",
        "Description": "description",
        "Timeout": "timeout_s",
        "MemorySize": "memory_mb",
    }
    for wire, name in simple.items():
        if wire in params:
            changes[name] = params[wire]
    if "Runtime" in params:
        validate_runtime(params["Runtime"], for_update=for_update)
        changes["runtime"] = params["Runtime"]
    if "Handler" in params:
        changes["handler"] = params["Handler"]
    if "Environment" in params:
        changes["environment"] = _environment(params["Environment"])
    if "EphemeralStorage" in params:
        changes["ephemeral_storage_mb"] = params["EphemeralStorage"]["Size"]
    if "TracingConfig" in params:
        changes["tracing_mode"] = params["TracingConfig"].get("Mode", "PassThrough")
    if "DeadLetterConfig" in params:
        changes["dead_letter_target_arn"] = params["DeadLetterConfig"].get("TargetArn") or None
    if "Layers" in params:
        changes["layers"] = tuple(params["Layers"])
    if "LoggingConfig" in params:
        changes["logging"] = dict(params["LoggingConfig"])
    if "Architectures" in params:
        changes["architectures"] = tuple(params["Architectures"])
    return changes


def passthrough_changes(params: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The stored-but-unused settings after applying ``params`` to ``current``."""
    merged = dict(current)
    for member in PASSTHROUGH_MEMBERS:
        if member in params:
            merged[member] = params[member]
    return merged


def check_runtime_and_handler(runtime: str | None, handler: str | None) -> None:
    """Zip functions need both, and the handler must fit the runtime."""
    if not runtime or not handler:
        raise InvalidParameterValueException(
            "Runtime and Handler are mandatory parameters for functions created with "
            "deployment packages."
        )
    validate_handler(runtime, handler)
