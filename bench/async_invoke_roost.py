"""Roost's side of the async invoke benchmark: the server, a second account, the functions
and Invoke requests signed with SigV4 before the clock starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from async_invoke_http import raw_request
from async_invoke_recorder import REPORTER_SOURCE
from common import KEYS, REGION, make_zip
from invoke_targets import Roost

# Reports "ID TIME" to the recorder when it runs (the port is baked into the code, so the
# event carries only its id), over the environment's one connection to the recorder, opened
# on first use and reused by later invokes, as Lambda handlers reuse their clients; the same
# work as the Celery task in async_invoke_celery. (Until 2026-11-28 both opened a connection
# per event: the recorder then spent about 0.18 ms of CPU per event accepting them, as much
# as Roost's environments spent running the events.)
RECORDING_HANDLER = (
    "import time\n\nRECORDER_PORT = {port}\n"
    + REPORTER_SOURCE
    + """

def handler(event, context):
    _report(("%s %.6f\\n" % (event["id"], time.time())).encode())
"""
)
TRIVIAL_HANDLER = 'def handler(event, context):\n    return {"ok": True}\n'
RECORDING_FUNCTION = "record"
SYNC_FUNCTION = "sync-a"
FLOOD_FUNCTION = "flood-b"


class AsyncRoost(Roost):
    """``python -m roost up`` with the async settings at their defaults; only the memory
    budget is raised (``memory_budget_mb``) so that the pollers' up to 2 x 64 concurrent
    events never meet an eviction, which would measure the budget, not the queue."""

    def create_account(self, name: str) -> tuple[str, str, str]:
        """A second account (id, access key id, secret) in this server's data dir."""
        out = subprocess.run(
            [sys.executable, "-m", "roost", "accounts", "create", name, "--json"],
            env={**self.env(), "ROOST_DATA_DIR": str(self.workdir / "roost-data")},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        data = json.loads(out)
        return data["AccountId"], data["AccessKeyId"], data["SecretAccessKey"]

    def deploy_flood(self, keys: tuple[str, str]) -> None:
        """Account B's function (trivial), created with its keys, Active."""
        self.create_in(keys, FLOOD_FUNCTION, make_zip("handler.py", TRIVIAL_HANDLER))

    def create_in(self, keys: tuple[str, str], name: str, code: bytes) -> None:
        """CreateFunction with other credentials than test/test, then wait until Active."""
        import boto3
        from common import ROOST_ROLE

        client = boto3.session.Session().client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name=REGION,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
        )
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROOST_ROLE,
            Handler="handler.handler",
            Code={"ZipFile": code},
            Timeout=6,
            MemorySize=128,
        )
        client.get_waiter("function_active_v2").wait(FunctionName=name)

    def deploy(self, recorder_port: int) -> None:
        """The recording function and the sync function of account A (test/test)."""
        recording = RECORDING_HANDLER.replace("{port}", str(recorder_port))
        self.create(RECORDING_FUNCTION, make_zip("handler.py", recording))
        self.create(SYNC_FUNCTION, make_zip("handler.py", TRIVIAL_HANDLER))
        for name in (RECORDING_FUNCTION, SYNC_FUNCTION):
            self.wait_active(name)


def signed_request(
    url: str, body: bytes, keys: tuple[str, str] = KEYS, event: bool = True
) -> bytes:
    """One Invoke as raw HTTP bytes, SigV4-signed now (valid for 15 minutes)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"X-Amz-Invocation-Type": "Event" if event else "RequestResponse"}
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(*keys), "lambda", REGION).add_auth(request)
    host = url.split("/")[2]
    all_headers = {"Host": host, **{k: str(v) for k, v in request.headers.items()}}
    return raw_request("/" + url.split("/", 3)[3], all_headers, body)


def event_requests(url: str, prefix: str, count: int) -> list[bytes]:
    """``count`` signed Event invokes with payloads ``{"id": "PREFIX-N"}``."""
    return [signed_request(url, json.dumps({"id": f"{prefix}-{i}"}).encode()) for i in range(count)]


def data_dir(server: AsyncRoost) -> Path:
    return server.workdir / "roost-data"
