"""Tests for ``validate_input``: the model's constraints with AWS's messages."""

from __future__ import annotations

from typing import Any

import pytest

from roost.api.errors import (
    AwsError,
    InvalidRequestContentException,
    ValidationException,
)
from roost.api.model import service_model
from roost.api.validation import InputValidator, validate_input, violations_of

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
TAG_PATTERN = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
RESOURCE = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"


def input_shape(operation: str) -> Any:
    return service_model().operation_model(operation).input_shape


CREATE = input_shape("CreateFunction")
TIMEOUT_MAX = CREATE.members["Timeout"].metadata["max"]


def create_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": "my-fn",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": b"PK\x03\x04"},
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not ...}


def validation_message(operation: str, params: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as caught:
        validate_input(input_shape(operation), params)
    assert caught.value.status == 400
    assert caught.value.error_code == "ValidationException"
    return caught.value.message


def create_message(**overrides: Any) -> str:
    return validation_message("CreateFunction", create_params(**overrides))


# --- valid input ------------------------------------------------------------------


def test_valid_create_function_passes() -> None:
    validate_input(
        CREATE,
        create_params(
            Timeout=900,
            MemorySize=10240,
            Environment={"Variables": {"GREETING": "hi", "A_1": ""}},
            Architectures=["arm64"],
            EphemeralStorage={"Size": 512},
            PackageType="Zip",
            Tags={"team": "core"},
            Publish=True,
        ),
    )


def test_empty_input_of_an_operation_without_required_members_passes() -> None:
    validate_input(input_shape("ListFunctions"), {})


# --- ranges ---------------------------------------------------------------------------


def test_value_below_the_minimum() -> None:
    assert create_message(Timeout=0) == (
        "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_value_above_the_maximum() -> None:
    value = TIMEOUT_MAX + 1
    assert create_message(Timeout=value) == (
        f"1 validation error detected: Value '{value}' at 'timeout' failed to satisfy "
        "constraint: Member must have value less than or equal to 900"
    )


def test_lambda_maxima_are_tighter_than_the_model() -> None:
    # The model allows up to 5400 s and 32768 MB (other compute types); Lambda's
    # own limits apply, in the same message format.
    assert TIMEOUT_MAX > 900
    assert create_message(Timeout=901, EphemeralStorage={"Size": 10241}) == (
        "2 validation errors detected: "
        "Value '901' at 'timeout' failed to satisfy constraint: "
        "Member must have value less than or equal to 900; "
        "Value '10241' at 'ephemeralStorage.size' failed to satisfy constraint: "
        "Member must have value less than or equal to 10240"
    )


def test_lambda_bounds_are_reported_together_with_model_violations() -> None:
    from roost.frontend.control.settings import config_changes

    params = create_params(Timeout=901, MemorySize=100)
    with pytest.raises(ValidationException) as caught:
        validate_input(CREATE, params)
        config_changes(params, for_update=False)

    assert caught.value.message == (
        "2 validation errors detected: "
        "Value '901' at 'timeout' failed to satisfy constraint: "
        "Member must have value less than or equal to 900; "
        "Value '100' at 'memorySize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 128"
    )


def test_every_violation_is_reported_at_once() -> None:
    assert create_message(Timeout=0, MemorySize=100) == (
        "2 validation errors detected: "
        "Value '0' at 'timeout' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; "
        "Value '100' at 'memorySize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 128"
    )


def test_query_member_is_labelled_in_camel_case() -> None:
    assert validation_message("ListFunctions", {"MaxItems": 0}) == (
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


# --- lengths --------------------------------------------------------------------------


def test_string_too_long() -> None:
    description = "d" * 257
    assert create_message(Description=description) == (
        f"1 validation error detected: Value '{description}' at 'description' failed to "
        "satisfy constraint: Member must have length less than or equal to 256"
    )


def test_list_too_long_is_a_violation() -> None:
    message = create_message(Architectures=["x86_64", "arm64"])
    assert message.startswith("1 validation error detected: Value '")
    assert message.endswith(
        "' at 'architectures' failed to satisfy constraint: "
        "Member must have length less than or equal to 1"
    )


def test_list_value_is_rendered_as_aws_does() -> None:
    assert create_message(Architectures=["x86_64", "arm64"]) == (
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to "
        "satisfy constraint: Member must have length less than or equal to 1"
    )


# --- required members -----------------------------------------------------------------


def test_missing_required_member() -> None:
    assert create_message(Role=...) == (
        "1 validation error detected: Value null at 'role' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_explicit_null_required_member() -> None:
    assert create_message(Role=None) == (
        "1 validation error detected: Value null at 'role' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_several_missing_required_members() -> None:
    message = validation_message("CreateFunction", {"FunctionName": "my-fn"})
    assert message == (
        "2 validation errors detected: "
        "Value null at 'role' failed to satisfy constraint: Member must not be null; "
        "Value null at 'code' failed to satisfy constraint: Member must not be null"
    )


def test_missing_nested_required_member_has_a_dotted_path() -> None:
    assert create_message(EphemeralStorage={}) == (
        "1 validation error detected: Value null at 'ephemeralStorage.size' failed to "
        "satisfy constraint: Member must not be null"
    )


# --- patterns and enums ---------------------------------------------------------------


def test_pattern_violation_quotes_the_model_pattern() -> None:
    assert create_message(Role="not-a-role") == (
        "1 validation error detected: Value 'not-a-role' at 'role' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {ROLE_PATTERN}"
    )


def test_pattern_must_match_the_whole_value() -> None:
    message = create_message(Role=ROLE + " trailing")
    assert "at 'role' failed to satisfy constraint" in message


def test_function_name_from_the_uri_is_checked_against_its_pattern() -> None:
    message = validation_message("GetFunction", {"FunctionName": "my fn"})
    assert message.startswith(
        "1 validation error detected: Value 'my fn' at 'functionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
    )


def test_enum_violation_lists_the_model_values() -> None:
    assert create_message(PackageType="Jar") == (
        "1 validation error detected: Value 'Jar' at 'packageType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [Zip, Image]"
    )


@pytest.mark.parametrize("runtime", ["python2.9", "cobol85", "PYTHON3.12"])
def test_runtime_enum_is_left_to_the_domain(runtime: str) -> None:
    validate_input(CREATE, create_params(Runtime=runtime))


def test_nested_member_has_a_dotted_camel_case_path() -> None:
    assert create_message(EphemeralStorage={"Size": 100}) == (
        "1 validation error detected: Value '100' at 'ephemeralStorage.size' failed to "
        "satisfy constraint: Member must have value greater than or equal to 512"
    )


@pytest.mark.parametrize(
    "tags",
    [
        {"team": "core"},
        {"héllo wörld": "ünïcödé 42"},
        {"日本語": "値"},
        {"aws:cost/center=1+2-3@x_y.z": ""},
    ],
)
def test_java_unicode_classes_in_tag_patterns_accept_letters_spaces_numbers(
    tags: dict[str, str],
) -> None:
    validate_input(input_shape("TagResource"), {"Resource": RESOURCE, "Tags": tags})


@pytest.mark.parametrize("tags", [{"bad#key": "v"}, {"key": "semi;colon"}, {"k": "a*b"}])
def test_java_unicode_classes_in_tag_patterns_reject_other_symbols(tags: dict[str, str]) -> None:
    message = validation_message("TagResource", {"Resource": RESOURCE, "Tags": tags})
    assert f"Member must satisfy regular expression pattern: {TAG_PATTERN}" in message


def test_tag_pattern_rejects_control_whitespace() -> None:
    validation_message("TagResource", {"Resource": RESOURCE, "Tags": {"key": "line\nbreak"}})


def test_list_member_violation_has_the_aws_shape() -> None:
    message = create_message(Architectures=["sparc"])
    assert message.startswith(
        "1 validation error detected: Value '[sparc]' at 'architectures' failed to satisfy "
        "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
        "[x86_64, arm64]"
    )


def test_map_key_violation_has_the_aws_shape_and_hides_sensitive_values() -> None:
    assert create_message(Environment={"Variables": {"1BAD": "secret"}}) == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy "
        "constraint: Map keys must satisfy constraint: [Member must satisfy regular "
        "expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
    )


# --- wrong JSON types -----------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"Timeout": "30"},
        {"Timeout": 3.5},
        {"MemorySize": True},
        {"Publish": "yes"},
        {"Description": 42},
        {"Environment": ["A=1"]},
        {"Environment": {"Variables": {"A": 1}}},
        {"Architectures": "arm64"},
        {"Code": "zip"},
        {"Code": {"ZipFile": 123}},
        {"Tags": [["k", "v"]]},
    ],
    ids=lambda o: "-".join(f"{k}={v!r}" for k, v in o.items()),
)
def test_wrong_json_type_is_invalid_request_content(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestContentException) as caught:
        validate_input(CREATE, create_params(**overrides))

    assert caught.value.status == 400
    assert caught.value.message.startswith("Could not parse request body into json")


def test_type_errors_come_before_constraint_violations() -> None:
    with pytest.raises(InvalidRequestContentException):
        validate_input(CREATE, create_params(Timeout="3", MemorySize=1))


def test_non_object_input_is_invalid_request_content() -> None:
    with pytest.raises(InvalidRequestContentException):
        validate_input(CREATE, [])  # type: ignore[arg-type]


def test_violations_of_lists_type_errors_and_violations() -> None:
    found = violations_of(CREATE, create_params(Timeout="3", MemorySize=1))

    assert len(found) == 2
    assert "'timeout' must be an integer" in found[0]
    assert found[1] == (
        "Value '1' at 'memorySize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 128"
    )


def test_violations_of_a_valid_document_is_empty() -> None:
    assert violations_of(CREATE, create_params()) == []


def test_errors_are_aws_errors() -> None:
    with pytest.raises(AwsError) as caught:
        validate_input(CREATE, create_params(Timeout=0))
    assert caught.value.type == "User"


# --- InputValidator: validation remembered for repeated parameter sets --------------

INVOKE = input_shape("Invoke")


def test_a_remembered_valid_set_still_lets_every_invalid_one_fail() -> None:
    validator = InputValidator()
    valid = {"FunctionName": "my-fn", "InvocationType": "Event", "Payload": b"{}"}
    validator.validate(INVOKE, valid)
    validator.validate(INVOKE, {**valid, "Payload": b"[1]"})  # same length: remembered

    for _ in range(2):  # an invalid set is never remembered
        with pytest.raises(ValidationException):
            validator.validate(INVOKE, {**valid, "InvocationType": "Sometimes"})
        with pytest.raises(ValidationException):
            validator.validate(INVOKE, {**valid, "FunctionName": "x" * 300})


def test_a_value_of_another_type_is_not_taken_for_a_remembered_one() -> None:
    """``True == 1`` in Python: the memory keys on the type too."""
    validator = InputValidator()
    shape = input_shape("PutFunctionRecursionConfig")
    validator.validate(shape, {"FunctionName": "f", "RecursiveLoop": "Allow"})
    with pytest.raises(InvalidRequestContentException):
        validator.validate(shape, {"FunctionName": "f", "RecursiveLoop": 1})


def test_structures_are_validated_every_time() -> None:
    validator = InputValidator(limit=2)
    validator.validate(CREATE, create_params())
    with pytest.raises(ValidationException):
        validator.validate(CREATE, create_params(Timeout=TIMEOUT_MAX + 1))
    for index in range(5):  # past the limit the memory starts over, still correct
        validator.validate(INVOKE, {"FunctionName": f"fn-{index}"})
    with pytest.raises(ValidationException):
        validator.validate(INVOKE, {"FunctionName": "fn-0", "LogType": "Everything"})


def test_a_long_value_is_validated_every_time_and_not_remembered() -> None:
    validator = InputValidator()
    params = {"FunctionName": "my-fn", "ClientContext": "e30=" * 100}  # 400 characters
    validator.validate(INVOKE, params)
    validator.validate(INVOKE, params)
    assert not validator._valid  # nothing kept: such values seldom repeat
