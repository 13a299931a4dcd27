"""The command lines users type: the AWS CLI against Roost, and ``roost`` itself."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.roost_process import REGION, RoostProcess, make_zip, roost_cli

VENV_BIN = Path(sys.executable).parent
ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def aws_executable() -> Path:
    path = VENV_BIN / "aws"
    if not path.exists():
        pytest.skip("the AWS CLI is not installed next to this Python")
    return path


def aws_environment(home: Path) -> dict[str, str]:
    """The built-in test key and nothing of the user's own AWS configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(home),
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        AWS_PAGER="",
        AWS_DEFAULT_OUTPUT="json",
    )
    return env


class AwsCli:
    """Runs ``aws lambda ...`` against one Roost."""

    def __init__(self, roost: RoostProcess, home: Path) -> None:
        self._roost = roost
        self._env = aws_environment(home)
        self._aws = aws_executable()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self._aws), "lambda", *args, "--endpoint-url", self._roost.endpoint],
            capture_output=True,
            text=True,
            env=self._env,
            timeout=60,
            check=False,
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture
def aws(roost: RoostProcess, tmp_path: Path) -> AwsCli:
    return AwsCli(roost, tmp_path)


def wait_settled(client: Any, name: str) -> None:
    """Poll (faster than the CLI's waiters) until the function is Active and updated."""
    deadline = time.monotonic() + 10
    while True:
        config = client.get_function_configuration(FunctionName=name)
        if config["State"] == "Active" and config["LastUpdateStatus"] == "Successful":
            return
        assert time.monotonic() < deadline, config
        time.sleep(0.02)


def test_aws_cli_manages_a_function(
    aws: AwsCli, lambda_client: Any, tmp_path: Path, function_name: str
) -> None:
    package = make_zip()
    zip_path = tmp_path / "function.zip"
    zip_path.write_bytes(package)

    created = aws.json(
        "create-function",
        "--function-name",
        function_name,
        "--runtime",
        "python3.12",
        "--role",
        ROLE,
        "--handler",
        "app.handler",
        "--zip-file",
        f"fileb://{zip_path}",
        "--environment",
        "Variables={STAGE=cli}",
        "--tags",
        "team=cli",
    )
    assert created["FunctionName"] == function_name
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert created["CodeSize"] == len(package)
    arn = created["FunctionArn"]
    assert arn == f"arn:aws:lambda:{REGION}:000000000000:function:{function_name}"

    wait_settled(lambda_client, function_name)
    got = aws.json("get-function", "--function-name", function_name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["Environment"] == {"Variables": {"STAGE": "cli"}}
    assert got["Tags"] == {"team": "cli"}
    assert got["Code"]["RepositoryType"] == "S3"

    listed = aws.json("list-functions")
    assert function_name in {f["FunctionName"] for f in listed["Functions"]}

    updated = aws.json(
        "update-function-configuration",
        "--function-name",
        function_name,
        "--timeout",
        "60",
        "--memory-size",
        "256",
        "--description",
        "via the AWS CLI",
    )
    assert (updated["Timeout"], updated["MemorySize"]) == (60, 256)
    wait_settled(lambda_client, function_name)

    version = aws.json(
        "publish-version", "--function-name", function_name, "--description", "first"
    )
    assert version["Version"] == "1"
    assert version["Description"] == "first"
    assert version["FunctionArn"] == f"{arn}:1"

    alias = aws.json(
        "create-alias",
        "--function-name",
        function_name,
        "--name",
        "live",
        "--function-version",
        "1",
    )
    assert alias["AliasArn"] == f"{arn}:live"
    assert alias["FunctionVersion"] == "1"

    assert aws.json("tag-resource", "--resource", arn, "--tags", "cost-center=42") is None
    tags = lambda_client.list_tags(Resource=arn)["Tags"]
    assert tags == {"team": "cli", "cost-center": "42"}

    # The model's DeleteFunction output carries the HTTP status, so the CLI prints it.
    assert aws.json("delete-function", "--function-name", function_name) == {"StatusCode": 204}
    with pytest.raises(ClientError) as gone:
        lambda_client.get_function(FunctionName=function_name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_aws_cli_reports_errors(aws: AwsCli, function_name: str) -> None:
    missing = aws.run("get-function", "--function-name", function_name)
    assert missing.returncode != 0
    assert "(ResourceNotFoundException)" in missing.stderr
    assert f"Function not found: arn:aws:lambda:{REGION}" in missing.stderr

    too_long = aws.run(
        "update-function-configuration", "--function-name", function_name, "--timeout", "901"
    )
    assert too_long.returncode != 0
    assert "(ValidationException)" in too_long.stderr
    assert "Member must have value less than or equal to 900" in too_long.stderr

    unsupported = aws.run("list-layers")
    assert unsupported.returncode != 0
    assert "(UnsupportedOperationException)" in unsupported.stderr
    assert "ListLayers" in unsupported.stderr


def test_aws_cli_with_a_wrong_secret(aws: AwsCli, roost: RoostProcess, tmp_path: Path) -> None:
    env = {**aws_environment(tmp_path), "AWS_SECRET_ACCESS_KEY": "wrong"}
    done = subprocess.run(
        [str(aws_executable()), "lambda", "list-functions", "--endpoint-url", roost.endpoint],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert "(InvalidSignatureException)" in done.stderr


def test_roost_help_names_commands_and_environment() -> None:
    done = roost_cli("--help")

    assert done.returncode == 0
    for word in ("up", "accounts", "ROOST_HOST", "ROOST_PORT", "ROOST_DATA_DIR", "ROOST_REGION"):
        assert word in done.stdout, word


def test_roost_up_help_names_flags_and_environment() -> None:
    done = roost_cli("up", "--help")

    assert done.returncode == 0
    for word in (
        "--host",
        "--port",
        "--data-dir",
        "ROOST_HOST",
        "ROOST_PORT",
        "ROOST_DATA_DIR",
        "ROOST_REGION",
        "127.0.0.1",
        "9009",
        "AWS_ACCESS_KEY_ID=test",
    ):
        assert word in done.stdout, word


def test_accounts_create_help() -> None:
    done = roost_cli("accounts", "create", "--help")

    assert done.returncode == 0
    assert "--json" in done.stdout
    assert "--data-dir" in done.stdout


def test_accounts_create_twice_fails_clearly(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    first = roost_cli("accounts", "create", "twice", "--json", "--data-dir", data_dir)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["Name"] == "twice"

    for name in ("twice", "TWICE"):
        again = roost_cli("accounts", "create", name, "--json", "--data-dir", data_dir)
        assert again.returncode != 0
        assert again.stdout == ""
        assert "already exists" in again.stderr
        assert name in again.stderr
        assert "Traceback" not in again.stderr


@pytest.mark.parametrize("name", ["has space", ".dot-first", "x" * 65, "slash/name"])
def test_accounts_create_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    done = roost_cli("accounts", "create", name, "--data-dir", str(tmp_path / "data"))

    assert done.returncode != 0
    assert "account name" in done.stderr
    assert "Traceback" not in done.stderr


def test_accounts_create_prints_the_secret_once_in_text_form(tmp_path: Path) -> None:
    done = roost_cli("accounts", "create", "texty", "--data-dir", str(tmp_path / "data"))

    assert done.returncode == 0, done.stderr
    assert "access key id:" in done.stdout
    assert "secret access key:" in done.stdout
    assert "shown only once" in done.stdout
