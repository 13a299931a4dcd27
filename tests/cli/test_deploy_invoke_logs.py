"""``roost deploy``, ``invoke``, ``logs`` and ``doctor`` through the real command line.

Each command runs as ``python -m roost ...`` against the session Roost, with
``--endpoint-url`` and the built-in test key in a clean environment.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from roost.cli.client import Target, signed_get
from roost.cli.deploy import build_zip
from roost.cli.logs import fetch_logs
from tests.fixtures.roost_process import REGION, RoostProcess, free_port, roost_cli

HANDLER = """\
import os

def handler(event, context):
    print("{marker}", event.get("n"), os.environ.get("STAGE"))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {{"version": "{marker}", "event": event, "stage": os.environ.get("STAGE")}}
"""
AUTH_HINT = "AWS_SECRET_ACCESS_KEY"


def cli_environment(key: tuple[str, str] = ("test", "test")) -> dict[str, str]:
    """This process's environment without any AWS or Roost client setting, plus ``key``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k != "ROOST_ENDPOINT_URL"
    }
    env.update(
        AWS_ACCESS_KEY_ID=key[0],
        AWS_SECRET_ACCESS_KEY=key[1],
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONUNBUFFERED="1",
    )
    return env


def command(roost: RoostProcess, *args: str) -> list[str]:
    """``python -m roost ARGS --endpoint-url ...``."""
    return [sys.executable, "-m", "roost", *args, "--endpoint-url", roost.endpoint]


def run(
    roost: RoostProcess,
    *args: str,
    key: tuple[str, str] = ("test", "test"),
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client command to completion and capture its output."""
    return subprocess.run(
        command(roost, *args),
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_environment(key),
        timeout=90,
        check=False,
    )


def write_function(directory: Path, marker: str) -> Path:
    """A function folder whose handler prints and returns ``marker``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(HANDLER.format(marker=marker))
    return directory


def deploy(roost: RoostProcess, directory: Path, name: str, *flags: str) -> dict[str, str]:
    """``roost deploy``, which must succeed; what it printed, as a mapping."""
    done = run(roost, "deploy", str(directory), "--name", name, "--handler", "app.handler", *flags)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    printed = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert set(printed) == {"FunctionArn", "CodeSha256"}, done.stdout
    return printed


def code_sha256(package: bytes) -> str:
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


def zip_names(lambda_client: Any, name: str) -> dict[str, int]:
    """The deployed package's entries and their Unix modes, fetched from Roost."""
    location = lambda_client.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=10) as reply:
        package = reply.read()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {info.filename: info.external_attr >> 16 & 0o777 for info in archive.infolist()}


@pytest.fixture
def deployed(roost: RoostProcess, tmp_path: Path, function_name: str) -> Iterator[str]:
    """A function deployed with the CLI; its name."""
    deploy(roost, write_function(tmp_path / "fn", "first"), function_name)
    yield function_name


def test_deploy_creates_then_updates_and_invoke_runs_each_version(
    roost: RoostProcess, lambda_client: Any, tmp_path: Path, function_name: str
) -> None:
    folder = write_function(tmp_path / "fn", "first")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"stale")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "bin").mkdir()
    (folder / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (folder / "bin" / "tool").chmod(0o755)

    created = deploy(roost, folder, function_name, "--env", "STAGE=one", "--timeout", "7")

    arn = f"arn:aws:lambda:{REGION}:000000000000:function:{function_name}"
    assert created == {"FunctionArn": arn, "CodeSha256": code_sha256(build_zip(folder))}
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert (config["Runtime"], config["Handler"], config["Timeout"]) == (
        "python3.12",
        "app.handler",
        7,
    )
    assert config["Role"] == "arn:aws:iam::000000000000:role/roost"
    assert zip_names(lambda_client, function_name) == {"app.py": 0o644, "bin/tool": 0o755}

    first = run(roost, "invoke", function_name, '{"n": 1}')
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"version": "first", "event": {"n": 1}, "stage": "one"}

    write_function(folder, "second")
    updated = deploy(roost, folder, function_name, "--env", "STAGE=two", "--memory", "256")

    assert updated["FunctionArn"] == arn
    assert updated["CodeSha256"] == code_sha256(build_zip(folder)) != created["CodeSha256"]
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert (config["MemorySize"], config["Timeout"]) == (256, 7)
    assert config["Environment"] == {"Variables": {"STAGE": "two"}}

    second = run(roost, "invoke", function_name, '{"n": 2}', "--log")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"version": "second", "event": {"n": 2}, "stage": "two"}
    for word in ("START RequestId:", "second 2 two", "END RequestId:", "REPORT RequestId:"):
        assert word in second.stderr, second.stderr


def test_deploy_twice_with_the_same_code_keeps_the_hash(
    roost: RoostProcess, tmp_path: Path, deployed: str
) -> None:
    again = deploy(roost, tmp_path / "fn", deployed)

    assert again["CodeSha256"] == code_sha256(build_zip(tmp_path / "fn"))


def test_deploy_refuses_a_missing_folder_and_a_bad_env(
    roost: RoostProcess, tmp_path: Path, function_name: str
) -> None:
    flags = ("--name", function_name, "--handler", "a.b")
    missing = run(roost, "deploy", str(tmp_path / "nope"), *flags)
    assert missing.returncode == 1
    assert "is not a directory" in missing.stderr

    folder = write_function(tmp_path / "fn", "x")
    bad = run(roost, "deploy", str(folder), *flags, "--env", "X")
    assert bad.returncode == 1
    assert "KEY=VALUE" in bad.stderr
    assert "Traceback" not in missing.stderr + bad.stderr


def test_invoke_with_a_function_error_exits_1(roost: RoostProcess, deployed: str) -> None:
    done = run(roost, "invoke", deployed, '{"fail": true}')

    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["errorType"] == "ValueError"
    assert result["errorMessage"] == "asked to fail"
    assert "Unhandled" in done.stderr


def test_invoke_reads_the_payload_from_stdin(roost: RoostProcess, deployed: str) -> None:
    done = run(roost, "invoke", deployed, "-", stdin='{"n": "piped"}')

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["event"] == {"n": "piped"}


def test_invoke_with_a_qualifier(
    roost: RoostProcess, lambda_client: Any, tmp_path: Path, deployed: str
) -> None:
    lambda_client.publish_version(FunctionName=deployed)
    deploy(roost, write_function(tmp_path / "fn", "unpublished"), deployed)

    published = run(roost, "invoke", deployed, "{}", "--qualifier", "1")
    latest = run(roost, "invoke", deployed, "{}")

    assert json.loads(published.stdout)["version"] == "first"
    assert json.loads(latest.stdout)["version"] == "unpublished"


def test_logs_show_each_invocation(roost: RoostProcess, deployed: str) -> None:
    for n in (1, 2):
        assert run(roost, "invoke", deployed, json.dumps({"n": n})).returncode == 0

    done = run(roost, "logs", deployed)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.startswith(("START", "END", "REPORT"))] == [
        "START",
        "END",
        "REPORT",
    ] * 2
    assert done.stdout.index("first 1 None") < done.stdout.index("first 2 None")
    assert "Init Duration" in done.stdout


def test_logs_since_returns_only_what_came_after(
    roost: RoostProcess, lambda_client: Any, deployed: str
) -> None:
    target = Target(roost.endpoint, REGION, "test", "test")
    lambda_client.invoke(FunctionName=deployed, Payload=b'{"n": "old"}')
    before = fetch_logs(target, deployed, 0)
    lambda_client.invoke(FunctionName=deployed, Payload=b'{"n": "new"}')

    after = fetch_logs(target, deployed, before.until_ms)

    assert b"first old" in before.text and b"first new" not in before.text
    assert b"first new" in after.text and b"first old" not in after.text
    assert fetch_logs(target, deployed, after.until_ms).text == b""
    recent = run(roost, "logs", deployed, "--since", "3600")
    assert "first old" in recent.stdout and "first new" in recent.stdout


def read_until(process: subprocess.Popen[bytes], marker: bytes, timeout_s: float) -> bytes:
    """What ``process`` printed up to and including ``marker`` (fails after the timeout)."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in {seen!r}"
            if selector.select(left):
                chunk = os.read(process.stdout.fileno(), 65536)
                assert chunk, f"exited without {marker!r}: {seen!r}"
                seen += chunk
    return seen


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_logs_follow_prints_new_invocations(
    roost: RoostProcess, lambda_client: Any, deployed: str
) -> None:
    lambda_client.invoke(FunctionName=deployed, Payload=b'{"n": "before"}')
    follower = subprocess.Popen(
        command(roost, "logs", deployed, "--follow"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_environment(),
        # A suite started in the background (``cmd &``) has SIGINT ignored, and
        # children inherit that; a user's terminal delivers Ctrl-C.
        preexec_fn=_default_sigint,
    )
    try:
        printed = read_until(follower, b"first before", timeout_s=30)
        lambda_client.invoke(FunctionName=deployed, Payload=b'{"n": "during"}')
        printed += read_until(follower, b"first during", timeout_s=30)
        follower.send_signal(signal.SIGINT)
        _, errors = follower.communicate(timeout=30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()

    assert follower.returncode == 0, errors
    assert b"Traceback" not in errors
    assert printed.count(b"first before") == 1
    assert printed.count(b"first during") == 1


def test_wrong_credentials_fail_with_a_clear_message(
    roost: RoostProcess, tmp_path: Path, deployed: str
) -> None:
    folder = write_function(tmp_path / "other", "x")
    for args in (
        ("invoke", deployed),
        ("logs", deployed),
        ("deploy", str(folder), "--name", deployed, "--handler", "app.handler"),
    ):
        done = run(roost, *args, key=("test", "wrong-secret"))

        assert done.returncode == 1, args
        assert done.stdout == ""
        assert "InvalidSignatureException" in done.stderr
        assert AUTH_HINT in done.stderr
        assert "Traceback" not in done.stderr

    unknown = run(roost, "logs", deployed, key=("AKIDNOBODYHAS0000000", "secret"))
    assert unknown.returncode == 1
    assert "UnrecognizedClientException" in unknown.stderr
    assert AUTH_HINT in unknown.stderr


def test_unreachable_endpoint_fails_with_a_clear_message(function_name: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "roost", "invoke", function_name, "--endpoint-url", nowhere],
        capture_output=True,
        text=True,
        env=cli_environment(),
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert "Could not connect" in done.stderr
    assert "Is Roost running" in done.stderr
    assert "Traceback" not in done.stderr


def test_logs_of_a_missing_function(roost: RoostProcess, function_name: str) -> None:
    done = run(roost, "logs", function_name)

    assert done.returncode == 1
    assert "ResourceNotFoundException" in done.stderr


def test_logs_are_scoped_to_the_callers_account(
    roost: RoostProcess, tmp_path: Path, deployed: str
) -> None:
    assert run(roost, "invoke", deployed, '{"n": "mine"}').returncode == 0
    account = _create_account(roost)
    other_key = (account["AccessKeyId"], account["SecretAccessKey"])
    deploy_other = run(
        roost,
        "deploy",
        str(write_function(tmp_path / "theirs", "theirs")),
        "--name",
        deployed,
        "--handler",
        "app.handler",
        key=other_key,
    )
    assert deploy_other.returncode == 0, deploy_other.stderr

    theirs = run(roost, "logs", deployed, key=other_key)
    assert (theirs.returncode, theirs.stdout) == (0, "")  # nothing logged there yet
    assert run(roost, "invoke", deployed, '{"n": 9}', key=other_key).returncode == 0
    theirs = run(roost, "logs", deployed, key=other_key)
    mine = run(roost, "logs", deployed)

    assert "theirs 9" in theirs.stdout and "first mine" not in theirs.stdout
    assert "first mine" in mine.stdout and "theirs 9" not in mine.stdout
    by_arn = run(roost, "logs", f"arn:aws:lambda:{REGION}:000000000000:function:{deployed}")
    assert by_arn.stdout == mine.stdout
    cross = run(
        roost, "logs", f"arn:aws:lambda:{REGION}:000000000000:function:{deployed}", key=other_key
    )
    assert cross.returncode == 1
    assert "AccessDeniedException" in cross.stderr


def _create_account(roost: RoostProcess) -> dict[str, str]:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    done = roost_cli("accounts", "create", name, "--json", "--data-dir", str(roost.data_dir))
    assert done.returncode == 0, done.stderr
    account: dict[str, str] = json.loads(done.stdout)
    return account


def test_logs_endpoint_requires_a_signature(roost: RoostProcess, deployed: str) -> None:
    unsigned = httpx.get(f"{roost.endpoint}/_roost/logs/{deployed}", timeout=10)

    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_logs_endpoint_refuses_a_bad_since(roost: RoostProcess, deployed: str) -> None:
    target = Target(roost.endpoint, REGION, "test", "test")

    reply = signed_get(target, f"/_roost/logs/{deployed}", {"since": "yesterday"})

    assert reply.status == 400
    assert reply.headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert b"yesterday" in reply.body


def test_doctor_prints_the_isolation() -> None:
    done = roost_cli("doctor")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("isolation: ")
    for word in ("bubblewrap:", "cgroups:", "sandbox python:"):
        assert word in done.stdout, done.stdout


def test_client_commands_document_their_flags() -> None:
    for name in ("deploy", "invoke", "logs"):
        done = roost_cli(name, "--help")

        assert done.returncode == 0
        for word in ("--endpoint-url", "ROOST_ENDPOINT_URL", "--region", "AWS_ACCESS_KEY_ID"):
            assert word in done.stdout, (name, word)
