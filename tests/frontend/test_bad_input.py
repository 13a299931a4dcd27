"""Bad input at the front door: every refusal has AWS's code, status and shape, and
changes nothing that is stored.

Each case asserts the error code and HTTP status, then re-reads what the call would
have changed: the function was not created, its configuration is as before, or the
function list is the same.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import os
import re
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from roost.frontend.app import CONTROL_MAX_BODY_BYTES
from roost.functions.package import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES
from tests.conftest import create_args
from tests.fixtures.roost_process import BUILTIN_KEY, REGION, RoostProcess, make_zip

FUNCTIONS_PATH = "/2015-03-31/functions"
# Statuses botocore retries in its legacy and standard modes.
RETRYABLE_STATUSES = {500, 502, 503, 504, 509}


# --- helpers ---------------------------------------------------------------------------


def call_error(call: Callable[..., Any], **kwargs: Any) -> ClientError:
    """The ClientError a call raises (failing the test if it succeeds)."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value


def assert_error(error: ClientError, code: str, status: int, message: str | None = None) -> None:
    """The error has AWS's code and status (and, if given, contains ``message``)."""
    assert error.response["Error"]["Code"] == code, error.response
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status, error.response
    if message is not None:
        assert message in error.response["Error"]["Message"], error.response


def function_names(client: Any) -> set[str]:
    """Every function name the caller's account has."""
    names: set[str] = set()
    for page in client.get_paginator("list_functions").paginate():
        names.update(f["FunctionName"] for f in page["Functions"])
    return names


def assert_not_created(client: Any, name: str, before: set[str]) -> None:
    """GetFunction does not find ``name`` and the function list is unchanged."""
    assert_error(
        call_error(client.get_function, FunctionName=name), "ResourceNotFoundException", 404
    )
    assert function_names(client) == before


def configuration(client: Any, name: str) -> dict[str, Any]:
    """GetFunctionConfiguration without the per-response metadata."""
    config = client.get_function_configuration(FunctionName=name)
    config.pop("ResponseMetadata")
    return dict(config)


@dataclass(frozen=True)
class RawReply:
    """An HTTP reply read without botocore's parsing."""

    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    roost: RoostProcess,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    credentials: tuple[str, str] | None = BUILTIN_KEY,
    headers: dict[str, str] | None = None,
) -> RawReply:
    """Send ``body`` as is, SigV4-signed with ``credentials`` (unsigned with None)."""
    request = AWSRequest(
        method=method,
        url=roost.endpoint + path,
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    if credentials is not None:
        SigV4Auth(Credentials(*credentials), "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    with httpx.Client(timeout=30) as http:
        reply = http.request(method, prepared.url, content=body, headers=dict(prepared.headers))
    return RawReply(reply.status_code, reply.headers, reply.content)


def assert_aws_error_shape(reply: RawReply, code: str, status: int) -> dict[str, Any]:
    """``x-amzn-ErrorType`` names the code; the JSON body has ``Type`` and a message."""
    assert reply.status == status, reply
    assert reply.headers["x-amzn-ErrorType"] == code
    assert reply.headers.get("x-amzn-RequestId")
    assert reply.headers["content-type"].startswith("application/json")
    document = reply.json()
    assert document["Type"] == ("User" if status < 500 else "Server")
    message = document.get("message", document.get("Message"))
    assert isinstance(message, str) and message
    return dict(document)


def zip_of(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression, compresslevel=1) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


HANDLER_PY = b"def handler(event, context):\n    return event\n"


_names = itertools.count()


@pytest.fixture
def function_name(request: pytest.FixtureRequest) -> str:
    """A valid function name unique in the session, whatever the test's parameters."""
    test = re.sub(r"[^a-zA-Z0-9_-]", "-", request.node.originalname)[:40]
    return f"{test}-bad-{next(_names)}"


@pytest.fixture(scope="module")
def lax_client(roost: RoostProcess) -> Iterator[Any]:
    """A client that sends what it is given, so that the server does the validating."""
    client = roost.client(parameter_validation=False)
    yield client
    client.close()


@pytest.fixture
def existing(lambda_client: Any, function_name: str) -> dict[str, Any]:
    """An Active function, and its configuration before the bad call."""
    lambda_client.create_function(
        **create_args(
            function_name,
            Description="before",
            Timeout=30,
            MemorySize=256,
            Environment={"Variables": {"KEEP": "me"}},
        )
    )
    deadline = time.monotonic() + 10
    config = configuration(lambda_client, function_name)
    while config["State"] != "Active" or config["LastUpdateStatus"] != "Successful":
        assert time.monotonic() < deadline, config
        time.sleep(0.02)
        config = configuration(lambda_client, function_name)
    return config


# --- deployment packages -----------------------------------------------------------------


def test_bytes_that_are_not_a_zip(lambda_client: Any, function_name: str) -> None:
    before = function_names(lambda_client)

    error = call_error(
        lambda_client.create_function, **create_args(function_name, b"this is not a zip")
    )

    assert_error(error, "InvalidParameterValueException", 400, "Could not unzip uploaded file.")
    assert_not_created(lambda_client, function_name, before)


def test_zip_over_50_mb(lambda_client: Any, function_name: str) -> None:
    # Random bytes stored uncompressed: the archive is as large as its content.
    package = zip_of(
        {"app.py": HANDLER_PY, "blob.bin": os.urandom(MAX_ZIPPED_BYTES)}, zipfile.ZIP_STORED
    )
    assert len(package) > MAX_ZIPPED_BYTES
    before = function_names(lambda_client)

    error = call_error(lambda_client.create_function, **create_args(function_name, package))

    assert_error(error, "RequestEntityTooLargeException", 413)
    assert_not_created(lambda_client, function_name, before)


def test_zip_that_unzips_over_250_mb(lambda_client: Any, function_name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("app.py", HANDLER_PY)
        with archive.open("zeros.bin", "w", force_zip64=True) as entry:
            chunk = bytes(1 << 20)
            for _ in range(MAX_UNZIPPED_BYTES // len(chunk) + 1):
                entry.write(chunk)
    package = buffer.getvalue()
    assert len(package) < MAX_ZIPPED_BYTES
    before = function_names(lambda_client)

    error = call_error(lambda_client.create_function, **create_args(function_name, package))

    assert_error(error, "InvalidParameterValueException", 400, "Unzipped size must be smaller")
    assert_not_created(lambda_client, function_name, before)


@pytest.mark.parametrize("entry", ["../escape.py", "lib/../../escape.py", "/etc/escape.py"])
def test_zip_entry_escaping_the_package(lambda_client: Any, function_name: str, entry: str) -> None:
    package = make_zip({"app.py": HANDLER_PY.decode(), entry: "x = 1\n"})
    before = function_names(lambda_client)

    error = call_error(lambda_client.create_function, **create_args(function_name, package))

    assert_error(error, "InvalidParameterValueException", 400, "Invalid zip entry")
    assert_not_created(lambda_client, function_name, before)


def test_update_with_bad_code_keeps_the_old_code(
    lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    error = call_error(
        lambda_client.update_function_code, FunctionName=function_name, ZipFile=b"PK\x03\x04junk"
    )

    assert_error(error, "InvalidParameterValueException", 400, "Could not unzip")
    assert configuration(lambda_client, function_name) == existing


# --- runtime and handler -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ("python9.9", "Value python9.9 at 'runtime' failed to satisfy constraint"),
        ("cobol", "Member must satisfy enum value set"),
        ("python2.7", "The runtime parameter of python2.7 is no longer supported"),
        ("nodejs12.x", "The runtime parameter of nodejs12.x is no longer supported"),
    ],
)
def test_unknown_or_deprecated_runtime(
    lax_client: Any, lambda_client: Any, function_name: str, runtime: str, message: str
) -> None:
    before = function_names(lambda_client)

    error = call_error(lax_client.create_function, **create_args(function_name, Runtime=runtime))

    assert_error(error, "InvalidParameterValueException", 400, message)
    assert_not_created(lambda_client, function_name, before)


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        ("nodot", "InvalidParameterValueException"),
        ("app.", "InvalidParameterValueException"),
        (".handler", "InvalidParameterValueException"),
        ("app.not-an-identifier", "InvalidParameterValueException"),
        ("has space.handler", "ValidationException"),
        ("a" * 129 + ".handler", "ValidationException"),
    ],
)
def test_handler_that_cannot_be_right_for_python(
    lax_client: Any, lambda_client: Any, function_name: str, handler: str, code: str
) -> None:
    before = function_names(lambda_client)

    error = call_error(lax_client.create_function, **create_args(function_name, Handler=handler))

    assert_error(error, code, 400)
    assert_not_created(lambda_client, function_name, before)


def test_update_to_a_bad_handler_or_runtime_changes_nothing(
    lax_client: Any, lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    for changes in ({"Handler": "nodot"}, {"Runtime": "python2.7"}, {"Runtime": "nope"}):
        error = call_error(
            lax_client.update_function_configuration, FunctionName=function_name, **changes
        )
        assert_error(error, "InvalidParameterValueException", 400)
    assert configuration(lambda_client, function_name) == existing


# --- names and ARNs ---------------------------------------------------------------------------


BAD_NAMES = [
    "bad name!",
    "a" * 65,
    "x" * 141,
    "arn:aws:lambda:useast1:000000000000:function:f",  # region not in AWS's format
    "arn:aws:lambda:us-east-1:0000:function:f",  # account id not 12 digits
    "arn:aws:s3:::a-bucket",
    "f:bad qualifier",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_with_a_name_outside_the_pattern(
    lax_client: Any, lambda_client: Any, name: str
) -> None:
    before = function_names(lambda_client)

    error = call_error(lax_client.create_function, **create_args(name))

    assert_error(error, "ValidationException", 400, "at 'functionName' failed to satisfy")
    assert function_names(lambda_client) == before


@pytest.mark.parametrize("name", BAD_NAMES)
def test_get_with_a_name_outside_the_pattern(lax_client: Any, name: str) -> None:
    error = call_error(lax_client.get_function, FunctionName=name)

    assert_error(error, "ValidationException", 400, "1 validation error detected: Value '")


def test_arn_of_another_region_is_not_reachable(
    lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    arn = existing["FunctionArn"].replace(f":{REGION}:", ":eu-west-1:")

    error = call_error(lambda_client.get_function, FunctionName=arn)
    update_error = call_error(
        lambda_client.update_function_configuration, FunctionName=arn, Description="after"
    )

    for refused in (error, update_error):
        assert_error(
            refused,
            "ResourceNotFoundException",
            404,
            f"Functions from 'eu-west-1' are not reachable in this region ('{REGION}')",
        )
    assert configuration(lambda_client, function_name) == existing


def test_arn_of_another_account_is_denied(
    lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    arn = existing["FunctionArn"].replace(":000000000000:", ":123456789012:")

    error = call_error(
        lambda_client.update_function_configuration, FunctionName=arn, Description="after"
    )

    assert_error(error, "AccessDeniedException", 403)
    assert configuration(lambda_client, function_name) == existing


# --- ranges --------------------------------------------------------------------------------


RANGE_CASES = [
    ({"Timeout": 0}, "Value '0' at 'timeout'", "greater than or equal to 1"),
    ({"Timeout": 901}, "Value '901' at 'timeout'", "less than or equal to 900"),
    ({"MemorySize": 127}, "Value '127' at 'memorySize'", "greater than or equal to 128"),
    ({"MemorySize": 10241}, "Value '10241' at 'memorySize'", "less than or equal to 10240"),
    (
        {"EphemeralStorage": {"Size": 511}},
        "Value '511' at 'ephemeralStorage.size'",
        "greater than or equal to 512",
    ),
    (
        {"EphemeralStorage": {"Size": 10241}},
        "Value '10241' at 'ephemeralStorage.size'",
        "less than or equal to 10240",
    ),
]


def range_message(value_at: str, bound: str) -> str:
    return (
        f"1 validation error detected: {value_at} failed to satisfy constraint: "
        f"Member must have value {bound}"
    )


@pytest.mark.parametrize(("setting", "value_at", "bound"), RANGE_CASES)
def test_create_with_a_setting_out_of_range(
    lax_client: Any,
    lambda_client: Any,
    function_name: str,
    setting: dict[str, Any],
    value_at: str,
    bound: str,
) -> None:
    before = function_names(lambda_client)

    error = call_error(lax_client.create_function, **create_args(function_name, **setting))

    assert_error(error, "ValidationException", 400)
    assert error.response["Error"]["Message"] == range_message(value_at, bound)
    assert_not_created(lambda_client, function_name, before)


@pytest.mark.parametrize(("setting", "value_at", "bound"), RANGE_CASES)
def test_update_with_a_setting_out_of_range(
    lax_client: Any,
    lambda_client: Any,
    function_name: str,
    existing: dict[str, Any],
    setting: dict[str, Any],
    value_at: str,
    bound: str,
) -> None:
    error = call_error(
        lax_client.update_function_configuration, FunctionName=function_name, **setting
    )

    assert_error(error, "ValidationException", 400)
    assert error.response["Error"]["Message"] == range_message(value_at, bound)
    assert configuration(lambda_client, function_name) == existing


def test_the_limits_themselves_are_accepted(lambda_client: Any, function_name: str) -> None:
    lambda_client.create_function(
        **create_args(
            function_name, Timeout=900, MemorySize=10240, EphemeralStorage={"Size": 10240}
        )
    )

    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert (config["Timeout"], config["MemorySize"]) == (900, 10240)
    assert config["EphemeralStorage"] == {"Size": 10240}


# --- conflicts and missing resources ----------------------------------------------------------


def test_duplicate_function_name(
    lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    before = function_names(lambda_client)

    error = call_error(
        lambda_client.create_function,
        **create_args(function_name, make_zip({"other.py": "x = 1\n"}), Description="second"),
    )

    assert_error(
        error, "ResourceConflictException", 409, f"Function already exist: {function_name}"
    )
    assert configuration(lambda_client, function_name) == existing
    assert function_names(lambda_client) == before


def test_duplicate_alias_name(
    lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    version = lambda_client.publish_version(FunctionName=function_name)["Version"]
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion=version)

    error = call_error(
        lambda_client.create_alias,
        FunctionName=function_name,
        Name="live",
        FunctionVersion="$LATEST",
    )

    assert_error(error, "ResourceConflictException", 409)
    alias = lambda_client.get_alias(FunctionName=function_name, Name="live")
    assert alias["FunctionVersion"] == version


def test_unknown_function(lambda_client: Any, function_name: str) -> None:
    before = function_names(lambda_client)
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (lambda_client.get_function, {}),
        (lambda_client.get_function_configuration, {}),
        (lambda_client.update_function_configuration, {"Description": "x"}),
        (lambda_client.update_function_code, {"ZipFile": make_zip()}),
        (lambda_client.publish_version, {}),
        (lambda_client.delete_function, {}),
        (lambda_client.list_aliases, {}),
        (lambda_client.list_versions_by_function, {}),
        (lambda_client.put_function_concurrency, {"ReservedConcurrentExecutions": 1}),
    ]
    for call, extra in calls:
        error = call_error(call, FunctionName=function_name, **extra)
        assert_error(error, "ResourceNotFoundException", 404, function_name)
    assert_not_created(lambda_client, function_name, before)


def test_code_for_an_unknown_function_is_not_stored(
    roost: RoostProcess, lambda_client: Any, function_name: str
) -> None:
    package = make_zip({"app.py": f"# {function_name}\n" + HANDLER_PY.decode()})
    sha256_hex = hashlib.sha256(package).hexdigest()

    error = call_error(
        lambda_client.update_function_code, FunctionName=function_name, ZipFile=package
    )

    assert_error(error, "ResourceNotFoundException", 404)
    assert list(roost.data_dir.rglob(f"*{sha256_hex}*")) == []


def test_unknown_alias_and_version(
    lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    assert_error(
        call_error(lambda_client.get_alias, FunctionName=function_name, Name="nope"),
        "ResourceNotFoundException",
        404,
        "Alias not found",
    )
    for qualifier in ("nope", "7"):
        assert_error(
            call_error(lambda_client.get_function, FunctionName=function_name, Qualifier=qualifier),
            "ResourceNotFoundException",
            404,
            f"{function_name}:{qualifier}",
        )
    assert_error(
        call_error(lambda_client.delete_function, FunctionName=function_name, Qualifier="7"),
        "ResourceNotFoundException",
        404,
    )
    assert_error(
        call_error(
            lambda_client.create_alias, FunctionName=function_name, Name="a", FunctionVersion="7"
        ),
        "ResourceNotFoundException",
        404,
    )
    assert configuration(lambda_client, function_name) == existing
    assert lambda_client.list_aliases(FunctionName=function_name)["Aliases"] == []


# --- the body itself ---------------------------------------------------------------------------


def create_body(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid CreateFunction JSON document."""
    return {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/lambda-role",
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(make_zip()).decode()},
        **overrides,
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda name: b"{not json", id="not-json"),
        pytest.param(lambda name: b'{"FunctionName": "' + name.encode() + b'"', id="truncated"),
        pytest.param(lambda name: b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(lambda name: b"[1, 2, 3]", id="array"),
        pytest.param(lambda name: b'"a string"', id="string"),
        pytest.param(
            lambda name: json.dumps(create_body(name, Timeout="ten")).encode(), id="timeout-str"
        ),
        pytest.param(
            lambda name: json.dumps(create_body(name, MemorySize=128.5)).encode(),
            id="memory-float",
        ),
        pytest.param(
            lambda name: json.dumps(create_body(name, Code="zip")).encode(), id="code-str"
        ),
        pytest.param(
            lambda name: json.dumps(create_body(name, Publish="yes")).encode(), id="publish-str"
        ),
        pytest.param(
            lambda name: json.dumps(create_body(name, Environment={"Variables": ["A"]})).encode(),
            id="variables-list",
        ),
        pytest.param(
            lambda name: json.dumps(create_body(name, Code={"ZipFile": "!!not base64!!"})).encode(),
            id="zip-not-base64",
        ),
        pytest.param(
            lambda name: json.dumps(create_body(name, Tags="k=v")).encode(), id="tags-str"
        ),
    ],
)
def test_malformed_or_mistyped_json(
    roost: RoostProcess,
    lambda_client: Any,
    function_name: str,
    body: Callable[[str], bytes],
) -> None:
    before = function_names(lambda_client)

    reply = raw_request(roost, "POST", FUNCTIONS_PATH, body(function_name))

    assert_aws_error_shape(reply, "InvalidRequestContentException", 400)
    assert_not_created(lambda_client, function_name, before)


def test_the_raw_request_helper_signs_correctly(
    roost: RoostProcess, lambda_client: Any, function_name: str
) -> None:
    """The cases above fail on their bodies, not on their signatures."""
    reply = raw_request(
        roost, "POST", FUNCTIONS_PATH, json.dumps(create_body(function_name)).encode()
    )

    assert reply.status == 201, reply
    assert lambda_client.get_function(FunctionName=function_name)["Configuration"]["Handler"]


def test_mistyped_json_on_update_changes_nothing(
    roost: RoostProcess, lambda_client: Any, function_name: str, existing: dict[str, Any]
) -> None:
    path = f"{FUNCTIONS_PATH}/{function_name}/configuration"
    for body in (b'{"Description": ', b'{"Timeout": "30"}', b'{"Environment": {"Variables": 1}}'):
        reply = raw_request(roost, "PUT", path, body)
        assert_aws_error_shape(reply, "InvalidRequestContentException", 400)
    assert configuration(lambda_client, function_name) == existing


# --- environment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"AWS_REGION": "eu-west-1"}, "Reserved keys used in this request: AWS_REGION"),
        (
            {"OK_KEY": "x", "AWS_ACCESS_KEY_ID": "a", "LAMBDA_TASK_ROOT": "/tmp"},
            "Reserved keys used in this request: AWS_ACCESS_KEY_ID, LAMBDA_TASK_ROOT",
        ),
        ({"BIG": "x" * 4096}, "exceeded the 4KB limit"),
        ({f"KEY_{i}": "v" * 100 for i in range(40)}, "exceeded the 4KB limit"),
    ],
)
def test_bad_environment(
    lambda_client: Any,
    function_name: str,
    existing: dict[str, Any],
    variables: dict[str, str],
    message: str,
) -> None:
    """On create (nothing created) and on update (nothing changed)."""
    new_name = function_name + "-new"
    before = function_names(lambda_client)

    create_error = call_error(
        lambda_client.create_function,
        **create_args(new_name, Environment={"Variables": variables}),
    )
    update_error = call_error(
        lambda_client.update_function_configuration,
        FunctionName=function_name,
        Environment={"Variables": variables},
    )

    for error in (create_error, update_error):
        assert_error(error, "InvalidParameterValueException", 400, message)
    assert_not_created(lambda_client, new_name, before)
    assert configuration(lambda_client, function_name) == existing


def test_environment_just_under_4_kb_is_accepted(lambda_client: Any, function_name: str) -> None:
    # {"BIG":"..."} is 10 bytes of JSON around the value.
    variables = {"BIG": "x" * (4096 - 10)}

    lambda_client.create_function(
        **create_args(function_name, Environment={"Variables": variables})
    )

    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert config["Environment"]["Variables"] == variables


# --- size of the request ------------------------------------------------------------------------


def test_body_over_the_control_plane_limit(roost: RoostProcess, lambda_client: Any) -> None:
    """Refused from the declared length, before the body is read or signed."""
    before = function_names(lambda_client)
    head = (
        f"POST {FUNCTIONS_PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{roost.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {CONTROL_MAX_BODY_BYTES + 1}\r\n"
        "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", roost.port), timeout=10) as sock:
        sock.sendall(head + b'{"FunctionName": "too-big", "Code": {"ZipFile": "')
        received = b""
        while b"\r\n\r\n" not in received or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    fields = [line.decode().partition(": ") for line in header_block.split(b"\r\n") if line]
    headers = httpx.Headers([(key, value) for key, _, value in fields])
    reply = RawReply(int(status_line.split()[1]), headers, body)

    document = assert_aws_error_shape(reply, "RequestEntityTooLargeException", 413)
    assert "CreateFunction" in document["message"]
    assert function_names(lambda_client) == before


# --- routing: unknown paths and operations Roost lacks ----------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no/such/path"),
        ("POST", "/2015-03-31/nothing-here"),
        ("PATCH", FUNCTIONS_PATH),
        ("GET", "/2099-01-01/functions"),
    ],
)
@pytest.mark.parametrize("signed", [True, False])
def test_unknown_path(roost: RoostProcess, method: str, path: str, signed: bool) -> None:
    reply = raw_request(roost, method, path, credentials=BUILTIN_KEY if signed else None)

    document = assert_aws_error_shape(reply, "UnknownOperationException", 404)
    assert path in document["message"]


@pytest.mark.parametrize("mode", ["standard", "legacy"])
@pytest.mark.parametrize(
    ("operation", "kwargs", "name"),
    [
        ("list_layers", {}, "ListLayers"),
        ("get_function_url_config", {"FunctionName": "any"}, "GetFunctionUrlConfig"),
        ("list_code_signing_configs", {}, "ListCodeSigningConfigs"),
    ],
)
def test_operation_roost_does_not_implement(
    roost: RoostProcess, mode: str, operation: str, kwargs: dict[str, Any], name: str
) -> None:
    """A clean AWS-shaped error naming the operation, answered at once and not retried."""
    client = boto3.client(
        "lambda",
        endpoint_url=roost.endpoint,
        region_name=REGION,
        aws_access_key_id=BUILTIN_KEY[0],
        aws_secret_access_key=BUILTIN_KEY[1],
        config=Config(
            retries={"max_attempts": 3, "mode": mode}, connect_timeout=5, read_timeout=10
        ),
    )
    try:
        error = call_error(getattr(client, operation), **kwargs)
    finally:
        client.close()

    assert_error(error, "UnsupportedOperationException", 501, name)
    assert error.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] not in RETRYABLE_STATUSES
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == (
        "UnsupportedOperationException"
    )


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        (("test", "not-the-secret"), "InvalidSignatureException"),
        (("AKIANOSUCHKEY0000000", "whatever"), "UnrecognizedClientException"),
        (None, "MissingAuthenticationTokenException"),
    ],
)
def test_bad_or_missing_signature(
    roost: RoostProcess,
    lambda_client: Any,
    function_name: str,
    credentials: tuple[str, str] | None,
    code: str,
) -> None:
    before = function_names(lambda_client)
    if credentials is None:
        client = roost.client(signature_version=botocore.UNSIGNED)
    else:
        client = roost.client(credentials=credentials)
    try:
        error = call_error(client.create_function, **create_args(function_name))
    finally:
        client.close()

    assert_error(error, code, 403)
    assert_not_created(lambda_client, function_name, before)
    reply = raw_request(roost, "GET", FUNCTIONS_PATH + "/", credentials=credentials)
    assert_aws_error_shape(reply, code, 403)


def test_tampered_body_after_signing(
    roost: RoostProcess, lambda_client: Any, function_name: str
) -> None:
    body = json.dumps(create_body(function_name)).encode()
    request = AWSRequest(method="POST", url=roost.endpoint + FUNCTIONS_PATH, data=body)
    SigV4Auth(Credentials(*BUILTIN_KEY), "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    tampered = body.replace(b"python3.12", b"python3.13")
    headers = dict(prepared.headers)
    headers["Content-Length"] = str(len(tampered))
    before = function_names(lambda_client)

    with httpx.Client(timeout=30) as http:
        reply = http.post(prepared.url, content=tampered, headers=headers)

    assert reply.status_code == 403
    assert reply.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert_not_created(lambda_client, function_name, before)


# --- the shape of every error -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "status"),
    [
        ("GET", FUNCTIONS_PATH + "/no-such-function", b"", "ResourceNotFoundException", 404),
        ("POST", FUNCTIONS_PATH, b"{", "InvalidRequestContentException", 400),
        ("POST", FUNCTIONS_PATH, b"{}", "ValidationException", 400),
        ("GET", "/2018-10-31/layers", b"", "UnsupportedOperationException", 501),
        ("GET", FUNCTIONS_PATH + "/bad%20name!", b"", "ValidationException", 400),
    ],
)
def test_error_shape(
    roost: RoostProcess, method: str, path: str, body: bytes, code: str, status: int
) -> None:
    reply = raw_request(roost, method, path, body)

    assert_aws_error_shape(reply, code, status)


def test_validation_lists_every_violation(lax_client: Any, function_name: str) -> None:
    error = call_error(
        lax_client.create_function,
        FunctionName=function_name,
        Code={"ZipFile": make_zip()},
        MemorySize=1,
    )

    assert_error(error, "ValidationException", 400)
    message = error.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected: ")
    assert "Value null at 'role' failed to satisfy constraint: Member must not be null" in message
    assert "Value '1' at 'memorySize'" in message
