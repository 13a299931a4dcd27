"""The smallest end-to-end check: Roost starts, answers health and boto3."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess


def test_health_answers_json(roost: RoostProcess) -> None:
    with urllib.request.urlopen(f"{roost.endpoint}/_roost/health") as reply:
        assert reply.status == 200
        assert json.load(reply)["status"] == "ok"


def test_create_then_get(lambda_client: Any, function_name: str) -> None:
    lambda_client.create_function(**create_args(function_name))
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=function_name)
    got = lambda_client.get_function(FunctionName=function_name)
    assert got["Configuration"]["State"] == "Active"


def test_code_location_downloads_the_package(
    lambda_client: Any, function_name: str, zip_bytes: bytes
) -> None:
    lambda_client.create_function(**create_args(function_name, zip_bytes))
    location = lambda_client.get_function(FunctionName=function_name)["Code"]["Location"]
    with urllib.request.urlopen(location) as reply:
        assert reply.read() == zip_bytes
    tampered = location.replace("signature=", "signature=0")
    try:
        urllib.request.urlopen(tampered)
    except urllib.error.HTTPError as error:
        assert error.code == 403
    else:
        raise AssertionError("a tampered link must be refused")
