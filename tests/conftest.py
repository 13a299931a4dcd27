"""Shared fixtures: a running Roost (per session and per test) and packaging helpers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.async_invoke.support import Recorder
from tests.fixtures.roost_process import RoostProcess, make_zip

pytest_plugins = [
    "tests.fixtures.stores",
    "tests.fixtures.moto_server",
    "tests.fixtures.kafka_broker",
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_sentinel",
]

_names = itertools.count()


@pytest.fixture(scope="session")
def roost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostProcess]:
    """One Roost shared by the session; tests use unique function names."""
    process = RoostProcess(tmp_path_factory.mktemp("roost") / "data")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def fresh_roost(tmp_path: Path) -> Iterator[RoostProcess]:
    """A Roost of this test alone, free to be restarted or killed."""
    process = RoostProcess(tmp_path / "data")
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.stop()


@pytest.fixture
def lambda_client(roost: RoostProcess) -> Any:
    """boto3 Lambda client of the session Roost, built-in test account."""
    return roost.client()


@pytest.fixture
def function_name(request: pytest.FixtureRequest) -> str:
    """A function name unique in the session."""
    return f"{request.node.name[:40].replace('[', '-').replace(']', '')}-{next(_names)}"


@pytest.fixture
def zip_bytes() -> bytes:
    """A small valid Python deployment package."""
    return make_zip()


def create_args(name: str, code: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    """Arguments of a valid CreateFunction call."""
    return {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/lambda-role",
        "Handler": "app.handler",
        "Code": {"ZipFile": code if code is not None else make_zip()},
        **overrides,
    }


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A server on 127.0.0.1 where test functions report their invokes."""
    server = Recorder()
    yield server
    server.close()
