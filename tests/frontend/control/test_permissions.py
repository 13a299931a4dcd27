"""AddPermission, RemovePermission and GetPolicy: the function's resource policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roost.api.errors import PreconditionFailedException
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import (
    InProcessPlane,
    Step,
    deploy,
    function_arn,
    raises_aws,
    run_in_process,
    unchanged,
)


def allow_s3(client: Any, name: str, sid: str = "s3-invoke", **extra: Any) -> dict[str, Any]:
    answer = client.add_permission(
        FunctionName=name,
        StatementId=sid,
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::uploads",
        SourceAccount="000000000000",
        **extra,
    )
    return dict(answer)


def policy_of(client: Any, name: str, **qualifier: str) -> dict[str, Any]:
    return dict(json.loads(client.get_policy(FunctionName=name, **qualifier)["Policy"]))


def test_add_permission_answers_the_statement(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    answer = allow_s3(lambda_client, function_name)

    assert_matches_output_shape("AddPermission", answer)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(answer["Statement"]) == {
        "Sid": "s3-invoke",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": function_arn(function_name),
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": "000000000000"},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"},
        },
    }


def test_get_policy_answers_the_policy_document(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    added = json.loads(allow_s3(lambda_client, function_name)["Statement"])

    got = lambda_client.get_policy(FunctionName=function_name)

    assert_matches_output_shape("GetPolicy", got)
    assert got["RevisionId"]
    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17"
    assert policy["Id"] == "default"
    assert policy["Statement"] == [added]


def test_principals_take_the_iam_form(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    principals = {
        "account": "123456789012",
        "service": "events.amazonaws.com",
        "role": "arn:aws:iam::123456789012:role/caller",
        "anyone": "*",
    }
    for sid, principal in principals.items():
        lambda_client.add_permission(
            FunctionName=function_name,
            StatementId=sid,
            Action="lambda:GetFunction",
            Principal=principal,
        )

    statements = {
        s["Sid"]: s["Principal"] for s in policy_of(lambda_client, function_name)["Statement"]
    }

    assert statements == {
        "account": {"AWS": "arn:aws:iam::123456789012:root"},
        "service": {"Service": "events.amazonaws.com"},
        "role": {"AWS": "arn:aws:iam::123456789012:role/caller"},
        "anyone": "*",
    }


def test_duplicate_statement_id_conflicts(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    allow_s3(lambda_client, function_name)
    same = unchanged(lambda: lambda_client.get_policy(FunctionName=function_name))

    with raises_aws("ResourceConflictException", 409):
        lambda_client.add_permission(
            FunctionName=function_name,
            StatementId="s3-invoke",
            Action="lambda:InvokeFunction",
            Principal="sns.amazonaws.com",
        )

    same()


def test_remove_permission_drops_one_statement(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    allow_s3(lambda_client, function_name, sid="first")
    allow_s3(lambda_client, function_name, sid="second")

    answer = lambda_client.remove_permission(FunctionName=function_name, StatementId="first")

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    statements = policy_of(lambda_client, function_name)["Statement"]
    assert [s["Sid"] for s in statements] == ["second"]


def test_removing_the_last_statement_removes_the_policy(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)
    allow_s3(lambda_client, function_name)

    lambda_client.remove_permission(FunctionName=function_name, StatementId="s3-invoke")

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_policy(FunctionName=function_name)


def test_remove_a_missing_statement_is_not_found(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    allow_s3(lambda_client, function_name)
    same = unchanged(lambda: lambda_client.get_policy(FunctionName=function_name))

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.remove_permission(FunctionName=function_name, StatementId="other")

    same()


def test_function_without_a_policy_has_none(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_policy(FunctionName=function_name)
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.remove_permission(FunctionName=function_name, StatementId="any")


def test_policies_of_qualifiers_are_separate(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")

    allow_s3(lambda_client, function_name, sid="on-alias", Qualifier="live")
    allow_s3(lambda_client, function_name, sid="on-version", Qualifier="1")

    alias_policy = policy_of(lambda_client, function_name, Qualifier="live")
    assert [(s["Sid"], s["Resource"]) for s in alias_policy["Statement"]] == [
        ("on-alias", function_arn(function_name, "live"))
    ]
    version_policy = policy_of(lambda_client, f"{function_name}:1")
    assert [(s["Sid"], s["Resource"]) for s in version_policy["Statement"]] == [
        ("on-version", function_arn(function_name, "1"))
    ]
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_policy(FunctionName=function_name)
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.remove_permission(FunctionName=function_name, StatementId="on-alias")


def test_a_policy_goes_away_with_its_alias(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    allow_s3(lambda_client, function_name, Qualifier="live")

    lambda_client.delete_alias(FunctionName=function_name, Name="live")
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_policy(FunctionName=function_name, Qualifier="live")


def test_permission_on_a_missing_qualifier_is_not_found(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("ResourceNotFoundException", 404):
        allow_s3(lambda_client, function_name, Qualifier="nope")
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_policy(FunctionName=function_name, Qualifier="3")


def test_permission_on_a_missing_function_is_not_found(
    lambda_client: Any, function_name: str
) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        allow_s3(lambda_client, function_name)
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_policy(FunctionName=function_name)


def test_policy_revision_is_checked(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    allow_s3(lambda_client, function_name, sid="first")
    revision = lambda_client.get_policy(FunctionName=function_name)["RevisionId"]
    same = unchanged(lambda: lambda_client.get_policy(FunctionName=function_name))

    with raises_aws("PreconditionFailedException", 412):
        allow_s3(lambda_client, function_name, sid="second", RevisionId="stale")
    with raises_aws("PreconditionFailedException", 412):
        lambda_client.remove_permission(
            FunctionName=function_name, StatementId="first", RevisionId="stale"
        )
    same()

    allow_s3(lambda_client, function_name, sid="second", RevisionId=revision)
    assert lambda_client.get_policy(FunctionName=function_name)["RevisionId"] != revision


def test_an_invalid_action_fails_validation(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("ValidationException", 400):
        lambda_client.add_permission(
            FunctionName=function_name,
            StatementId="bad",
            Action="s3:GetObject",
            Principal="s3.amazonaws.com",
        )


def test_a_policy_goes_away_with_its_function(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    allow_s3(lambda_client, function_name)

    lambda_client.delete_function(FunctionName=function_name)
    deploy(lambda_client, function_name)

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_policy(FunctionName=function_name)


# Concurrent changes of the policy


def add_step(plane: InProcessPlane, sid: str) -> Step:
    return plane.step(
        "AddPermission",
        FunctionName="fn",
        StatementId=sid,
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )


async def sids(plane: InProcessPlane) -> list[str]:
    policy = json.loads((await plane.call("GetPolicy", FunctionName="fn"))["Policy"])
    return [statement["Sid"] for statement in policy["Statement"]]


def test_remove_is_retried_when_the_policy_changes_meanwhile() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        for sid in ("first", "second"):
            await add_step(plane, sid)()
        plane.store.before_commit("att/policy/", add_step(plane, "third"))

        await plane.call("RemovePermission", FunctionName="fn", StatementId="first")

        assert await sids(plane) == ["second", "third"]

    run_in_process(scenario)


def test_removing_the_last_statement_keeps_one_added_meanwhile() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        await add_step(plane, "first")()
        plane.store.before_commit("att/policy/", add_step(plane, "second"))

        await plane.call("RemovePermission", FunctionName="fn", StatementId="first")

        assert await sids(plane) == ["second"]

    run_in_process(scenario)


def test_remove_with_a_revision_the_policy_left_meanwhile_fails_the_precondition() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        await add_step(plane, "first")()
        revision = (await plane.call("GetPolicy", FunctionName="fn"))["RevisionId"]
        plane.store.before_commit("att/policy/", add_step(plane, "second"))

        with pytest.raises(PreconditionFailedException):
            await plane.call(
                "RemovePermission", FunctionName="fn", StatementId="first", RevisionId=revision
            )

        assert await sids(plane) == ["first", "second"]

    run_in_process(scenario)
