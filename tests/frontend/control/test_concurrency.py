"""PutFunctionConcurrency, GetFunctionConcurrency and DeleteFunctionConcurrency."""

from __future__ import annotations

from typing import Any

from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import body, deploy, raises_aws


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
