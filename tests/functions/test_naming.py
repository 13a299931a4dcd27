"""Tests for FunctionName parsing, qualifiers and ARNs."""

from __future__ import annotations

import pytest

from roost.api.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
)
from roost.functions.naming import (
    LATEST,
    MAX_NAME_LENGTH,
    FunctionRef,
    access_denied,
    check_region,
    function_arn,
    is_version,
    merge_qualifier,
    parse_function_name,
)

ACCOUNT = "123456789012"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-fn"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-fn", FunctionRef("my-fn")),
        ("My_Fn-2", FunctionRef("My_Fn-2")),
        ("my.fn", FunctionRef("my.fn")),
        ("my-fn:prod", FunctionRef("my-fn", "prod")),
        ("my-fn:7", FunctionRef("my-fn", "7")),
        ("my-fn:$LATEST", FunctionRef("my-fn", LATEST)),
        (f"{ACCOUNT}:function:my-fn", FunctionRef("my-fn", None, ACCOUNT)),
        (f"{ACCOUNT}:function:my-fn:live", FunctionRef("my-fn", "live", ACCOUNT)),
        (f"{ACCOUNT}:function:my-fn:$LATEST", FunctionRef("my-fn", LATEST, ACCOUNT)),
        ("function:my-fn", FunctionRef("my-fn")),
        (ARN, FunctionRef("my-fn", None, ACCOUNT, "us-east-1")),
        (f"{ARN}:live", FunctionRef("my-fn", "live", ACCOUNT, "us-east-1")),
        (f"{ARN}:12", FunctionRef("my-fn", "12", ACCOUNT, "us-east-1")),
        (f"{ARN}:$LATEST", FunctionRef("my-fn", LATEST, ACCOUNT, "us-east-1")),
        (
            f"arn:aws-us-gov:lambda:us-gov-west-1:{ACCOUNT}:function:my-fn:1",
            FunctionRef("my-fn", "1", ACCOUNT, "us-gov-west-1"),
        ),
        (
            f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:my-fn",
            FunctionRef("my-fn", None, ACCOUNT, "cn-north-1"),
        ),
    ],
)
def test_accepted_forms(value: str, expected: FunctionRef) -> None:
    assert parse_function_name(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "my fn",
        "my/fn",
        "my-fn:",
        "my-fn:prod:extra",
        "my-fn:$latest",
        "my-fn:pr.od",
        ":prod",
        f"{ARN}:",
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:",
        f"arn:aws:s3:::{ACCOUNT}",
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:my-layer:1",
        "12345678901:function:my-fn",
        "héllo",
    ],
)
def test_rejected_forms(value: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_function_name(value)

    assert caught.value.message.startswith(
        f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
    )


def test_trailing_newline_is_rejected() -> None:
    with pytest.raises(ValidationException):
        parse_function_name("my-fn\n")


@pytest.mark.parametrize(
    "region",
    ["us-iso-east-1", "us-isob-east-1", "eusc-de-east-1"],
)
def test_every_region_form_of_the_model_is_accepted(region: str) -> None:
    value = f"arn:aws:lambda:{region}:{ACCOUNT}:function:my-fn"
    assert parse_function_name(value).region == region


def test_name_of_the_maximum_length_is_accepted() -> None:
    name = "a" * MAX_NAME_LENGTH
    assert MAX_NAME_LENGTH == 64
    assert parse_function_name(name) == FunctionRef(name)
    assert parse_function_name(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:1").name == (
        name
    )


@pytest.mark.parametrize(
    "value",
    [
        "a" * 65,
        "a" * 65 + ":prod",
        f"{ACCOUNT}:function:" + "a" * 65,
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:" + "a" * 65,
    ],
)
def test_name_above_64_characters_is_rejected(value: str) -> None:
    with pytest.raises(ValidationException):
        parse_function_name(value)


# --- qualifiers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "qualifier", "expected"),
    [
        (FunctionRef("f"), None, None),
        (FunctionRef("f", "prod"), None, "prod"),
        (FunctionRef("f"), "3", "3"),
        (FunctionRef("f", "prod"), "prod", "prod"),
        (FunctionRef("f", LATEST), LATEST, LATEST),
    ],
)
def test_merge_qualifier(ref: FunctionRef, qualifier: str | None, expected: str | None) -> None:
    assert merge_qualifier(ref, qualifier) == expected


@pytest.mark.parametrize(
    ("name_qualifier", "parameter"),
    [("prod", "1"), ("1", "2"), (LATEST, "1"), ("prod", LATEST)],
)
def test_merge_qualifier_refuses_a_conflict(name_qualifier: str, parameter: str) -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        merge_qualifier(FunctionRef("f", name_qualifier), parameter)

    assert caught.value.status == 400
    assert caught.value.message == (
        "The derived qualifier from the function name does not match the specified qualifier."
    )


@pytest.mark.parametrize(
    ("qualifier", "expected"),
    [("1", True), ("12", True), ("007", True), (LATEST, False), ("prod", False), ("1a", False)],
)
def test_is_version(qualifier: str, expected: bool) -> None:
    assert is_version(qualifier) is expected


# --- ARNs -----------------------------------------------------------------------------


def test_function_arn() -> None:
    assert function_arn("us-east-1", ACCOUNT, "my-fn") == ARN
    assert function_arn("us-east-1", ACCOUNT, "my-fn", "live") == f"{ARN}:live"
    assert function_arn("us-east-1", ACCOUNT, "my-fn", LATEST) == f"{ARN}:$LATEST"


@pytest.mark.parametrize("qualifier", [None, "live", "3", LATEST])
def test_function_arn_parses_back(qualifier: str | None) -> None:
    arn = function_arn("eu-west-2", ACCOUNT, "my-fn", qualifier)

    assert parse_function_name(arn) == FunctionRef("my-fn", qualifier, ACCOUNT, "eu-west-2")


def test_check_region_refuses_another_region_only() -> None:
    check_region(ARN, "us-east-1")
    check_region("my-fn", "us-east-1")
    check_region(f"{ACCOUNT}:function:my-fn", "us-east-1")

    with pytest.raises(ResourceNotFoundException):
        check_region(ARN, "eu-west-1")


def test_access_denied_names_the_action_and_resource() -> None:
    error = access_denied(ACCOUNT, "GetFunction", ARN)

    assert error.error_code == "AccessDeniedException"
    assert error.status == 403
    assert error.message == (
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: "
        f"lambda:GetFunction on resource: {ARN}"
    )
