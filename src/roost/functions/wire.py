"""Function configuration and aliases in the Lambda API's wire shapes (PascalCase)."""

from __future__ import annotations

from typing import Any

from roost.functions.aliases import Alias
from roost.functions.model import FunctionConfig
from roost.functions.naming import LATEST, function_arn


def configuration_to_wire(config: FunctionConfig, region: str, account_id: str) -> dict[str, Any]:
    """The ``FunctionConfiguration`` shape of one version."""
    qualifier = None if config.version == LATEST else config.version
    wire: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": function_arn(region, account_id, config.name, qualifier),
        "Runtime": config.runtime,
        "Role": config.role,
        "Handler": config.handler,
        "CodeSize": config.code.size_bytes,
        "Description": config.description,
        "Timeout": config.timeout_s,
        "MemorySize": config.memory_mb,
        "LastModified": config.last_modified,
        "CodeSha256": config.code.code_sha256,
        "Version": config.version,
        "TracingConfig": {"Mode": config.tracing_mode},
        "RevisionId": config.revision_id,
        "State": config.state.value,
        "StateReason": config.state_reason,
        "StateReasonCode": config.state_reason_code,
        "LastUpdateStatus": config.last_update_status.value if config.last_update_status else None,
        "LastUpdateStatusReason": config.last_update_status_reason,
        "LastUpdateStatusReasonCode": config.last_update_status_reason_code,
        "PackageType": config.package_type,
        "Architectures": list(config.architectures),
        "EphemeralStorage": {"Size": config.ephemeral_storage_mb},
        "LoggingConfig": {
            "LogFormat": "Text",
            "LogGroup": f"/aws/lambda/{config.name}",
            **config.logging,
        },
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
    }
    if config.environment:
        wire["Environment"] = {"Variables": dict(config.environment)}
    if config.dead_letter_target_arn:
        wire["DeadLetterConfig"] = {"TargetArn": config.dead_letter_target_arn}
    if config.layers:
        wire["Layers"] = [{"Arn": arn, "CodeSize": 0} for arn in config.layers]
    wire.update(config.passthrough)
    return {k: v for k, v in wire.items() if v is not None}


# ListFunctions and ListVersionsByFunction leave these out; GetFunction has them.
LIST_OMITTED_MEMBERS = frozenset(
    {
        "State",
        "StateReason",
        "StateReasonCode",
        "LastUpdateStatus",
        "LastUpdateStatusReason",
        "LastUpdateStatusReasonCode",
        "RuntimeVersionConfig",
    }
)


def list_entry_to_wire(
    config: FunctionConfig, region: str, account_id: str, *, qualified: bool
) -> dict[str, Any]:
    """A version's entry in ListFunctions or ListVersionsByFunction (a subset of the shape).

    Lists of versions qualify every ARN, ``$LATEST``'s too (``...:function:name:$LATEST``).
    """
    wire = configuration_to_wire(config, region, account_id)
    if qualified:
        wire["FunctionArn"] = function_arn(region, account_id, config.name, config.version)
    return {k: v for k, v in wire.items() if k not in LIST_OMITTED_MEMBERS}


def alias_to_wire(alias: Alias, region: str, account_id: str) -> dict[str, Any]:
    """The ``AliasConfiguration`` shape."""
    wire: dict[str, Any] = {
        "AliasArn": function_arn(region, account_id, alias.function_name, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.routing_weights:
        wire["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.routing_weights)}
    return wire
