"""The function configuration as Roost keeps it: snake_case dataclasses.

``FunctionConfig`` is one version's configuration ($LATEST or a published
number). Settings Roost stores but does not act on yet (VPC, file systems, KMS,
SnapStart, ...) are kept as their wire documents in ``passthrough`` so that they
are returned unchanged.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_EPHEMERAL_STORAGE_MB = 512


class State(enum.StrEnum):
    """``State`` of a function version."""

    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


class UpdateStatus(enum.StrEnum):
    """``LastUpdateStatus`` of a function version."""

    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"


def now_timestamp() -> str:
    """Lambda's ``LastModified`` format: ``2024-05-01T12:00:00.000+0000``."""
    moment = dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def new_revision_id() -> str:
    """A fresh ``RevisionId`` (AWS uses UUIDs)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class CodeLocation:
    """The deployment package of a version: its digests and size."""

    sha256_hex: str
    code_sha256: str
    size_bytes: int


@dataclass(frozen=True)
class FunctionConfig:
    """One version's configuration."""

    name: str
    runtime: str | None
    role: str
    handler: str | None
    code: CodeLocation
    version: str = "$LATEST"
    description: str = ""
    timeout_s: int = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_STORAGE_MB
    environment: Mapping[str, str] = field(default_factory=dict)
    architectures: tuple[str, ...] = ("x86_64",)
    package_type: str = "Zip"
    dead_letter_target_arn: str | None = None
    tracing_mode: str = "PassThrough"
    layers: tuple[str, ...] = ()
    logging: Mapping[str, Any] = field(default_factory=dict)
    passthrough: Mapping[str, Any] = field(default_factory=dict)
    last_modified: str = field(default_factory=now_timestamp)
    revision_id: str = field(default_factory=new_revision_id)
    state: State = State.PENDING
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: UpdateStatus | None = None
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None

    def to_document(self) -> dict[str, Any]:
        """A JSON-safe document for the config store."""
        document = asdict(self)
        document["architectures"] = list(self.architectures)
        document["layers"] = list(self.layers)
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FunctionConfig:
        """Inverse of ``to_document``; ignores keys a newer Roost may have added."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in document.items() if k in known}
        values["code"] = CodeLocation(**values["code"])
        values["architectures"] = tuple(values.get("architectures", ("x86_64",)))
        values["layers"] = tuple(values.get("layers", ()))
        values["state"] = State(values.get("state", State.PENDING))
        if values.get("last_update_status"):
            values["last_update_status"] = UpdateStatus(values["last_update_status"])
        return cls(**values)

    def revised(self, **changes: Any) -> FunctionConfig:
        """A copy with ``changes``, a new ``RevisionId`` and ``LastModified``."""
        return replace(
            self, **changes, revision_id=new_revision_id(), last_modified=now_timestamp()
        )

    def fingerprint(self) -> tuple[Any, ...]:
        """What makes two versions the same for PublishVersion's no-op rule."""
        document = self.to_document()
        for volatile in (
            "version",
            "last_modified",
            "revision_id",
            "state",
            "state_reason",
            "state_reason_code",
            "last_update_status",
            "last_update_status_reason",
            "last_update_status_reason_code",
        ):
            document.pop(volatile, None)
        return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in document.items()))
