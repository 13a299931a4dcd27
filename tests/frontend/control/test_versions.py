"""PublishVersion and ListVersionsByFunction."""

from __future__ import annotations

from typing import Any

from tests.fixtures.roost_process import make_zip
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import (
    deploy,
    function_arn,
    raises_aws,
    unchanged,
    update_code,
    update_configuration,
)


def versions_of(client: Any, name: str) -> list[str]:
    answer = client.list_versions_by_function(FunctionName=name)
    return [v["Version"] for v in answer["Versions"]]


def test_publish_version_snapshots_latest(lambda_client: Any, function_name: str) -> None:
    latest = deploy(lambda_client, function_name, Description="first", Timeout=7)

    published = lambda_client.publish_version(FunctionName=function_name)

    assert_matches_output_shape("PublishVersion", published)
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["Version"] == "1"
    assert published["FunctionArn"] == function_arn(function_name, "1")
    assert published["CodeSha256"] == latest["CodeSha256"]
    assert (published["Description"], published["Timeout"]) == ("first", 7)
    assert published["RevisionId"]
    assert versions_of(lambda_client, function_name) == ["$LATEST", "1"]


def test_publish_version_numbers_increase(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    lambda_client.publish_version(FunctionName=function_name)
    update_configuration(lambda_client, function_name, Timeout=10)

    second = lambda_client.publish_version(FunctionName=function_name)

    assert second["Version"] == "2"
    assert second["Timeout"] == 10
    assert versions_of(lambda_client, function_name) == ["$LATEST", "1", "2"]


def test_publish_without_changes_answers_the_last_version(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)
    first = lambda_client.publish_version(FunctionName=function_name)

    again = lambda_client.publish_version(FunctionName=function_name)

    assert_matches_output_shape("PublishVersion", again)
    assert again["Version"] == "1"
    assert again["RevisionId"] == first["RevisionId"]
    assert versions_of(lambda_client, function_name) == ["$LATEST", "1"]


def test_publish_after_a_code_change_makes_a_new_version(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Publish=True)
    new_zip = make_zip({"app.py": "def handler(e, c):\n    return 2\n"})
    new_sha = update_code(lambda_client, function_name, new_zip)["CodeSha256"]

    published = lambda_client.publish_version(FunctionName=function_name, CodeSha256=new_sha)

    assert published["Version"] == "2"
    assert published["CodeSha256"] == new_sha


def test_publish_with_another_code_sha256_is_refused(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.publish_version(FunctionName=function_name, CodeSha256="bm90IGl0")

    assert versions_of(lambda_client, function_name) == ["$LATEST"]


def test_publish_with_a_stale_revision_fails_the_precondition(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("PreconditionFailedException", 412):
        lambda_client.publish_version(FunctionName=function_name, RevisionId="stale")

    assert versions_of(lambda_client, function_name) == ["$LATEST"]


def test_publish_with_a_description_describes_the_version(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Description="function")

    published = lambda_client.publish_version(FunctionName=function_name, Description="v1 notes")

    assert published["Description"] == "v1 notes"
    latest = lambda_client.get_function_configuration(FunctionName=function_name)
    assert latest["Description"] == "function"


def test_versions_are_immutable(lambda_client: Any, function_name: str) -> None:
    deploy(
        lambda_client, function_name, Description="one", Environment={"Variables": {"VERSION": "1"}}
    )
    lambda_client.publish_version(FunctionName=function_name)
    version_one = unchanged(
        lambda: lambda_client.get_function_configuration(FunctionName=function_name, Qualifier="1")
    )

    update_code(lambda_client, function_name, make_zip({"app.py": "def handler(e, c): pass\n"}))
    update_configuration(
        lambda_client,
        function_name,
        Description="two",
        Timeout=60,
        Environment={"Variables": {"VERSION": "2"}},
    )
    lambda_client.publish_version(FunctionName=function_name)

    version_one()


def test_publish_a_missing_function_is_not_found(lambda_client: Any, function_name: str) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.publish_version(FunctionName=function_name)


def test_list_versions_pages_in_order(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    for timeout in range(4, 9):
        update_configuration(lambda_client, function_name, Timeout=timeout)
        lambda_client.publish_version(FunctionName=function_name)

    pages: list[list[str]] = []
    params: dict[str, Any] = {"FunctionName": function_name, "MaxItems": 2}
    while True:
        answer = lambda_client.list_versions_by_function(**params)
        assert_matches_output_shape("ListVersionsByFunction", answer)
        pages.append([v["Version"] for v in answer["Versions"]])
        if "NextMarker" not in answer:
            break
        params["Marker"] = answer["NextMarker"]

    assert pages == [["$LATEST", "1"], ["2", "3"], ["4", "5"]]
    paginator = lambda_client.get_paginator("list_versions_by_function")
    for page_size in (1, 4, 6, 7):
        paginated = paginator.paginate(
            FunctionName=function_name, PaginationConfig={"PageSize": page_size}
        )
        entries = [(v["Version"], v["Timeout"]) for page in paginated for v in page["Versions"]]
        assert entries == [("$LATEST", 8), ("1", 4), ("2", 5), ("3", 6), ("4", 7), ("5", 8)]


def test_list_versions_answers_at_most_50_per_call(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    for timeout in range(10, 60):
        update_configuration(lambda_client, function_name, Timeout=timeout)
        lambda_client.publish_version(FunctionName=function_name)

    first = lambda_client.list_versions_by_function(FunctionName=function_name, MaxItems=100)
    rest = lambda_client.list_versions_by_function(
        FunctionName=function_name, MaxItems=100, Marker=first["NextMarker"]
    )

    assert len(first["Versions"]) == 50
    assert [v["Version"] for v in rest["Versions"]] == ["50"]
    for entry in first["Versions"] + rest["Versions"]:
        assert not {"State", "StateReason", "LastUpdateStatus"} & set(entry)


def test_listed_versions_carry_qualified_arns(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)

    listed = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]

    # As in AWS, $LATEST is listed with its qualified ARN too.
    assert [v["FunctionArn"] for v in listed] == [
        function_arn(function_name, "$LATEST"),
        function_arn(function_name, "1"),
    ]


def test_list_versions_of_a_missing_function_is_not_found(
    lambda_client: Any, function_name: str
) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.list_versions_by_function(FunctionName=function_name)


def test_version_numbers_are_never_reused(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)
    update_configuration(lambda_client, function_name, Timeout=9)
    lambda_client.publish_version(FunctionName=function_name)
    lambda_client.delete_function(FunctionName=function_name, Qualifier="2")

    republished = lambda_client.publish_version(FunctionName=function_name)

    assert republished["Version"] == "3"
    assert versions_of(lambda_client, function_name) == ["$LATEST", "1", "3"]
