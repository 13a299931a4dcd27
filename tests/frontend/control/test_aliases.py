"""CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases."""

from __future__ import annotations

from typing import Any

import pytest

from roost.api.errors import (
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from tests.fixtures.roost_process import RoostProcess
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import (
    InProcessPlane,
    body,
    deploy,
    function_arn,
    raises_aws,
    run_in_process,
    unchanged,
    update_configuration,
)


@pytest.fixture
def three_versions(lambda_client: Any, function_name: str) -> str:
    """A function with published versions 1, 2 and 3."""
    deploy(lambda_client, function_name)
    for timeout in (4, 5, 6):
        update_configuration(lambda_client, function_name, Timeout=timeout)
        lambda_client.publish_version(FunctionName=function_name)
    return function_name


def test_create_alias_answers_its_configuration(lambda_client: Any, three_versions: str) -> None:
    created = lambda_client.create_alias(
        FunctionName=three_versions, Name="live", FunctionVersion="1", Description="prod"
    )

    assert_matches_output_shape("CreateAlias", created)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == function_arn(three_versions, "live")
    assert (created["Name"], created["FunctionVersion"]) == ("live", "1")
    assert created["Description"] == "prod"
    assert created["RevisionId"]
    assert "RoutingConfig" not in created

    got = lambda_client.get_alias(FunctionName=three_versions, Name="live")
    assert_matches_output_shape("GetAlias", got)
    assert body(got) == body(created)


def test_alias_may_point_at_latest(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    created = lambda_client.create_alias(
        FunctionName=function_name, Name="dev", FunctionVersion="$LATEST"
    )

    assert created["FunctionVersion"] == "$LATEST"


def test_routing_config_round_trips(lambda_client: Any, three_versions: str) -> None:
    routing = {"AdditionalVersionWeights": {"2": 0.25}}

    created = lambda_client.create_alias(
        FunctionName=three_versions, Name="canary", FunctionVersion="1", RoutingConfig=routing
    )

    assert created["RoutingConfig"] == routing
    got = lambda_client.get_alias(FunctionName=three_versions, Name="canary")
    assert got["RoutingConfig"] == routing
    listed = lambda_client.list_aliases(FunctionName=three_versions)["Aliases"]
    assert listed[0]["RoutingConfig"] == routing


def test_update_alias_moves_it_and_keeps_what_is_not_given(
    lambda_client: Any, three_versions: str
) -> None:
    created = lambda_client.create_alias(
        FunctionName=three_versions, Name="live", FunctionVersion="1", Description="prod"
    )

    updated = lambda_client.update_alias(
        FunctionName=three_versions, Name="live", FunctionVersion="2"
    )

    assert_matches_output_shape("UpdateAlias", updated)
    assert (updated["FunctionVersion"], updated["Description"]) == ("2", "prod")
    assert updated["RevisionId"] != created["RevisionId"]
    got = lambda_client.get_alias(FunctionName=three_versions, Name="live")
    assert body(got) == body(updated)


def test_update_alias_shifts_and_clears_routing(lambda_client: Any, three_versions: str) -> None:
    lambda_client.create_alias(FunctionName=three_versions, Name="live", FunctionVersion="1")

    shifted = lambda_client.update_alias(
        FunctionName=three_versions,
        Name="live",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    assert shifted["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}

    promoted = lambda_client.update_alias(
        FunctionName=three_versions,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    assert promoted["FunctionVersion"] == "2"
    assert "RoutingConfig" not in promoted


def test_update_alias_checks_the_revision(lambda_client: Any, three_versions: str) -> None:
    created = lambda_client.create_alias(
        FunctionName=three_versions, Name="live", FunctionVersion="1"
    )
    same = unchanged(lambda: lambda_client.get_alias(FunctionName=three_versions, Name="live"))

    with raises_aws("PreconditionFailedException", 412):
        lambda_client.update_alias(
            FunctionName=three_versions, Name="live", FunctionVersion="2", RevisionId="stale"
        )
    same()

    updated = lambda_client.update_alias(
        FunctionName=three_versions,
        Name="live",
        FunctionVersion="2",
        RevisionId=created["RevisionId"],
    )
    assert updated["FunctionVersion"] == "2"


def test_alias_to_a_missing_version_is_not_found(lambda_client: Any, three_versions: str) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.create_alias(FunctionName=three_versions, Name="live", FunctionVersion="9")

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_alias(FunctionName=three_versions, Name="live")


def test_routing_to_a_missing_version_is_not_found(lambda_client: Any, three_versions: str) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.create_alias(
            FunctionName=three_versions,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"9": 0.1}},
        )

    assert lambda_client.list_aliases(FunctionName=three_versions)["Aliases"] == []


def test_update_alias_to_a_missing_version_changes_nothing(
    lambda_client: Any, three_versions: str
) -> None:
    lambda_client.create_alias(FunctionName=three_versions, Name="live", FunctionVersion="1")
    same = unchanged(lambda: lambda_client.get_alias(FunctionName=three_versions, Name="live"))

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.update_alias(FunctionName=three_versions, Name="live", FunctionVersion="9")

    same()


def test_duplicate_alias_conflicts(lambda_client: Any, three_versions: str) -> None:
    lambda_client.create_alias(FunctionName=three_versions, Name="live", FunctionVersion="1")
    same = unchanged(lambda: lambda_client.get_alias(FunctionName=three_versions, Name="live"))

    with raises_aws("ResourceConflictException", 409):
        lambda_client.create_alias(FunctionName=three_versions, Name="live", FunctionVersion="2")

    same()


def test_routing_with_latest_is_refused(lambda_client: Any, three_versions: str) -> None:
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.create_alias(
            FunctionName=three_versions,
            Name="live",
            FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )

    assert lambda_client.list_aliases(FunctionName=three_versions)["Aliases"] == []


def test_routing_to_two_additional_versions_is_refused(
    lambda_client: Any, three_versions: str
) -> None:
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.create_alias(
            FunctionName=three_versions,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}},
        )

    assert lambda_client.list_aliases(FunctionName=three_versions)["Aliases"] == []


def test_routing_weight_above_one_fails_validation(
    roost: RoostProcess, three_versions: str
) -> None:
    unchecked = roost.client(parameter_validation=False)

    with raises_aws("ValidationException", 400):
        unchecked.create_alias(
            FunctionName=three_versions,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}},
        )

    assert unchecked.list_aliases(FunctionName=three_versions)["Aliases"] == []


def test_a_numeric_alias_name_fails_validation(lambda_client: Any, three_versions: str) -> None:
    with raises_aws("ValidationException", 400):
        lambda_client.create_alias(FunctionName=three_versions, Name="12", FunctionVersion="1")

    assert lambda_client.list_aliases(FunctionName=three_versions)["Aliases"] == []


def test_alias_of_a_missing_function_is_not_found(lambda_client: Any, function_name: str) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")


def test_get_missing_alias_is_not_found(lambda_client: Any, three_versions: str) -> None:
    with raises_aws("ResourceNotFoundException", 404) as caught:
        lambda_client.get_alias(FunctionName=three_versions, Name="nope")
    assert function_arn(three_versions, "nope") in caught.value.response["Error"]["Message"]


def test_delete_alias_removes_it(lambda_client: Any, three_versions: str) -> None:
    lambda_client.create_alias(FunctionName=three_versions, Name="live", FunctionVersion="1")

    answer = lambda_client.delete_alias(FunctionName=three_versions, Name="live")

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_alias(FunctionName=three_versions, Name="live")
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_configuration(FunctionName=three_versions, Qualifier="live")


def test_deleting_the_alias_frees_its_version(lambda_client: Any, three_versions: str) -> None:
    lambda_client.create_alias(FunctionName=three_versions, Name="live", FunctionVersion="1")
    lambda_client.delete_alias(FunctionName=three_versions, Name="live")

    lambda_client.delete_function(FunctionName=three_versions, Qualifier="1")

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_configuration(FunctionName=three_versions, Qualifier="1")


def test_list_aliases_filters_by_version_and_pages(lambda_client: Any, three_versions: str) -> None:
    for name, version in (("a-one", "1"), ("b-two", "2"), ("c-one", "1"), ("d-three", "3")):
        lambda_client.create_alias(FunctionName=three_versions, Name=name, FunctionVersion=version)
    lambda_client.create_alias(
        FunctionName=three_versions,
        Name="e-split",
        FunctionVersion="3",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}},
    )

    listed = lambda_client.list_aliases(FunctionName=three_versions)
    assert_matches_output_shape("ListAliases", listed)
    assert [a["Name"] for a in listed["Aliases"]] == [
        "a-one",
        "b-two",
        "c-one",
        "d-three",
        "e-split",
    ]
    assert all(a["AliasArn"] == function_arn(three_versions, a["Name"]) for a in listed["Aliases"])

    on_three = lambda_client.list_aliases(FunctionName=three_versions, FunctionVersion="3")
    assert [a["Name"] for a in on_three["Aliases"]] == ["d-three", "e-split"]

    first = lambda_client.list_aliases(FunctionName=three_versions, MaxItems=2)
    assert_matches_output_shape("ListAliases", first)
    assert [a["Name"] for a in first["Aliases"]] == ["a-one", "b-two"]
    rest = lambda_client.list_aliases(
        FunctionName=three_versions, MaxItems=3, Marker=first["NextMarker"]
    )
    assert [a["Name"] for a in rest["Aliases"]] == ["c-one", "d-three", "e-split"]
    assert "NextMarker" not in rest


def test_list_aliases_of_a_missing_function_is_not_found(
    lambda_client: Any, function_name: str
) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.list_aliases(FunctionName=function_name)


def test_a_version_an_alias_routes_to_cannot_be_deleted(
    lambda_client: Any, three_versions: str
) -> None:
    lambda_client.create_alias(
        FunctionName=three_versions,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )

    with raises_aws("ResourceConflictException", 409):
        lambda_client.delete_function(FunctionName=three_versions, Qualifier="2")

    lambda_client.get_function_configuration(FunctionName=three_versions, Qualifier="2")


# Concurrent writes: each one is checked again on a fresh read when another got in first.


def test_concurrent_updates_with_the_same_revision_let_only_one_through() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn", versions=3)
        created = await plane.call(
            "CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1"
        )
        revision = created["RevisionId"]
        other = plane.step(
            "UpdateAlias", FunctionName="fn", Name="live", FunctionVersion="2", RevisionId=revision
        )
        plane.store.before_commit("alias/", other)

        with pytest.raises(PreconditionFailedException):
            await plane.call(
                "UpdateAlias",
                FunctionName="fn",
                Name="live",
                FunctionVersion="3",
                RevisionId=revision,
            )

        got = await plane.call("GetAlias", FunctionName="fn", Name="live")
        assert got["FunctionVersion"] == "2"

    run_in_process(scenario)


def test_an_update_racing_a_delete_does_not_bring_the_alias_back() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn", versions=2)
        await plane.call("CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1")
        plane.store.before_commit(
            "alias/", plane.step("DeleteAlias", FunctionName="fn", Name="live")
        )

        with pytest.raises(ResourceNotFoundException):
            await plane.call("UpdateAlias", FunctionName="fn", Name="live", FunctionVersion="2")

        assert (await plane.call("ListAliases", FunctionName="fn"))["Aliases"] == []

    run_in_process(scenario)


def test_an_alias_to_a_version_deleted_meanwhile_is_not_created() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn", versions=2)
        plane.store.before_commit(
            "alias/", plane.step("DeleteFunction", FunctionName="fn", Qualifier="1")
        )

        with pytest.raises(ResourceNotFoundException):
            await plane.call("CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1")

        assert (await plane.call("ListAliases", FunctionName="fn"))["Aliases"] == []

    run_in_process(scenario)


def test_an_alias_is_not_moved_to_a_version_deleted_meanwhile() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn", versions=2)
        await plane.call("CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1")
        plane.store.before_commit(
            "alias/", plane.step("DeleteFunction", FunctionName="fn", Qualifier="2")
        )

        with pytest.raises(ResourceNotFoundException):
            await plane.call(
                "UpdateAlias",
                FunctionName="fn",
                Name="live",
                RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
            )

        got = await plane.call("GetAlias", FunctionName="fn", Name="live")
        assert (got["FunctionVersion"], got.get("RoutingConfig")) == ("1", None)

    run_in_process(scenario)


def test_creating_the_same_alias_twice_at_once_conflicts() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn", versions=2)
        plane.store.before_commit(
            "alias/",
            plane.step("CreateAlias", FunctionName="fn", Name="live", FunctionVersion="2"),
        )

        with pytest.raises(ResourceConflictException):
            await plane.call("CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1")

        got = await plane.call("GetAlias", FunctionName="fn", Name="live")
        assert got["FunctionVersion"] == "2"

    run_in_process(scenario)
