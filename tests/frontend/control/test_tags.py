"""TagResource, UntagResource and ListTags on functions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import create_args
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import body, deploy, function_arn, raises_aws


def test_tags_given_at_creation_are_listed(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Tags={"team": "core"})

    listed = lambda_client.list_tags(Resource=function_arn(function_name))

    assert_matches_output_shape("ListTags", listed)
    assert listed["Tags"] == {"team": "core"}


def test_tag_resource_adds_and_overwrites(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Tags={"team": "core", "env": "dev"})
    arn = function_arn(function_name)

    answer = lambda_client.tag_resource(Resource=arn, Tags={"env": "prod", "cost": "42"})

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_matches_output_shape("TagResource", answer)
    expected = {"team": "core", "env": "prod", "cost": "42"}
    assert lambda_client.list_tags(Resource=arn)["Tags"] == expected
    assert lambda_client.get_function(FunctionName=function_name)["Tags"] == expected


def test_untag_resource_removes_only_the_keys_given(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Tags={"a-key": "1", "b-key": "2", "c-key": "3"})
    arn = function_arn(function_name)

    answer = lambda_client.untag_resource(Resource=arn, TagKeys=["a-key", "c-key", "absent"])

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"b-key": "2"}
    assert lambda_client.get_function(FunctionName=function_name)["Tags"] == {"b-key": "2"}


def test_function_without_tags_lists_none(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    listed = lambda_client.list_tags(Resource=function_arn(function_name))

    assert listed["Tags"] == {}


@pytest.mark.parametrize("qualifier", ["1", "$LATEST", "live"], ids=["version", "latest", "alias"])
def test_qualified_arns_are_refused(lambda_client: Any, function_name: str, qualifier: str) -> None:
    deploy(lambda_client, function_name, Publish=True, Tags={"keep": "me"})
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    qualified = function_arn(function_name, qualifier)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.tag_resource(Resource=qualified, Tags={"new": "tag"})
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.untag_resource(Resource=qualified, TagKeys=["keep"])
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.list_tags(Resource=qualified)

    assert lambda_client.list_tags(Resource=function_arn(function_name))["Tags"] == {"keep": "me"}


def test_reserved_aws_prefix_is_refused(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    arn = function_arn(function_name)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.tag_resource(Resource=arn, Tags={"aws:owner": "me", "fine": "yes"})

    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}


def test_tags_of_a_missing_function_are_not_found(lambda_client: Any, function_name: str) -> None:
    arn = function_arn(function_name)

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.tag_resource(Resource=arn, Tags={"a": "b"})
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.untag_resource(Resource=arn, TagKeys=["a"])
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.list_tags(Resource=arn)


def test_a_function_name_is_not_a_resource_arn(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("ValidationException", 400):
        lambda_client.list_tags(Resource=function_name)


def test_tags_go_away_with_the_function(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Tags={"old": "tag"})
    lambda_client.delete_function(FunctionName=function_name)

    deploy(lambda_client, function_name)

    assert body(lambda_client.list_tags(Resource=function_arn(function_name))) == {"Tags": {}}


def test_more_than_50_tags_are_refused(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Tags={f"key-{i}": "v" for i in range(45)})
    arn = function_arn(function_name)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.tag_resource(Resource=arn, Tags={f"more-{i}": "v" for i in range(6)})

    assert len(lambda_client.list_tags(Resource=arn)["Tags"]) == 45
    lambda_client.tag_resource(Resource=arn, Tags={f"more-{i}": "v" for i in range(5)})
    assert len(lambda_client.list_tags(Resource=arn)["Tags"]) == 50


@pytest.mark.parametrize(
    "tags",
    [{f"key-{i}": "v" for i in range(51)}, {"aws:cloudformation:stack-name": "mine"}],
    ids=["51-tags", "aws-prefix"],
)
def test_create_with_refused_tags_creates_nothing(
    lambda_client: Any, function_name: str, tags: dict[str, str]
) -> None:
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.create_function(**create_args(function_name, Tags=tags))

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function(FunctionName=function_name)
