"""CreateFunction, GetFunction(Configuration), ListFunctions, Update*, DeleteFunction.

End to end through boto3, asserting what a user of AWS Lambda sees; the main
responses are checked against the model's output shapes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import urllib.request
import zipfile
from typing import Any

import pytest

from roost.api.errors import (
    InvalidParameterValueException,
    RequestEntityTooLargeException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from roost.frontend.control.deps import AccountLimits
from roost.frontend.control.settings import config_changes
from roost.functions import runtimes
from roost.functions.runtimes import LIFECYCLE
from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess, make_zip
from tests.fixtures.shapes import assert_matches_output_shape, output_shape_problems
from tests.frontend.control.support import (
    ACCOUNT_ID,
    FAST_POLL,
    InProcessPlane,
    body,
    deploy,
    function_arn,
    raises_aws,
    run_in_process,
    settle,
    unchanged,
    update_code,
    update_configuration,
)


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def other_zip(tag: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {tag!r}\n"})


def test_shape_checker_finds_what_breaks_the_model() -> None:
    problems = output_shape_problems(
        "GetFunctionConfiguration",
        {
            "FunctionName": "f",
            "Timeout": "3",
            "State": "Sleeping",
            "Surprise": 1,
            "EphemeralStorage": {},
            "Architectures": ["x86_64", "arm64"],
        },
    )
    assert len(problems) == 5, problems
    timestamps = output_shape_problems(
        "GetFunctionEventInvokeConfig", {"LastModified": "2024-01-01T00:00:00Z"}
    )
    assert len(timestamps) == 1, timestamps


# CreateFunction


def test_create_answers_pending_configuration_with_lambda_defaults(
    lambda_client: Any, function_name: str, zip_bytes: bytes
) -> None:
    created = lambda_client.create_function(**create_args(function_name, zip_bytes))

    assert_matches_output_shape("CreateFunction", created)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == function_name
    assert created["FunctionArn"] == function_arn(function_name)
    assert created["Version"] == "$LATEST"
    assert created["State"] == "Pending"
    assert created["StateReasonCode"] == "Creating"
    assert created["CodeSha256"] == code_sha256(zip_bytes)
    assert created["CodeSize"] == len(zip_bytes)
    assert created["RevisionId"]
    assert created["Timeout"] == 3
    assert created["MemorySize"] == 128
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["Architectures"] == ["x86_64"]
    assert created["PackageType"] == "Zip"
    assert created["Runtime"] == "python3.12"
    assert created["Handler"] == "app.handler"
    assert created["TracingConfig"] == {"Mode": "PassThrough"}
    assert "Environment" not in created


def test_created_function_becomes_active(lambda_client: Any, function_name: str) -> None:
    lambda_client.create_function(**create_args(function_name))

    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, WaiterConfig=FAST_POLL
    )

    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert_matches_output_shape("GetFunctionConfiguration", config)
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    assert "StateReasonCode" not in config


def test_create_keeps_every_setting_given(lambda_client: Any, function_name: str) -> None:
    created = lambda_client.create_function(
        **create_args(
            function_name,
            Description="orders",
            Timeout=30,
            MemorySize=512,
            EphemeralStorage={"Size": 1024},
            Architectures=["arm64"],
            Environment={"Variables": {"STAGE": "prod", "DEBUG": "0"}},
            TracingConfig={"Mode": "Active"},
            Tags={"team": "payments"},
        )
    )

    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, WaiterConfig=FAST_POLL
    )
    got = lambda_client.get_function(FunctionName=function_name)
    assert_matches_output_shape("GetFunction", got)
    for config in (created, got["Configuration"]):
        assert config["Description"] == "orders"
        assert config["Timeout"] == 30
        assert config["MemorySize"] == 512
        assert config["EphemeralStorage"] == {"Size": 1024}
        assert config["Architectures"] == ["arm64"]
        assert config["Environment"] == {"Variables": {"STAGE": "prod", "DEBUG": "0"}}
        assert config["TracingConfig"] == {"Mode": "Active"}
    assert got["Tags"] == {"team": "payments"}


def test_create_with_publish_answers_version_1(lambda_client: Any, function_name: str) -> None:
    created = lambda_client.create_function(**create_args(function_name, Publish=True))

    assert_matches_output_shape("CreateFunction", created)
    assert created["Version"] == "1"
    assert created["FunctionArn"] == function_arn(function_name, "1")
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, Qualifier="1", WaiterConfig=FAST_POLL
    )
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_create_twice_conflicts_and_keeps_the_first(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Description="first")
    same = unchanged(lambda: lambda_client.get_function_configuration(FunctionName=function_name))

    with raises_aws("ResourceConflictException", 409):
        lambda_client.create_function(**create_args(function_name, Description="second"))

    same()


def test_create_with_a_broken_zip_creates_nothing(lambda_client: Any, function_name: str) -> None:
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.create_function(**create_args(function_name, b"not a zip"))

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function(FunctionName=function_name)


def test_create_with_a_timeout_above_900_is_refused(lambda_client: Any, function_name: str) -> None:
    with raises_aws("ValidationException", 400):
        lambda_client.create_function(**create_args(function_name, Timeout=901))

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function(FunctionName=function_name)


def test_create_without_a_handler_is_refused(lambda_client: Any, function_name: str) -> None:
    args = create_args(function_name)
    del args["Handler"]

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.create_function(**args)

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function(FunctionName=function_name)


def test_create_with_a_reserved_environment_key_is_refused(
    lambda_client: Any, function_name: str
) -> None:
    environment = {"Variables": {"AWS_REGION": "eu-west-1"}}

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.create_function(**create_args(function_name, Environment=environment))

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function(FunctionName=function_name)


# GetFunction and GetFunctionConfiguration


def test_get_function_shows_configuration_code_tags_and_concurrency(
    lambda_client: Any, function_name: str, zip_bytes: bytes
) -> None:
    deploy(lambda_client, function_name, zip_bytes, Tags={"app": "shop"})
    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=3
    )

    got = lambda_client.get_function(FunctionName=function_name)

    assert_matches_output_shape("GetFunction", got)
    assert got["Configuration"]["FunctionName"] == function_name
    assert got["Configuration"]["CodeSha256"] == code_sha256(zip_bytes)
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as reply:
        assert reply.read() == zip_bytes
    assert got["Tags"] == {"app": "shop"}
    assert got["Concurrency"] == {"ReservedConcurrentExecutions": 3}


def test_get_function_of_a_version_downloads_that_versions_code(
    lambda_client: Any, function_name: str, zip_bytes: bytes
) -> None:
    deploy(lambda_client, function_name, zip_bytes, Publish=True)
    update_code(lambda_client, function_name, other_zip("two"))

    got = lambda_client.get_function(FunctionName=function_name, Qualifier="1")

    assert got["Configuration"]["Version"] == "1"
    with urllib.request.urlopen(got["Code"]["Location"]) as reply:
        assert reply.read() == zip_bytes


def test_get_missing_function_is_not_found(lambda_client: Any, function_name: str) -> None:
    with raises_aws("ResourceNotFoundException", 404) as caught:
        lambda_client.get_function(FunctionName=function_name)
    assert function_arn(function_name) in caught.value.response["Error"]["Message"]

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_configuration(FunctionName=function_name)


@pytest.fixture
def versioned(lambda_client: Any, function_name: str) -> str:
    """A function with version 1 ("one"), alias live -> 1, and $LATEST ("two")."""
    deploy(lambda_client, function_name, Description="one")
    lambda_client.publish_version(FunctionName=function_name)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    update_configuration(lambda_client, function_name, Description="two")
    return function_name


@pytest.mark.parametrize(
    ("form", "qualifier", "description", "version", "arn_qualifier"),
    [
        ("{name}", None, "two", "$LATEST", None),
        ("{name}", "$LATEST", "two", "$LATEST", "$LATEST"),
        ("{name}", "1", "one", "1", "1"),
        ("{name}", "live", "one", "1", "live"),
        ("{name}:1", None, "one", "1", "1"),
        ("{name}:live", None, "one", "1", "live"),
        ("{name}:$LATEST", None, "two", "$LATEST", "$LATEST"),
        ("{account}:function:{name}", None, "two", "$LATEST", None),
        ("{account}:function:{name}:live", None, "one", "1", "live"),
        ("{arn}", None, "two", "$LATEST", None),
        ("{arn}", "1", "one", "1", "1"),
        ("{arn}:1", None, "one", "1", "1"),
        ("{arn}:live", "live", "one", "1", "live"),
    ],
)
def test_get_function_configuration_resolves_every_name_form(
    lambda_client: Any,
    versioned: str,
    form: str,
    qualifier: str | None,
    description: str,
    version: str,
    arn_qualifier: str | None,
) -> None:
    name = form.format(name=versioned, account=ACCOUNT_ID, arn=function_arn(versioned))
    extra = {"Qualifier": qualifier} if qualifier else {}

    config = lambda_client.get_function_configuration(FunctionName=name, **extra)
    got = lambda_client.get_function(FunctionName=name, **extra)

    assert_matches_output_shape("GetFunctionConfiguration", config)
    assert config["FunctionName"] == versioned
    assert config["Description"] == description
    assert config["Version"] == version
    # Like AWS, the ARN answered is qualified as the request was (by alias, too).
    assert config["FunctionArn"] == function_arn(versioned, arn_qualifier)
    assert got["Configuration"] == body(config)


def test_qualifier_in_name_and_parameter_must_agree(lambda_client: Any, versioned: str) -> None:
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.get_function_configuration(FunctionName=f"{versioned}:1", Qualifier="live")


@pytest.mark.parametrize("qualifier", ["7", "nope"])
def test_missing_version_or_alias_is_not_found(
    lambda_client: Any, versioned: str, qualifier: str
) -> None:
    with raises_aws("ResourceNotFoundException", 404) as caught:
        lambda_client.get_function_configuration(FunctionName=versioned, Qualifier=qualifier)
    assert function_arn(versioned, qualifier) in caught.value.response["Error"]["Message"]


def test_another_accounts_function_is_denied(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    foreign = function_arn(function_name).replace(ACCOUNT_ID, "123456789012")

    with raises_aws("AccessDeniedException", 403):
        lambda_client.get_function(FunctionName=foreign)


def test_a_malformed_function_name_fails_validation(lambda_client: Any) -> None:
    with raises_aws("ValidationException", 400):
        lambda_client.get_function(FunctionName="no spaces allowed")


# ListFunctions


def _list_all(client: Any, **params: Any) -> list[list[str]]:
    """Every page of ListFunctions, as ``name:version`` entries."""
    pages: list[list[str]] = []
    marker: str | None = None
    while True:
        answer = client.list_functions(**params, **({"Marker": marker} if marker else {}))
        assert_matches_output_shape("ListFunctions", answer)
        pages.append([f"{f['FunctionName']}:{f['Version']}" for f in answer["Functions"]])
        marker = answer.get("NextMarker")
        if not marker:
            return pages


def test_list_functions_pages_through_every_function(fresh_roost: RoostProcess) -> None:
    client = fresh_roost.client()
    names = [f"fn-{i}" for i in range(7)]
    for name in reversed(names):
        client.create_function(**create_args(name))

    pages = _list_all(client, MaxItems=3)

    assert pages == [
        [f"{n}:$LATEST" for n in names[0:3]],
        [f"{n}:$LATEST" for n in names[3:6]],
        [f"{n}:$LATEST" for n in names[6:7]],
    ]
    paginated = client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2})
    assert [f["FunctionName"] for page in paginated for f in page["Functions"]] == names


def test_list_functions_with_all_versions(fresh_roost: RoostProcess) -> None:
    client = fresh_roost.client()
    deploy(client, "alpha", Publish=True)
    update_code(client, "alpha", other_zip("two"), Publish=True)
    client.create_function(**create_args("beta"))

    assert _list_all(client) == [["alpha:$LATEST", "beta:$LATEST"]]
    everything = ["alpha:$LATEST", "alpha:1", "alpha:2", "beta:$LATEST"]
    assert _list_all(client, FunctionVersion="ALL") == [everything]
    for size in range(1, 6):
        pages = _list_all(client, FunctionVersion="ALL", MaxItems=size)
        assert pages == [everything[i : i + size] for i in range(0, len(everything), size)]


def test_list_functions_answers_at_most_50_per_call(fresh_roost: RoostProcess) -> None:
    client = fresh_roost.client()
    for i in range(51):
        client.create_function(**create_args(f"fn-{i:02d}"))

    first = client.list_functions(MaxItems=100)
    rest = client.list_functions(MaxItems=100, Marker=first["NextMarker"])

    assert len(first["Functions"]) == 50
    assert [f["FunctionName"] for f in rest["Functions"]] == ["fn-50"]
    assert "NextMarker" not in rest


def test_listed_functions_leave_out_state(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)

    pages = lambda_client.get_paginator("list_functions").paginate(FunctionVersion="ALL")
    mine = [f for page in pages for f in page["Functions"] if f["FunctionName"] == function_name]

    latest_only = lambda_client.get_paginator("list_functions").paginate()
    [unqualified] = [
        f["FunctionArn"]
        for page in latest_only
        for f in page["Functions"]
        if f["FunctionName"] == function_name
    ]
    assert unqualified == function_arn(function_name)
    # As AWS documents: State and LastUpdateStatus* are for GetFunction only.
    assert [f["Version"] for f in mine] == ["$LATEST", "1"]
    assert [f["FunctionArn"] for f in mine] == [
        function_arn(function_name, "$LATEST"),
        function_arn(function_name, "1"),
    ]
    for entry in mine:
        assert not {"State", "StateReason", "LastUpdateStatus"} & set(entry)
        assert entry["CodeSha256"] and entry["RevisionId"]


def test_list_functions_refuses_a_forged_marker(lambda_client: Any) -> None:
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.list_functions(Marker="not-a-marker")


# UpdateFunctionCode


def test_update_code_replaces_the_package(lambda_client: Any, function_name: str) -> None:
    before = deploy(lambda_client, function_name)
    new_zip = other_zip("new")

    answer = lambda_client.update_function_code(FunctionName=function_name, ZipFile=new_zip)

    assert_matches_output_shape("UpdateFunctionCode", answer)
    assert answer["CodeSha256"] == code_sha256(new_zip)
    assert answer["CodeSize"] == len(new_zip)
    assert answer["LastUpdateStatus"] == "InProgress"
    assert answer["RevisionId"] != before["RevisionId"]
    assert answer["Version"] == "$LATEST"
    after = settle(lambda_client, function_name)
    assert after["LastUpdateStatus"] == "Successful"
    assert after["CodeSha256"] == code_sha256(new_zip)
    location = lambda_client.get_function(FunctionName=function_name)["Code"]["Location"]
    with urllib.request.urlopen(location) as reply:
        assert reply.read() == new_zip


def test_update_code_with_publish_answers_the_new_version(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)
    new_zip = other_zip("published")

    answer = update_code(lambda_client, function_name, new_zip, Publish=True)

    assert_matches_output_shape("UpdateFunctionCode", answer)
    assert answer["Version"] == "1"
    assert answer["FunctionArn"] == function_arn(function_name, "1")
    version = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier="1")
    assert version["CodeSha256"] == code_sha256(new_zip)


def test_update_code_may_change_the_architecture(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    answer = update_code(lambda_client, function_name, other_zip("arm"), Architectures=["arm64"])

    assert answer["Architectures"] == ["arm64"]
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert config["Architectures"] == ["arm64"]


def test_update_code_dry_run_changes_nothing(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    same = unchanged(lambda: lambda_client.get_function_configuration(FunctionName=function_name))
    new_zip = other_zip("dry")

    answer = lambda_client.update_function_code(
        FunctionName=function_name, ZipFile=new_zip, DryRun=True
    )

    assert_matches_output_shape("UpdateFunctionCode", answer)
    assert answer["CodeSha256"] == code_sha256(new_zip)
    same()


def test_update_code_with_a_stale_revision_fails_the_precondition(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)
    same = unchanged(lambda: lambda_client.get_function_configuration(FunctionName=function_name))

    with raises_aws("PreconditionFailedException", 412):
        lambda_client.update_function_code(
            FunctionName=function_name, ZipFile=other_zip("x"), RevisionId="stale"
        )

    same()


def test_update_code_with_the_current_revision_succeeds(
    lambda_client: Any, function_name: str
) -> None:
    current = deploy(lambda_client, function_name)["RevisionId"]

    answer = lambda_client.update_function_code(
        FunctionName=function_name, ZipFile=other_zip("y"), RevisionId=current
    )

    assert answer["RevisionId"] != current


def test_update_code_of_a_missing_function_is_not_found(
    lambda_client: Any, function_name: str, zip_bytes: bytes
) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.update_function_code(FunctionName=function_name, ZipFile=zip_bytes)


def test_update_code_with_a_broken_zip_changes_nothing(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)
    same = unchanged(lambda: lambda_client.get_function_configuration(FunctionName=function_name))

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.update_function_code(FunctionName=function_name, ZipFile=b"PK broken")

    same()


# UpdateFunctionConfiguration


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("Description", "updated"),
        ("Timeout", 900),
        ("MemorySize", 10240),
        ("Handler", "main.entry"),
        ("Runtime", "python3.11"),
        ("Role", "arn:aws:iam::000000000000:role/other-role"),
        ("Environment", {"Variables": {"LEVEL": "debug"}}),
        ("EphemeralStorage", {"Size": 2048}),
        ("TracingConfig", {"Mode": "Active"}),
        ("DeadLetterConfig", {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"}),
        ("LoggingConfig", {"LogFormat": "JSON", "LogGroup": "/custom/group"}),
    ],
)
def test_update_configuration_round_trips_each_setting(
    lambda_client: Any, function_name: str, setting: str, value: Any
) -> None:
    before = deploy(lambda_client, function_name)

    answer = lambda_client.update_function_configuration(
        FunctionName=function_name, **{setting: value}
    )

    assert_matches_output_shape("UpdateFunctionConfiguration", answer)
    assert answer[setting] == value
    assert answer["LastUpdateStatus"] == "InProgress"
    assert answer["RevisionId"] != before["RevisionId"]
    after = settle(lambda_client, function_name)
    assert after[setting] == value
    assert after["LastUpdateStatus"] == "Successful"
    assert after["CodeSha256"] == before["CodeSha256"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("VpcConfig", {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}),
        ("KMSKeyArn", "arn:aws:kms:us-east-1:000000000000:key/roost"),
    ],
    ids=["vpc", "kms"],
)
def test_settings_roost_does_not_act_on_are_kept(
    lambda_client: Any, function_name: str, setting: str, value: Any
) -> None:
    deploy(lambda_client, function_name)

    after = update_configuration(lambda_client, function_name, **{setting: value})

    assert_matches_output_shape("GetFunctionConfiguration", after)
    assert after[setting] == value


def test_empty_settings_remove_environment_and_dead_letter_queue(
    lambda_client: Any, function_name: str
) -> None:
    deploy(
        lambda_client,
        function_name,
        Environment={"Variables": {"KEY": "v"}},
        DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"},
    )

    after = update_configuration(
        lambda_client,
        function_name,
        Environment={"Variables": {}},
        DeadLetterConfig={"TargetArn": ""},
    )

    assert after.get("Environment", {}).get("Variables", {}) == {}
    assert after.get("DeadLetterConfig", {}).get("TargetArn", "") == ""


def test_update_configuration_replaces_the_whole_environment(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Environment={"Variables": {"OLD": "1", "KEEP": "2"}})

    after = update_configuration(
        lambda_client, function_name, Environment={"Variables": {"NEW": "3"}}
    )

    assert after["Environment"] == {"Variables": {"NEW": "3"}}


def test_update_configuration_leaves_other_settings_alone(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Timeout=10, Environment={"Variables": {"KEY": "v"}})

    after = update_configuration(lambda_client, function_name, MemorySize=256)

    assert (after["Timeout"], after["MemorySize"]) == (10, 256)
    assert after["Environment"] == {"Variables": {"KEY": "v"}}


def test_update_configuration_checks_the_revision(lambda_client: Any, function_name: str) -> None:
    current = deploy(lambda_client, function_name)["RevisionId"]
    same = unchanged(lambda: lambda_client.get_function_configuration(FunctionName=function_name))

    with raises_aws("PreconditionFailedException", 412):
        lambda_client.update_function_configuration(
            FunctionName=function_name, Timeout=5, RevisionId="stale"
        )
    same()

    answer = lambda_client.update_function_configuration(
        FunctionName=function_name, Timeout=5, RevisionId=current
    )
    assert answer["Timeout"] == 5


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"Timeout": 901}, "ValidationException"),
        ({"MemorySize": 10241}, "ValidationException"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException"),
        ({"Runtime": "python2.7"}, "InvalidParameterValueException"),
    ],
)
def test_refused_configuration_changes_nothing(
    lambda_client: Any, function_name: str, settings: dict[str, Any], code: str
) -> None:
    deploy(lambda_client, function_name)
    same = unchanged(lambda: lambda_client.get_function_configuration(FunctionName=function_name))

    with raises_aws(code, 400):
        lambda_client.update_function_configuration(FunctionName=function_name, **settings)

    same()


def test_update_configuration_of_a_missing_function_is_not_found(
    lambda_client: Any, function_name: str
) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.update_function_configuration(FunctionName=function_name, Timeout=5)


# RevisionId


def test_revision_changes_when_the_create_completes(lambda_client: Any, function_name: str) -> None:
    created = lambda_client.create_function(**create_args(function_name))

    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, WaiterConfig=FAST_POLL
    )
    active = lambda_client.get_function_configuration(FunctionName=function_name)

    assert active["State"] == "Active"
    assert active["RevisionId"] != created["RevisionId"]


def test_revision_changes_when_an_update_completes(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    answer = lambda_client.update_function_configuration(FunctionName=function_name, Timeout=9)
    assert answer["LastUpdateStatus"] == "InProgress"

    done = settle(lambda_client, function_name)

    assert done["LastUpdateStatus"] == "Successful"
    assert done["RevisionId"] != answer["RevisionId"]


def test_versions_published_with_the_code_have_their_own_revision() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        created = await plane.call("CreateFunction", **create_args("fn"), Publish=True)
        latest = await plane.call("GetFunctionConfiguration", FunctionName="fn")
        first = await plane.call("GetFunctionConfiguration", FunctionName="fn", Qualifier="1")
        assert created["Version"] == "1"
        assert created["RevisionId"] == first["RevisionId"] != latest["RevisionId"]
        await plane.activator.settle()

        updated = await plane.call(
            "UpdateFunctionCode", FunctionName="fn", ZipFile=other_zip("two"), Publish=True
        )
        latest = await plane.call("GetFunctionConfiguration", FunctionName="fn")
        second = await plane.call("GetFunctionConfiguration", FunctionName="fn", Qualifier="2")
        assert updated["Version"] == "2"
        assert updated["RevisionId"] == second["RevisionId"] != latest["RevisionId"]

    run_in_process(scenario)


# Runtime lifecycle on update


def test_update_configuration_checks_the_runtime_against_the_block_update_date(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a day when nodejs20.x can no longer be created with, but still updated to
    life = LIFECYCLE["nodejs20.x"]
    assert life.block_create is not None and life.block_update is not None
    between = life.block_create + dt.timedelta(days=1)
    assert between < life.block_update
    monkeypatch.setattr(runtimes, "_today", lambda: between)

    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        with pytest.raises(InvalidParameterValueException):
            await plane.call("CreateFunction", **create_args("other", Runtime="nodejs20.x"))

        updated = await plane.call(
            "UpdateFunctionConfiguration", FunctionName="fn", Runtime="nodejs20.x"
        )

        assert updated["Runtime"] == "nodejs20.x"

    run_in_process(scenario)

    # And on the block-update date, the update is refused too
    monkeypatch.setattr(runtimes, "_today", lambda: life.block_update)
    with pytest.raises(InvalidParameterValueException):
        config_changes({"Runtime": "nodejs20.x"}, for_update=True)


# Package size limits


def test_uploads_are_held_to_the_limits_account_settings_report() -> None:
    small = AccountLimits(code_size_zipped_bytes=1000, code_size_unzipped_bytes=10_000)
    big = make_zip({"app.py": "def handler(e, c):\n    pass\n", "data.txt": "x" * 2000})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", "def handler(e, c):\n    pass\n")
        archive.writestr("data.txt", "x" * 20_000)  # Compresses well below 1000 bytes.
    roomy = buffer.getvalue()
    assert len(big) > 1000 > len(roomy)

    async def scenario(plane: InProcessPlane) -> None:
        settings = await plane.call("GetAccountSettings")
        assert settings["AccountLimit"]["CodeSizeZipped"] == 1000
        assert settings["AccountLimit"]["CodeSizeUnzipped"] == 10_000
        with pytest.raises(RequestEntityTooLargeException):
            await plane.call("CreateFunction", **create_args("fn", big))
        with pytest.raises(InvalidParameterValueException, match="Unzipped size"):
            await plane.call("CreateFunction", **create_args("fn", roomy))

    run_in_process(scenario, small)


# DeleteFunction


def test_delete_function_removes_it(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    answer = lambda_client.delete_function(FunctionName=function_name)

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function(FunctionName=function_name)
    listed = lambda_client.get_paginator("list_functions").paginate()
    assert function_name not in {f["FunctionName"] for page in listed for f in page["Functions"]}


def test_delete_function_by_arn(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    lambda_client.delete_function(FunctionName=function_arn(function_name))

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function(FunctionName=function_name)


def test_recreated_function_starts_clean(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True, Tags={"old": "yes"})
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    lambda_client.delete_function(FunctionName=function_name)

    deploy(lambda_client, function_name)

    got = lambda_client.get_function(FunctionName=function_name)
    assert "Tags" not in got
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]
    assert lambda_client.list_aliases(FunctionName=function_name)["Aliases"] == []


def test_delete_missing_function_is_not_found(lambda_client: Any, function_name: str) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.delete_function(FunctionName=function_name)


def test_delete_with_a_qualifier_removes_only_that_version(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Publish=True)
    update_code(lambda_client, function_name, other_zip("two"), Publish=True)

    lambda_client.delete_function(FunctionName=function_name, Qualifier="1")

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_configuration(FunctionName=function_name, Qualifier="1")
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "2"]


def test_delete_a_version_by_qualified_arn(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)

    lambda_client.delete_function(FunctionName=function_arn(function_name, "1"))

    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]


def test_delete_a_version_an_alias_uses_conflicts(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    same = unchanged(
        lambda: lambda_client.get_function_configuration(FunctionName=function_name, Qualifier="1")
    )

    with raises_aws("ResourceConflictException", 409):
        lambda_client.delete_function(FunctionName=function_name, Qualifier="1")

    same()


def test_delete_latest_alone_is_refused(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.delete_function(FunctionName=function_name, Qualifier="$LATEST")

    assert body(lambda_client.get_function_configuration(FunctionName=function_name))


def test_delete_a_missing_version_is_not_found(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.delete_function(FunctionName=function_name, Qualifier="3")


def test_delete_with_two_qualifiers_that_disagree_is_refused(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Publish=True)
    update_code(lambda_client, function_name, other_zip("two"), Publish=True)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.delete_function(FunctionName=f"{function_name}:1", Qualifier="2")

    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    lambda_client.delete_function(FunctionName=f"{function_name}:2", Qualifier="2")
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_delete_is_retried_when_the_function_changes_meanwhile() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        # A tag lands between DeleteFunction's read of the function and its delete.
        plane.store.before_commit(
            "fn/", plane.step("TagResource", Resource=function_arn("fn"), Tags={"k": "v"})
        )

        answer = await plane.call("DeleteFunction", FunctionName="fn")

        assert answer == {"StatusCode": 204}
        with pytest.raises(ResourceNotFoundException):
            await plane.call("GetFunction", FunctionName="fn")

    run_in_process(scenario)


def test_deleting_a_version_is_retried_when_the_function_changes_meanwhile() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn", versions=2)
        plane.store.before_commit(
            "fn/", plane.step("TagResource", Resource=function_arn("fn"), Tags={"k": "v"})
        )

        await plane.call("DeleteFunction", FunctionName="fn", Qualifier="1")

        listed = await plane.call("ListVersionsByFunction", FunctionName="fn")
        assert [v["Version"] for v in listed["Versions"]] == ["$LATEST", "2"]
        assert (await plane.call("ListTags", Resource=function_arn("fn")))["Tags"] == {"k": "v"}

    run_in_process(scenario)


def test_a_version_an_alias_takes_meanwhile_is_not_deleted() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn", versions=2)
        plane.store.before_commit(
            "ver/", plane.step("CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1")
        )

        with pytest.raises(ResourceConflictException, match="live"):
            await plane.call("DeleteFunction", FunctionName="fn", Qualifier="1")

        got = await plane.call("GetFunctionConfiguration", FunctionName="fn", Qualifier="live")
        assert got["Version"] == "1"

    run_in_process(scenario)
