"""PutFunctionConcurrency, GetFunctionConcurrency and DeleteFunctionConcurrency."""

from __future__ import annotations

from typing import Any

import pytest

from roost.api.errors import InvalidParameterValueException
from roost.functions.repository import reservations_key
from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import (
    ACCOUNT_ID,
    InProcessPlane,
    body,
    deploy,
    raises_aws,
    run_in_process,
)


def test_put_then_get_reserved_concurrency(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    put = lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=7
    )

    assert_matches_output_shape("PutFunctionConcurrency", put)
    assert body(put) == {"ReservedConcurrentExecutions": 7}
    got = lambda_client.get_function_concurrency(FunctionName=function_name)
    assert_matches_output_shape("GetFunctionConcurrency", got)
    assert body(got) == {"ReservedConcurrentExecutions": 7}
    configured = lambda_client.get_function(FunctionName=function_name)
    assert configured["Concurrency"] == {"ReservedConcurrentExecutions": 7}


def test_put_replaces_the_reservation(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=7
    )

    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=2
    )

    got = lambda_client.get_function_concurrency(FunctionName=function_name)
    assert got["ReservedConcurrentExecutions"] == 2


def test_zero_reserved_concurrency_is_kept(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=0
    )

    got = lambda_client.get_function_concurrency(FunctionName=function_name)
    assert got["ReservedConcurrentExecutions"] == 0
    configured = lambda_client.get_function(FunctionName=function_name)
    assert configured["Concurrency"] == {"ReservedConcurrentExecutions": 0}


def test_without_a_reservation_get_answers_nothing(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    got = lambda_client.get_function_concurrency(FunctionName=function_name)

    assert_matches_output_shape("GetFunctionConcurrency", got)
    assert body(got) == {}
    assert "Concurrency" not in lambda_client.get_function(FunctionName=function_name)


def test_delete_removes_the_reservation(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=4
    )

    answer = lambda_client.delete_function_concurrency(FunctionName=function_name)

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body(lambda_client.get_function_concurrency(FunctionName=function_name)) == {}
    assert "Concurrency" not in lambda_client.get_function(FunctionName=function_name)


def test_reservation_of_a_missing_function_is_not_found(
    lambda_client: Any, function_name: str
) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.put_function_concurrency(
            FunctionName=function_name, ReservedConcurrentExecutions=1
        )
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_concurrency(FunctionName=function_name)
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.delete_function_concurrency(FunctionName=function_name)


def test_a_negative_reservation_fails_validation(roost: RoostProcess, function_name: str) -> None:
    unchecked = roost.client(parameter_validation=False)
    unchecked.create_function(**create_args(function_name))

    with raises_aws("ValidationException", 400):
        unchecked.put_function_concurrency(
            FunctionName=function_name, ReservedConcurrentExecutions=-1
        )

    assert body(unchecked.get_function_concurrency(FunctionName=function_name)) == {}


def test_reservations_keep_the_unreserved_minimum(fresh_roost: RoostProcess) -> None:
    # Given an account limit of 1000 of which 100 must stay unreserved
    client = fresh_roost.client()
    for name in ("first", "second"):
        client.create_function(**create_args(name))

    # When one function reserves 901, or two reserve 500 + 401
    with raises_aws("InvalidParameterValueException", 400):
        client.put_function_concurrency(FunctionName="first", ReservedConcurrentExecutions=901)
    assert body(client.get_function_concurrency(FunctionName="first")) == {}

    client.put_function_concurrency(FunctionName="first", ReservedConcurrentExecutions=500)
    with raises_aws("InvalidParameterValueException", 400):
        client.put_function_concurrency(FunctionName="second", ReservedConcurrentExecutions=401)

    # Then exactly 900 can be reserved, and a function may change its own reservation
    client.put_function_concurrency(FunctionName="second", ReservedConcurrentExecutions=400)
    client.put_function_concurrency(FunctionName="first", ReservedConcurrentExecutions=500)
    with raises_aws("InvalidParameterValueException", 400):
        client.put_function_concurrency(FunctionName="first", ReservedConcurrentExecutions=501)
    assert (
        client.get_function_concurrency(FunctionName="first")["ReservedConcurrentExecutions"] == 500
    )
    limit = client.get_account_settings()["AccountLimit"]
    assert limit["UnreservedConcurrentExecutions"] == 100


def test_concurrent_reservations_cannot_both_pass_the_unreserved_minimum() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        for name in ("first", "second"):
            await plane.deploy(name)
        # The second reservation lands after the first checked what others reserve.
        plane.store.before_commit(
            "fn/",
            plane.step(
                "PutFunctionConcurrency", FunctionName="second", ReservedConcurrentExecutions=401
            ),
        )

        with pytest.raises(InvalidParameterValueException):
            await plane.call(
                "PutFunctionConcurrency", FunctionName="first", ReservedConcurrentExecutions=500
            )

        assert await plane.call("GetFunctionConcurrency", FunctionName="first") == {}
        settings = await plane.call("GetAccountSettings")
        assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 599

    run_in_process(scenario)


def test_reservations_are_kept_in_one_account_document() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        for name in ("first", "second", "third"):
            await plane.deploy(name)
        for name, reserved in (("first", 10), ("second", 20), ("third", 30)):
            await plane.call(
                "PutFunctionConcurrency", FunctionName=name, ReservedConcurrentExecutions=reserved
            )

        await plane.call("DeleteFunctionConcurrency", FunctionName="second")
        await plane.call("DeleteFunction", FunctionName="third")

        item = await plane.store.get(reservations_key(ACCOUNT_ID))
        assert item is not None and item.value == {"functions": {"first": 10}}
        got = await plane.call("GetFunction", FunctionName="first")
        assert got["Concurrency"] == {"ReservedConcurrentExecutions": 10}
        settings = await plane.call("GetAccountSettings")
        assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 990

    run_in_process(scenario)


def test_deleting_a_function_racing_another_reservation_keeps_both_right() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        for name in ("first", "second"):
            await plane.deploy(name)
        await plane.call(
            "PutFunctionConcurrency", FunctionName="first", ReservedConcurrentExecutions=5
        )
        plane.store.before_commit(
            "fn/",
            plane.step(
                "PutFunctionConcurrency", FunctionName="second", ReservedConcurrentExecutions=7
            ),
        )

        await plane.call("DeleteFunction", FunctionName="first")

        item = await plane.store.get(reservations_key(ACCOUNT_ID))
        assert item is not None and item.value == {"functions": {"second": 7}}

    run_in_process(scenario)
