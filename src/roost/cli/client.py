"""What the client commands share: where Roost is, whose keys, and how errors read.

``roost deploy``, ``invoke`` and ``logs`` talk to a running Roost through its
HTTP API, signed with SigV4 like any AWS client, so they work the same against
a node on this machine or a remote one. Lambda operations go through boto3;
Roost's own logs endpoint is signed with botocore's ``SigV4Auth``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

DEFAULT_ENDPOINT_URL = "http://127.0.0.1:9009"
DEFAULT_REGION = "us-east-1"
BUILTIN_CREDENTIALS = ("test", "test")
SERVICE = "lambda"
# A sync invoke may run for 900 s (Lambda's longest timeout); wait a little longer.
INVOKE_READ_TIMEOUT_S = 960
READ_TIMEOUT_S = 60
_AUTH_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "SignatureDoesNotMatch",
    }
)

Command = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A failure to report as one line on stderr, without a traceback."""


@dataclass(frozen=True)
class Target:
    """The Roost a client command talks to, and the keys it signs with."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Target:
        """Flags first, then the environment, then the defaults of a local Roost."""
        env = os.environ if env is None else env
        endpoint = args.endpoint_url or env.get("ROOST_ENDPOINT_URL") or DEFAULT_ENDPOINT_URL
        region = args.region or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        key_id = env.get("AWS_ACCESS_KEY_ID")
        secret = env.get("AWS_SECRET_ACCESS_KEY")
        if not key_id or not secret:
            key_id, secret = BUILTIN_CREDENTIALS
        token = env.get("AWS_SESSION_TOKEN") or None
        return cls(endpoint.rstrip("/"), region, key_id, secret, token)


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """``--endpoint-url`` and ``--region``, shared by the client commands."""
    parser.add_argument(
        "--endpoint-url",
        help=f"Roost's URL (env ROOST_ENDPOINT_URL, default {DEFAULT_ENDPOINT_URL})",
    )
    parser.add_argument(
        "--region", help=f"region to sign for (env AWS_DEFAULT_REGION, default {DEFAULT_REGION})"
    )


CLIENT_EPILOG = """\
credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)
from the environment; without them the built-in test/test key of a Roost bound
to loopback.
"""


def lambda_client(target: Target, *, read_timeout_s: int = READ_TIMEOUT_S) -> Any:
    """A boto3 Lambda client for ``target`` that reads no AWS config of the user's.

    Calls are tried once: a retried sync invoke could run the function twice.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 1},
        connect_timeout=10,
        read_timeout=read_timeout_s,
        user_agent_extra="roost-cli",
    )
    return boto3.session.Session().client(
        SERVICE,
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        aws_access_key_id=target.access_key_id,
        aws_secret_access_key=target.secret_access_key,
        aws_session_token=target.session_token,
        config=config,
    )


@dataclass(frozen=True)
class Reply:
    """An HTTP answer of one of Roost's own endpoints."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def signed_get(target: Target, path: str, query: Mapping[str, str] | None = None) -> Reply:
    """GET ``path`` (quoted segment by segment) of Roost, signed for service ``lambda``."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpsession import URLLib3Session

    url = target.endpoint_url + quote(path, safe="/")
    if query:
        url += "?" + urlencode(dict(query))
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(target.access_key_id, target.secret_access_key, target.session_token)
    SigV4Auth(credentials, SERVICE, target.region).add_auth(request)
    response = URLLib3Session(timeout=READ_TIMEOUT_S).send(request.prepare())
    headers = {k.lower(): v for k, v in response.headers.items()}
    return Reply(response.status_code, headers, response.content)


def raise_for_error(reply: Reply, target: Target) -> None:
    """A ``CliError`` in the same words as boto3's errors, for a non-2xx reply."""
    if reply.status < 300:
        return
    code = reply.headers.get("x-amzn-errortype", "").split(":")[0] or f"HTTP {reply.status}"
    try:
        document = json.loads(reply.body)
        message = str(document.get("message") or document.get("Message") or "")
    except (ValueError, AttributeError):
        message = reply.body.decode("utf-8", "replace").strip()
    raise CliError(api_error_message(code, message, target))


def api_error_message(code: str, message: str, target: Target) -> str:
    """``Code: message``, with a hint when Roost refused the credentials."""
    text = f"{code}: {message}" if message else code
    if code in _AUTH_ERRORS:
        text += (
            f"\nRoost at {target.endpoint_url} refused the access key "
            f"'{target.access_key_id}': check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    return text


def guarded(command: Command) -> Command:
    """``command`` with its failures printed as ``roost: ...`` and exit code 1 (130 on Ctrl-C)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CliError as error:
            _fail(str(error))
        except ClientError as error:
            details = error.response.get("Error", {})
            target = Target.from_args(args)
            _fail(
                api_error_message(details.get("Code", "Error"), details.get("Message", ""), target)
            )
        except (BotoConnectionError, HTTPClientError) as error:
            _fail(f"{error}\nIs Roost running there? (--endpoint-url, env ROOST_ENDPOINT_URL)")
        except BotoCoreError as error:
            _fail(str(error))
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            # The reader went away (``roost logs | head``): stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1

    run.__doc__ = command.__doc__
    return run


def _fail(message: str) -> None:
    print(f"roost: {message}", file=sys.stderr, flush=True)


def status(message: str) -> None:
    """A progress line on stderr (stdout carries only results)."""
    print(message, file=sys.stderr, flush=True)
