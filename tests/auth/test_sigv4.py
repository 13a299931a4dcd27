"""SigV4 verification against requests signed by botocore's own signer."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

from roost.auth.canonical import canonical_query_string, canonical_uri
from roost.auth.errors import (
    AuthError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from roost.auth.sigv4 import Credential, SignedRequest, SigV4Verifier, VerifiedRequest

ACCESS_KEY = "AKIAEXAMPLE000000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT = "123456789012"
ENDPOINT = "http://localhost:9000"
ARN_PATH = (
    "/2015-03-31/functions/"
    "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/configuration"
)


async def lookup(access_key_id: str) -> Credential | None:
    if access_key_id == ACCESS_KEY:
        return Credential(ACCESS_KEY, SECRET, ACCOUNT)
    return None


def to_signed_request(request: Any) -> SignedRequest:
    """What a server receives for a botocore request: raw target, Host added by the client."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    # request.headers keeps repeated headers; the prepared copy is a plain dict.
    headers = [(name, _text(value)) for name, value in request.headers.items()]
    names = {name.lower() for name, _ in headers}
    headers += [(n, _text(v)) for n, v in prepared.headers.items() if n.lower() not in names]
    headers.append(("Host", parts.netloc))
    body = prepared.body or b""
    return SignedRequest(
        method=prepared.method,
        path=parts.path,
        query_string=parts.query.encode(),
        headers=headers,
        body=body.encode() if isinstance(body, str) else body,
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def sign(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET,
    service: str = "lambda",
    context: Mapping[str, Any] | None = None,
) -> SignedRequest:
    request = AWSRequest(
        method=method, url=url, data=body, headers=dict(headers or {}), params=params
    )
    request.context.update(context or {})
    SigV4Auth(Credentials(access_key, secret), service, "us-east-1").add_auth(request)
    return to_signed_request(request)


def verify(
    request: SignedRequest, *, clock_offset_s: float = 0.0, service: str | None = "lambda"
) -> VerifiedRequest:
    verifier = SigV4Verifier(lookup, service=service, clock=lambda: time.time() + clock_offset_s)
    return asyncio.run(verifier.verify(request))


def replace_header(request: SignedRequest, name: str, value: str | None) -> SignedRequest:
    assert not isinstance(request.headers, Mapping)
    headers = [(n, v) for n, v in request.headers if n.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return dataclasses.replace(request, headers=headers)


def header_names(request: SignedRequest) -> set[str]:
    assert not isinstance(request.headers, Mapping)
    return {name.lower() for name, _ in request.headers}


def header(request: SignedRequest, name: str) -> str:
    assert not isinstance(request.headers, Mapping)
    return next(v for n, v in request.headers if n.lower() == name.lower())


# --- requests that must verify ---------------------------------------------------


def test_get_signed_by_botocore_verifies_and_names_the_signer() -> None:
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions/f")

    result = verify(request)

    assert result.access_key_id == ACCESS_KEY
    assert result.account_id == ACCOUNT
    assert str(result.scope).endswith("/us-east-1/lambda/aws4_request")
    assert (result.scope.region, result.scope.service) == ("us-east-1", "lambda")
    assert result.presigned is False


def test_percent_encoded_arn_in_path_verifies() -> None:
    # botocore signs this path doubly encoded (%253A); the verifier must too.
    verify(sign("GET", ENDPOINT + ARN_PATH))


@pytest.mark.parametrize(
    "path",
    [
        "/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/configuration",
        "/2015-03-31/functions/f/aliases/%24LATEST",
        "/2015-03-31/functions/caf%C3%A9/policy/a%2Fb",
        "/2015-03-31/functions/a~b_c-d.e/code",
        "/a//b/./c/../d/",
        "",
    ],
)
def test_unusual_paths_verify(path: str) -> None:
    verify(sign("GET", ENDPOINT + path))


@pytest.mark.parametrize(
    "query",
    [
        percent_encode_sequence([("b", "2"), ("a", "1"), ("a", "0"), ("a", "")]),
        percent_encode_sequence({"Marker": "x y+z/=&?", "Unicode": "é€", "Star": "*~"}),
        "flag&empty=&MaxItems=5",
        "Qualifier=%24LATEST&FunctionVersion=ALL",
    ],
)
def test_query_strings_with_repeated_blank_and_special_values_verify(query: str) -> None:
    verify(sign("GET", f"{ENDPOINT}/2015-03-31/functions?{query}"))


def test_params_sent_form_encoded_with_plus_for_space_verify() -> None:
    # AWSRequest.params go on the wire as "a+b" but are signed as "a%20b".
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions", params={"Marker": "a b+c"})
    assert "Marker=a+b%2Bc" in str(request.query_string)

    verify(request)


def test_post_with_json_body_verifies() -> None:
    body = json.dumps({"FunctionName": "f", "Runtime": "python3.12"}).encode()
    request = sign(
        "POST",
        f"{ENDPOINT}/2015-03-31/functions",
        body=body,
        headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
    )

    verify(request)


def test_unsigned_payload_verifies_whatever_the_body() -> None:
    request = sign(
        "POST",
        "https://localhost:9443/2015-03-31/functions/f/invocations",
        body=b'{"a": 1}',
        context={"payload_signing_enabled": False},
    )
    assert header(request, "X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"

    verify(dataclasses.replace(request, body=b'{"a": 2}'))


def test_declared_content_sha256_verifies() -> None:
    body = b'{"a": 1}'
    request = sign(
        "POST",
        f"{ENDPOINT}/2015-03-31/functions/f/invocations",
        body=body,
        headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )

    verify(request)


def test_date_header_instead_of_x_amz_date_verifies() -> None:
    request = sign(
        "GET", f"{ENDPOINT}/2015-03-31/functions", headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}
    )
    assert "x-amz-date" not in header_names(request)

    verify(request)


def test_repeated_headers_and_any_name_case_verify() -> None:
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/2015-03-31/functions")
    request.headers.add_header("X-Amz-Meta", "one")
    request.headers.add_header("X-Amz-Meta", "  two   words ")
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), "lambda", "us-east-1").add_auth(request)
    signed = to_signed_request(request)
    assert not isinstance(signed.headers, Mapping)
    shouting = [(name.upper(), value) for name, value in signed.headers]

    verify(dataclasses.replace(signed, headers=shouting))


def test_mapping_headers_are_accepted() -> None:
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions")
    assert not isinstance(request.headers, Mapping)

    verify(dataclasses.replace(request, headers=dict(request.headers)))


def test_clock_skew_within_fifteen_minutes_is_tolerated() -> None:
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions")

    verify(request, clock_offset_s=14 * 60)
    verify(request, clock_offset_s=-14 * 60)


def test_presigned_url_verifies() -> None:
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/2015-03-31/functions?MaxItems=5")
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "lambda", "us-east-1", expires=60).add_auth(
        request
    )
    signed = to_signed_request(request)
    assert "authorization" not in header_names(signed)

    result = verify(signed)

    assert result.presigned is True
    assert result.account_id == ACCOUNT


# --- requests that must be refused ---------------------------------------------


def _tampered() -> dict[str, SignedRequest]:
    body = b'{"a": 1}'
    request = sign(
        "POST",
        f"{ENDPOINT}/2015-03-31/functions/f/invocations?Qualifier=1",
        body=body,
        headers={"X-Amz-Invocation-Type": "Event"},
    )
    later = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 1))
    return {
        "body": dataclasses.replace(request, body=b'{"a": 2}'),
        "signed header": replace_header(request, "X-Amz-Invocation-Type", "RequestResponse"),
        "host": replace_header(request, "Host", "evil.example:9000"),
        "path": dataclasses.replace(request, path="/2015-03-31/functions/g/invocations"),
        "path encoding": dataclasses.replace(request, path="/2015-03-31/functions/%66/invocations"),
        "query": dataclasses.replace(request, query_string=b"Qualifier=2"),
        "extra query": dataclasses.replace(request, query_string=b"Qualifier=1&x=1"),
        "method": dataclasses.replace(request, method="PUT"),
        "date": replace_header(request, "X-Amz-Date", later),
        "signature": replace_header(
            request,
            "Authorization",
            header(request, "Authorization")[:-4] + "0000",
        ),
    }


@pytest.mark.parametrize("what", sorted(_tampered()))
def test_tampered_request_is_refused(what: str) -> None:
    with pytest.raises(InvalidSignatureException) as caught:
        verify(_tampered()[what])

    assert caught.value.code == "InvalidSignatureException"
    assert caught.value.status == 403


def test_body_not_matching_declared_content_sha256_is_refused() -> None:
    body = b'{"a": 1}'
    request = sign(
        "POST",
        f"{ENDPOINT}/2015-03-31/functions/f/invocations",
        body=body,
        headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )

    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        verify(dataclasses.replace(request, body=b'{"a": 2}'))


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(InvalidSignatureException):
        verify(sign("GET", f"{ENDPOINT}/2015-03-31/functions", secret="not-the-secret"))


def test_unknown_access_key_is_unrecognized() -> None:
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions", access_key="AKIAUNKNOWN000000000")

    with pytest.raises(UnrecognizedClientException) as caught:
        verify(request)

    assert caught.value.code == "UnrecognizedClientException"
    assert caught.value.message == "The security token included in the request is invalid."


def test_request_without_authorization_is_missing_a_token() -> None:
    request = replace_header(sign("GET", f"{ENDPOINT}/2015-03-31/functions"), "Authorization", None)

    with pytest.raises(MissingAuthenticationTokenException) as caught:
        verify(request)

    assert caught.value.code == "MissingAuthenticationTokenException"


def test_expired_signature_is_refused() -> None:
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions")

    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        verify(request, clock_offset_s=16 * 60)


def test_signature_from_the_future_is_refused() -> None:
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions")

    with pytest.raises(InvalidSignatureException, match="not yet current"):
        verify(request, clock_offset_s=-16 * 60)


def test_expired_presigned_url_is_refused() -> None:
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/2015-03-31/functions")
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "lambda", "us-east-1", expires=60).add_auth(
        request
    )

    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        verify(to_signed_request(request), clock_offset_s=61)


def test_tampered_presigned_url_is_refused() -> None:
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/2015-03-31/functions?MaxItems=5")
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), "lambda", "us-east-1").add_auth(request)
    signed = to_signed_request(request)
    assert isinstance(signed.query_string, bytes)

    with pytest.raises(InvalidSignatureException):
        verify(
            dataclasses.replace(
                signed, query_string=signed.query_string.replace(b"MaxItems=5", b"MaxItems=6")
            )
        )


def test_signature_for_another_service_is_refused() -> None:
    request = sign("GET", f"{ENDPOINT}/2015-03-31/functions", service="sqs")

    with pytest.raises(InvalidSignatureException, match="correct service"):
        verify(request)


@pytest.mark.parametrize(
    ("authorization", "match"),
    [
        ("Bearer abc", "algorithm"),
        ("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/20240101/us-east-1/lambda/aws4_request",
         "SignedHeaders"),
        ("AWS4-HMAC-SHA256 Credential=AKID/us-east-1/lambda/aws4_request, "
         "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64, "5 slash-delimited"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, "
         "SignedHeaders=x-amz-date, Signature=" + "0" * 64, "Host"),
    ],
)  # fmt: skip
def test_malformed_authorization_is_incomplete(authorization: str, match: str) -> None:
    request = replace_header(
        sign("GET", f"{ENDPOINT}/2015-03-31/functions"), "Authorization", authorization
    )

    with pytest.raises(IncompleteSignatureException, match=match) as caught:
        verify(request)

    assert caught.value.code == "IncompleteSignatureException"


def test_request_without_a_date_is_incomplete() -> None:
    request = replace_header(sign("GET", f"{ENDPOINT}/2015-03-31/functions"), "X-Amz-Date", None)

    with pytest.raises(IncompleteSignatureException, match="X-Amz-Date"):
        verify(request)


def test_every_auth_error_is_a_403_with_its_class_name_as_code() -> None:
    for error_class in (
        MissingAuthenticationTokenException,
        IncompleteSignatureException,
        InvalidSignatureException,
        UnrecognizedClientException,
    ):
        error = error_class()
        assert isinstance(error, AuthError)
        assert (error.code, error.status) == (error_class.__name__, 403)
        assert error.message


# --- canonical forms match botocore's -------------------------------------------


@pytest.mark.parametrize(
    "path",
    [ARN_PATH, "/a//b/./c/../d/", "/", "", "/~user/%7E/a b/é", "/x/..", "/x/%2F/"],
)
def test_canonical_uri_matches_botocore(path: str) -> None:
    signer = SigV4Auth(Credentials("a", "b"), "lambda", "us-east-1")

    assert canonical_uri(path) == signer._normalize_url_path(path)


@pytest.mark.parametrize(
    "pairs",
    [
        [("b", "2"), ("a", "1"), ("a", "0"), ("a", ""), ("a", "0")],
        [("Marker", "x y+z/=&?"), ("Unicode", "é€"), ("Star", "*~-._")],
        [("A", "1"), ("a", "1"), ("_", "1"), ("~", "1")],
    ],
)
def test_canonical_query_string_matches_botocore(pairs: list[tuple[str, str]]) -> None:
    query = percent_encode_sequence(pairs)
    signer = SigV4Auth(Credentials("a", "b"), "lambda", "us-east-1")

    assert canonical_query_string(query) == signer._canonical_query_string_url(
        urlsplit("?" + query)
    )


# --- end to end: a real boto3 client over a real socket --------------------------


class _RecordingHandler(BaseHTTPRequestHandler):
    captured: list[SignedRequest]

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path, _, query = self.path.partition("?")
        self.captured.append(
            SignedRequest(self.command, path, query.encode(), list(self.headers.items()), body)
        )
        payload = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _record

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wire() -> Iterator[tuple[Any, list[SignedRequest]]]:
    """A boto3 lambda client and the requests its server received, as received."""
    captured: list[SignedRequest] = []
    handler = type("Handler", (_RecordingHandler,), {"captured": captured})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = boto3.session.Session().client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 0}),
    )
    try:
        yield client, captured
    finally:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join()


def test_boto3_requests_verify_as_received_on_the_wire(
    wire: tuple[Any, list[SignedRequest]],
) -> None:
    client, captured = wire

    client.get_function_configuration(
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:f", Qualifier="$LATEST"
    )
    client.list_functions(MaxItems=5, Marker="a b+c/é", FunctionVersion="ALL")
    client.invoke(FunctionName="f", Payload=b'{"key": "value"}', InvocationType="Event")
    client.create_alias(FunctionName="f", Name="live", FunctionVersion="1")

    assert [r.method for r in captured] == ["GET", "GET", "POST", "POST"]
    assert "%3A" in captured[0].path
    for request in captured:
        assert verify(request).account_id == ACCOUNT
    with pytest.raises(InvalidSignatureException):
        verify(dataclasses.replace(captured[2], body=b'{"key": "other"}'))
