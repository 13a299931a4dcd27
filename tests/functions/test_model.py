"""Tests for ``FunctionConfig``: store documents, revisions and the publish fingerprint."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace

import pytest

from roost.functions.model import (
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    CodeLocation,
    FunctionConfig,
    State,
    UpdateStatus,
    new_revision_id,
    now_timestamp,
)

OLD_TIMESTAMP = "2020-01-01T00:00:00.000+0000"
CODE = CodeLocation(sha256_hex="ab" * 32, code_sha256="q83vEjRWeJA=", size_bytes=321)


def config(**changes: object) -> FunctionConfig:
    base = FunctionConfig(
        name="my-fn",
        runtime="python3.12",
        role="arn:aws:iam::123456789012:role/lambda-role",
        handler="app.handler",
        code=CODE,
        last_modified=OLD_TIMESTAMP,
        revision_id="00000000-0000-0000-0000-000000000000",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def full_config() -> FunctionConfig:
    return config(
        version="3",
        description="does things",
        timeout_s=30,
        memory_mb=512,
        ephemeral_storage_mb=1024,
        environment={"A": "1", "GREETING": "héllo"},
        architectures=("arm64",),
        dead_letter_target_arn="arn:aws:sqs:us-east-1:123456789012:dlq",
        tracing_mode="Active",
        layers=("arn:aws:lambda:us-east-1:123456789012:layer:l:1",),
        logging={"LogFormat": "JSON", "ApplicationLogLevel": "INFO"},
        passthrough={"VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": []}},
        state=State.FAILED,
        state_reason="broken",
        state_reason_code="InvalidZipFileException",
        last_update_status=UpdateStatus.FAILED,
        last_update_status_reason="broken",
        last_update_status_reason_code="InvalidZipFileException",
    )


# --- defaults and helpers -------------------------------------------------------------


def test_defaults() -> None:
    fresh = FunctionConfig(name="f", runtime=None, role="r", handler=None, code=CODE)

    assert fresh.version == "$LATEST"
    assert fresh.timeout_s == DEFAULT_TIMEOUT_S == 3
    assert fresh.memory_mb == DEFAULT_MEMORY_MB == 128
    assert fresh.ephemeral_storage_mb == DEFAULT_EPHEMERAL_STORAGE_MB == 512
    assert fresh.architectures == ("x86_64",)
    assert fresh.package_type == "Zip"
    assert fresh.state is State.PENDING
    assert fresh.last_update_status is None


def test_now_timestamp_has_lambdas_format() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", now_timestamp())


def test_revision_ids_are_fresh_uuids() -> None:
    first, second = new_revision_id(), new_revision_id()

    assert first != second
    assert str(uuid.UUID(first)) == first


# --- documents ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [config, full_config], ids=["minimal", "full"])
def test_document_round_trips_through_json(make: object) -> None:
    original = make()  # type: ignore[operator]

    document = json.loads(json.dumps(original.to_document()))

    assert FunctionConfig.from_document(document) == original


def test_document_is_plain_json_types() -> None:
    document = full_config().to_document()

    assert document["architectures"] == ["arm64"]
    assert document["layers"] == ["arn:aws:lambda:us-east-1:123456789012:layer:l:1"]
    assert document["code"] == {
        "sha256_hex": "ab" * 32,
        "code_sha256": "q83vEjRWeJA=",
        "size_bytes": 321,
    }
    assert json.loads(json.dumps(document)) == document


def test_from_document_restores_enums_and_tuples() -> None:
    restored = FunctionConfig.from_document(json.loads(json.dumps(full_config().to_document())))

    assert restored.state is State.FAILED
    assert restored.last_update_status is UpdateStatus.FAILED
    assert isinstance(restored.architectures, tuple)
    assert isinstance(restored.layers, tuple)
    assert isinstance(restored.code, CodeLocation)


def test_from_document_ignores_keys_of_a_newer_roost() -> None:
    document = config().to_document()
    document["snap_start"] = {"ApplyOn": "PublishedVersions"}

    assert FunctionConfig.from_document(document) == config()


def test_from_document_fills_fields_an_older_roost_did_not_write() -> None:
    document = config().to_document()
    for key in ("architectures", "layers", "state", "last_update_status", "logging"):
        del document[key]

    restored = FunctionConfig.from_document(document)

    assert restored.architectures == ("x86_64",)
    assert restored.layers == ()
    assert restored.state is State.PENDING
    assert restored.last_update_status is None


# --- revisions ------------------------------------------------------------------------


def test_revised_applies_changes_with_a_new_revision_and_timestamp() -> None:
    before = config()

    after = before.revised(timeout_s=60)

    assert after.timeout_s == 60
    assert after.revision_id != before.revision_id
    assert after.last_modified != before.last_modified == OLD_TIMESTAMP
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", after.last_modified)
    assert before.timeout_s == DEFAULT_TIMEOUT_S  # Frozen: the original is untouched.


def test_revised_without_changes_still_revises() -> None:
    before = config()

    after = before.revised()

    assert after.revision_id != before.revision_id
    assert replace(after, revision_id=before.revision_id, last_modified=OLD_TIMESTAMP) == before


# --- fingerprint ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "volatile",
    [
        {"version": "7"},
        {"last_modified": "2030-01-01T00:00:00.000+0000"},
        {"revision_id": "11111111-1111-1111-1111-111111111111"},
        {"state": State.ACTIVE, "state_reason": "x", "state_reason_code": "y"},
        {
            "last_update_status": UpdateStatus.SUCCESSFUL,
            "last_update_status_reason": "x",
            "last_update_status_reason_code": "y",
        },
    ],
    ids=lambda v: "-".join(v),
)
def test_fingerprint_ignores_volatile_fields(volatile: dict[str, object]) -> None:
    assert config(**volatile).fingerprint() == config().fingerprint()


def test_fingerprint_survives_revised_and_a_store_round_trip() -> None:
    original = full_config()
    stored = FunctionConfig.from_document(json.loads(json.dumps(original.to_document())))

    assert original.revised().fingerprint() == original.fingerprint() == stored.fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"code": CodeLocation("cd" * 32, "zz==", 321)},
        {"timeout_s": 4},
        {"memory_mb": 256},
        {"environment": {"A": "2"}},
        {"handler": "other.handler"},
        {"runtime": "python3.13"},
        {"role": "arn:aws:iam::123456789012:role/other"},
        {"description": "new"},
        {"architectures": ("arm64",)},
        {"layers": ("arn:aws:lambda:us-east-1:123456789012:layer:l:2",)},
        {"passthrough": {"KMSKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"}},
    ],
    ids=lambda c: "-".join(c),
)
def test_fingerprint_changes_with_code_or_configuration(change: dict[str, object]) -> None:
    assert config(**change).fingerprint() != config().fingerprint()


def test_fingerprint_does_not_depend_on_environment_order() -> None:
    first = config(environment={"A": "1", "B": "2"})
    second = config(environment={"B": "2", "A": "1"})

    assert first.fingerprint() == second.fingerprint()
