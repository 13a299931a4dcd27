"""Durability of ``roost up``: what was acknowledged survives a restart and a SIGKILL,
and Ctrl-C/SIGTERM stop the process cleanly.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess, make_zip

KILL_AFTER_ACKS = 24
WRITER_DEADLINE_S = 20.0


def create_account(roost: RoostProcess, name: str) -> dict[str, str]:
    """``roost accounts create NAME --json`` against the data directory of ``roost``."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "roost",
            "accounts",
            "create",
            name,
            "--json",
            "--data-dir",
            str(roost.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    account: dict[str, str] = json.loads(done.stdout)
    return account


def without_metadata(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k != "ResponseMetadata"}


def wait_settled(client: Any, name: str, qualifier: str | None = None) -> dict[str, Any]:
    """The configuration once the function (version) is Active with its update done."""
    extra = {"Qualifier": qualifier} if qualifier else {}
    deadline = time.monotonic() + 10
    while True:
        config = without_metadata(client.get_function_configuration(FunctionName=name, **extra))
        if config["State"] == "Active" and config["LastUpdateStatus"] == "Successful":
            return config
        assert time.monotonic() < deadline, config
        time.sleep(0.02)


def download(location: str) -> bytes:
    with urllib.request.urlopen(location, timeout=10) as reply:
        data: bytes = reply.read()
    return data


def snapshot(client: Any, names: list[str]) -> dict[str, Any]:
    """Everything the API returns about the account and ``names``, for comparison."""
    state: dict[str, Any] = {
        "account": without_metadata(client.get_account_settings()),
        "list": without_metadata(client.list_functions(FunctionVersion="ALL")),
    }
    for name in names:
        function = without_metadata(client.get_function(FunctionName=name))
        function["Code"].pop("Location")  # a signed link, fresh on every call
        versions = client.list_versions_by_function(FunctionName=name)["Versions"]
        aliases = client.list_aliases(FunctionName=name)["Aliases"]
        entry: dict[str, Any] = {
            "function": function,
            "versions": versions,
            "configs": {
                v["Version"]: without_metadata(
                    client.get_function_configuration(FunctionName=name, Qualifier=v["Version"])
                )
                for v in versions
            },
            "aliases": aliases,
            "concurrency": without_metadata(client.get_function_concurrency(FunctionName=name)),
            "tags": client.list_tags(Resource=function["Configuration"]["FunctionArn"])["Tags"],
            "event_invoke_configs": client.list_function_event_invoke_configs(FunctionName=name)[
                "FunctionEventInvokeConfigs"
            ],
            "policies": {},
        }
        for qualifier in ["$LATEST", *(a["Name"] for a in aliases)]:
            try:
                entry["policies"][qualifier] = without_metadata(
                    client.get_policy(FunctionName=name, Qualifier=qualifier)
                )
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        state[name] = entry
    return state


def test_restart_keeps_everything(fresh_roost: RoostProcess) -> None:
    # Given: functions with versions, aliases, tags, concurrency, policies, event
    # invoke configs, and an account of its own with a function
    client = fresh_roost.client()
    account = create_account(fresh_roost, "durable-team")
    package = make_zip({"app.py": "def handler(event, context):\n    return 'kept'\n"})
    client.create_function(
        **create_args(
            "keeper",
            package,
            Description="first",
            Timeout=42,
            MemorySize=512,
            Environment={"Variables": {"STAGE": "prod"}},
            EphemeralStorage={"Size": 1024},
            Tags={"team": "durable"},
        )
    )
    wait_settled(client, "keeper")
    client.publish_version(FunctionName="keeper", Description="v1")
    client.update_function_configuration(FunctionName="keeper", Description="second")
    wait_settled(client, "keeper")
    client.publish_version(FunctionName="keeper", Description="v2")
    client.create_alias(
        FunctionName="keeper",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )
    client.tag_resource(
        Resource=client.get_function(FunctionName="keeper")["Configuration"]["FunctionArn"],
        Tags={"cost-center": "42"},
    )
    client.put_function_concurrency(FunctionName="keeper", ReservedConcurrentExecutions=7)
    client.add_permission(
        FunctionName="keeper",
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::a-bucket",
    )
    client.add_permission(
        FunctionName="keeper",
        Qualifier="live",
        StatementId="sns-invoke",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )
    client.put_function_event_invoke_config(
        FunctionName="keeper", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120
    )
    client.put_function_event_invoke_config(
        FunctionName="keeper", Qualifier="live", MaximumRetryAttempts=0
    )
    client.create_function(**create_args("plain"))
    wait_settled(client, "plain")
    team = fresh_roost.client(credentials=(account["AccessKeyId"], account["SecretAccessKey"]))
    team.create_function(**create_args("team-function", Description="theirs"))
    wait_settled(team, "team-function")
    before = snapshot(client, ["keeper", "plain"])
    team_before = snapshot(team, ["team-function"])

    # When
    fresh_roost.restart()

    # Then: every read is identical, and the code and the account's key still work
    client = fresh_roost.client()
    team = fresh_roost.client(credentials=(account["AccessKeyId"], account["SecretAccessKey"]))
    assert snapshot(client, ["keeper", "plain"]) == before
    assert snapshot(team, ["team-function"]) == team_before
    location = client.get_function(FunctionName="keeper", Qualifier="1")["Code"]["Location"]
    assert download(location) == package
    assert "Roost stopped." in fresh_roost.log()


def test_sigkill_loses_nothing_acknowledged(fresh_roost: RoostProcess) -> None:
    # Given: a writer creating functions and publishing versions as fast as it can,
    # recording every call Roost acknowledged
    package = make_zip()
    acked_functions: list[str] = []
    acked_versions: list[tuple[str, str, str]] = []  # (name, version, description)
    enough = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        client = fresh_roost.client(connect_timeout=2, read_timeout=5)
        try:
            for i in range(10_000):
                name = f"kill-{i}"
                client.create_function(**create_args(name, package, Publish=True))
                acked_functions.append(name)
                acked_versions.append((name, "1", ""))
                if i > 0:
                    previous = f"kill-{i - 1}"
                    description = f"published in round {i}"
                    try:
                        version = client.publish_version(
                            FunctionName=previous, Description=description
                        )["Version"]
                    except ClientError as error:  # still activating: not acknowledged
                        assert error.response["Error"]["Code"] == "ResourceConflictException"
                    else:
                        acked_versions.append((previous, version, description))
                if len(acked_functions) + len(acked_versions) >= KILL_AFTER_ACKS:
                    enough.set()
        except BotoCoreError:
            pass  # the server went away mid-call: that call was not acknowledged
        except BaseException as error:
            failures.append(error)
        finally:
            enough.set()
            client.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert enough.wait(WRITER_DEADLINE_S)
    assert thread.is_alive(), failures

    # When: SIGKILL in the middle of the stream, then a new process on the same data
    fresh_roost.kill()
    thread.join(WRITER_DEADLINE_S)
    assert not thread.is_alive()
    assert not failures, failures
    assert len(acked_functions) >= 2
    fresh_roost.start()

    # Then: every acknowledged function and version exists and becomes Active
    client = fresh_roost.client()
    waiter = client.get_waiter("function_active_v2")
    for name in acked_functions:
        waiter.wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    for name, version, description in acked_versions:
        config = wait_settled(client, name, version)
        assert config["Version"] == version
        if description:
            assert config["Description"] == description

    # And nothing is half-written: every function that exists (acknowledged or caught
    # in flight) is readable, Active, has its code, and its versions are 1..n
    listed = client.list_functions()["Functions"]
    names = {f["FunctionName"] for f in listed}
    assert set(acked_functions) <= names
    for name in names:
        got = client.get_function(FunctionName=name)
        config = wait_settled(client, name)
        assert config["CodeSha256"] == got["Configuration"]["CodeSha256"]
        assert download(got["Code"]["Location"]) == package
        versions = client.list_versions_by_function(FunctionName=name)["Versions"]
        numbers = [v["Version"] for v in versions]
        assert numbers == ["$LATEST", *(str(n) for n in range(1, len(numbers)))]
        for number in numbers[1:]:
            assert wait_settled(client, name, number)["CodeSha256"] == config["CodeSha256"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stop_signal_stops_cleanly(fresh_roost: RoostProcess, sig: signal.Signals) -> None:
    client = fresh_roost.client()
    client.create_function(**create_args("before-stop"))

    exit_code = fresh_roost.stop(sig)

    assert exit_code == 0
    log = fresh_roost.log()
    assert "Roost stopped." in log, log
    assert "Traceback" not in log
    fresh_roost.start()
    assert wait_settled(fresh_roost.client(), "before-stop")["FunctionName"] == "before-stop"
