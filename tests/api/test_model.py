"""Tests for the operation table: every operation botocore can send is routed back to it.

Each request is built by botocore itself (its ``rest-json`` serializer, then the
same URL preparation a client does before sending), so the raw path carries the
percent-encoding a real SDK puts on URI labels (``:`` as ``%3A``, ``/`` as ``%2F``).
"""

from __future__ import annotations

from typing import Any

import pytest

from roost.api.model import (
    INVOKE_OPERATIONS,
    Operation,
    OperationTable,
    Plane,
    _compile,
    dispatch_plane,
    operation_table,
    service_model,
)
from tests.api import LABEL_VALUES, botocore_request, minimal_params

# FunctionName forms every function operation accepts on the wire.
FUNCTION_NAME_FORMS = [
    "my-fn",
    "my-fn:prod",
    "my-fn:$LATEST",
    "my-fn:7",
    "123456789012:function:my-fn",
    "123456789012:function:my-fn:prod",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn:$LATEST",
    "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my-fn:12",
]


def uri_labels(operation: str, params: dict[str, Any]) -> dict[str, str]:
    """The URI label values (by wire name) a request for ``params`` carries."""
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        return {}
    return {
        member.serialization.get("name", name): str(params[name])
        for name, member in shape.members.items()
        if member.serialization.get("location") == "uri"
    }


def assert_routes_back(operation: str, params: dict[str, Any]) -> None:
    sent = botocore_request(operation, params)

    found = operation_table().match(sent.method, sent.raw_path, sent.query)

    assert found is not None, f"{operation}: no route for {sent.method} {sent.raw_path}"
    assert found.operation.name == operation, (sent.method, sent.raw_path, sent.query)
    assert found.labels == uri_labels(operation, params)


ALL_OPERATIONS = list(service_model().operation_names)
FUNCTION_OPERATIONS = [
    name
    for name in ALL_OPERATIONS
    if (shape := service_model().operation_model(name).input_shape) is not None
    and shape.members.get("FunctionName") is not None
    and shape.members["FunctionName"].serialization.get("location") == "uri"
]


# --- routing every operation ---------------------------------------------------------


def test_table_holds_every_operation_of_the_model() -> None:
    assert sorted(operation_table().by_name) == sorted(ALL_OPERATIONS)


@pytest.mark.parametrize("operation", ALL_OPERATIONS)
def test_botocore_request_routes_back_to_its_operation(operation: str) -> None:
    assert_routes_back(operation, minimal_params(operation))


@pytest.mark.parametrize("operation", FUNCTION_OPERATIONS)
def test_every_function_name_form_routes_with_its_label_decoded(operation: str) -> None:
    for form in FUNCTION_NAME_FORMS:
        assert_routes_back(operation, minimal_params(operation, FunctionName=form))


def test_arn_label_is_percent_encoded_on_the_wire_and_decoded_in_the_match() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod"
    sent = botocore_request("GetFunction", {"FunctionName": arn})
    assert sent.raw_path == (
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012"
        "%3Afunction%3Amy-fn%3Aprod"
    )

    found = operation_table().match(sent.method, sent.raw_path, sent.query)

    assert found is not None
    assert found.labels == {"FunctionName": arn}


def test_encoded_slash_stays_inside_one_label() -> None:
    arn = LABEL_VALUES["DurableExecutionArn"]
    sent = botocore_request("GetDurableExecutionHistory", {"DurableExecutionArn": arn})
    assert "%2F" in sent.raw_path

    found = operation_table().match(sent.method, sent.raw_path, sent.query)

    assert found is not None
    assert found.operation.name == "GetDurableExecutionHistory"
    assert found.labels == {"DurableExecutionArn": arn}


def test_query_members_do_not_disturb_routing() -> None:
    params = minimal_params("ListFunctions", MaxItems=5, Marker="abc", FunctionVersion="ALL")
    assert_routes_back("ListFunctions", params)
    assert_routes_back("GetFunction", {"FunctionName": "my-fn", "Qualifier": "prod"})


def test_trailing_slash_is_tolerated() -> None:
    found = operation_table().match("GET", "/2015-03-31/functions/my-fn/", {})
    assert found is not None
    assert found.operation.name == "GetFunction"


def test_unknown_path_or_method_matches_nothing() -> None:
    table = operation_table()
    assert table.match("GET", "/2015-03-31/nothing-here", {}) is None
    assert table.match("PATCH", "/2015-03-31/functions/my-fn", {}) is None
    assert table.match("GET", "/2015-03-31/functions/my-fn/configuration/extra", {}) is None


# --- routes told apart only by query literals ---------------------------------------


def test_provisioned_concurrency_list_needs_the_list_all_literal() -> None:
    assert_routes_back("ListProvisionedConcurrencyConfigs", {"FunctionName": "my-fn"})
    assert_routes_back(
        "GetProvisionedConcurrencyConfig", {"FunctionName": "my-fn", "Qualifier": "live"}
    )

    table = operation_table()
    path = "/2019-09-30/functions/my-fn/provisioned-concurrency"
    listed = table.match("GET", path, {"List": ["ALL"]})
    got = table.match("GET", path, {"Qualifier": ["live"]})

    assert listed is not None and listed.operation.name == "ListProvisionedConcurrencyConfigs"
    assert got is not None and got.operation.name == "GetProvisionedConcurrencyConfig"


def test_layer_version_by_arn_needs_the_find_literal() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3"
    assert_routes_back("GetLayerVersionByArn", {"Arn": arn})
    assert_routes_back("ListLayers", {})
    assert_routes_back("ListLayers", {"CompatibleRuntime": "python3.12", "MaxItems": 2})

    table = operation_table()
    by_arn = table.match("GET", "/2018-10-31/layers", {"find": ["LayerVersion"], "Arn": [arn]})
    listed = table.match("GET", "/2018-10-31/layers", {})

    assert by_arn is not None and by_arn.operation.name == "GetLayerVersionByArn"
    assert listed is not None and listed.operation.name == "ListLayers"


def test_query_literals_of_the_model_are_compiled() -> None:
    table = operation_table()
    assert table.by_name["GetLayerVersionByArn"].required_query == (("find", "LayerVersion"),)
    assert table.by_name["ListProvisionedConcurrencyConfigs"].required_query == (("List", "ALL"),)
    assert table.by_name["ListLayers"].required_query == ()


# --- greedy labels --------------------------------------------------------------------


def test_the_lambda_model_has_no_greedy_label() -> None:
    # Routing leans on labels never spanning '/'; a greedy label would change that.
    for name in ALL_OPERATIONS:
        assert "+}" not in service_model().operation_model(name).http["requestUri"], name


class _FakeOperationModel:
    def __init__(self, method: str, uri: str) -> None:
        self.http = {"method": method, "requestUri": uri}


def test_a_greedy_label_spans_slashes() -> None:
    operation = _compile("GetObject", _FakeOperationModel("GET", "/buckets/{Bucket}/{Key+}"))

    found = operation.path_pattern.match("/buckets/b1/a/b%2Fc/d.txt")

    assert found is not None
    assert found.groupdict() == {"Bucket": "b1", "Key": "a/b%2Fc/d.txt"}
    assert operation.path_pattern.match("/buckets/b1/") is None


# --- operation properties --------------------------------------------------------------


@pytest.mark.parametrize("operation", ALL_OPERATIONS)
def test_plane_is_invoke_exactly_for_the_invoke_operations(operation: str) -> None:
    expected = (
        Plane.INVOKE
        if operation in {"Invoke", "InvokeAsync", "InvokeWithResponseStream"}
        else Plane.CONTROL
    )
    assert operation_table().by_name[operation].plane is expected


def test_invoke_operations_are_the_three_invokes() -> None:
    assert {"Invoke", "InvokeAsync", "InvokeWithResponseStream"} == INVOKE_OPERATIONS
    invoke_plane = {n for n, o in operation_table().by_name.items() if o.plane is Plane.INVOKE}
    assert invoke_plane == INVOKE_OPERATIONS


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        ("CreateFunction", 201),
        ("GetFunction", 200),
        ("DeleteAlias", 204),
        ("InvokeAsync", 202),
        ("CreateEventSourceMapping", 202),
    ],
)
def test_success_status_comes_from_the_model(operation: str, status: int) -> None:
    found: Operation = operation_table().by_name[operation]
    assert found.success_status == status


def test_operation_table_is_built_once() -> None:
    assert operation_table() is operation_table()


@pytest.mark.parametrize(
    ("operation", "invocation_type", "plane"),
    [
        ("Invoke", "Event", Plane.ASYNC),
        ("InvokeAsync", None, Plane.ASYNC),
        ("Invoke", None, Plane.INVOKE),
        ("Invoke", "DryRun", Plane.INVOKE),
        ("GetFunction", None, Plane.CONTROL),
    ],
)
def test_async_invokes_are_dispatched_to_their_own_plane(
    operation: str, invocation_type: str | None, plane: Plane
) -> None:
    assert dispatch_plane(operation, invocation_type) is plane


def test_a_repeated_route_is_remembered_and_a_miss_is_not() -> None:
    table = OperationTable()
    path = "/2015-03-31/functions/my-fn/invocations"
    first = table.match("POST", path, {})
    assert first is not None and first.operation.name == "Invoke"
    assert table.match("POST", path, {}) is first
    assert first.labels == {"FunctionName": "my-fn"}
    assert table.match("POST", "/nowhere", {}) is None
    assert len(table._recent) == 1  # junk paths take no room
