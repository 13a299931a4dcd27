"""Helpers shared by the control-plane tests: deploying a function, checking errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_args

ACCOUNT_ID = "000000000000"
REGION = "us-east-1"

# Roost completes a transition within milliseconds; poll for it at that pace.
FAST_POLL = {"Delay": 0.02, "MaxAttempts": 500}


def function_arn(name: str, qualifier: str | None = None) -> str:
    """The ARN Roost gives a function of the built-in test account."""
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def body(response: dict[str, Any]) -> dict[str, Any]:
    """A boto3 response without its ``ResponseMetadata``."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def deploy(client: Any, name: str, code: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    """Create a function and wait until it is Active; returns its configuration."""
    client.create_function(**create_args(name, code, **overrides))
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_POLL)
    return dict(client.get_function_configuration(FunctionName=name))


def settle(client: Any, name: str) -> dict[str, Any]:
    """Wait until the last update of a function is complete; returns its configuration."""
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_POLL)
    return dict(client.get_function_configuration(FunctionName=name))


def update_configuration(client: Any, name: str, **settings: Any) -> dict[str, Any]:
    """UpdateFunctionConfiguration, then wait until it is applied."""
    client.update_function_configuration(FunctionName=name, **settings)
    return settle(client, name)


def update_code(client: Any, name: str, code: bytes, **options: Any) -> dict[str, Any]:
    """UpdateFunctionCode, then wait until it is applied; returns the call's answer."""
    answer = dict(client.update_function_code(FunctionName=name, ZipFile=code, **options))
    settle(client, name)
    return answer


@contextmanager
def raises_aws(code: str, status: int) -> Iterator[pytest.ExceptionInfo[ClientError]]:
    """Expect a ``ClientError`` with this AWS error code and HTTP status."""
    with pytest.raises(ClientError) as caught:
        yield caught
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        code,
        status,
    ), error
    assert error["Error"]["Message"], "AWS errors carry a message"


def unchanged(read: Callable[[], dict[str, Any]]) -> Callable[[], None]:
    """Snapshot ``read()`` now; the returned check asserts it reads the same later."""
    before = body(read())

    def check() -> None:
        assert body(read()) == before

    return check
