"""Overload (issue 7, scenario c): 10x the capacity in sync invokes yields fast 429s,
never timeouts, 5xx or memory growth without bound.

A real ``roost up`` with a small capacity takes rounds of 40 concurrent boto3
invokes (retries off) of a function that sleeps. Each capacity control is the
binding one in turn: the account concurrency limit (counting), the worker host's
environment cap, and the sync plane's admission line. Every call must either
succeed or be refused with 429 ``TooManyRequestsException`` and a
``Retry-After``, a refusal must arrive before the function's sleep would have
ended, and the node's RSS after the last round must stay near its RSS after the
first.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from roost.observability.prometheus import Sample, parse
from tests.conftest import create_args
from tests.fixtures.roost_process import BUILTIN_KEY, REGION, RoostProcess, make_zip

SLEEP_S = 1.0
CAPACITY = 4
CALLERS = 10 * CAPACITY
ROUNDS = 6
# RSS may grow this much from the first round to the last (allocator slack,
# caches warming); a queue growing with the offered load would exceed it.
RSS_SLACK_MB = 50

HANDLER = f"""
import time

def handler(event, context):
    time.sleep({SLEEP_S})
    return {{"ok": True}}
"""

SCENARIOS = {
    # The account's concurrency limit binds: counting throttles at once.
    "account": {"ROOST_ACCOUNT_CONCURRENCY": str(CAPACITY)},
    # The worker host's environment cap binds: a new environment is refused.
    "host": {"ROOST_WORKER_MAX_ENVIRONMENTS": str(CAPACITY)},
    # The sync plane's admission binds: a short line, a short wait, then 429.
    "admission": {
        "ROOST_INVOKE_MAX_IN_FLIGHT": str(CAPACITY),
        "ROOST_INVOKE_MAX_WAITING": str(CAPACITY),
        "ROOST_INVOKE_MAX_WAIT_S": "0.2",
    },
}


@dataclass(frozen=True)
class Call:
    """One invoke's outcome as the caller saw it."""

    status: int
    code: str
    reason: str
    retry_after: str | None
    elapsed_s: float


# Where each scenario's refusals are counted in /metrics: (name, labels).
REFUSALS = {
    "account": ("roost_throttles_total", {"reason": "ConcurrentInvocationLimitExceeded"}),
    "host": ("roost_worker_refusals_total", {"reason": "environments"}),
    "admission": ("roost_admission_rejected_total", {"plane": "invoke"}),
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def overloaded(scenario: str, tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env=SCENARIOS[scenario])
    process.start()
    yield process
    process.stop()


def _client(roost: RoostProcess) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=roost.endpoint,
        region_name=REGION,
        aws_access_key_id=BUILTIN_KEY[0],
        aws_secret_access_key=BUILTIN_KEY[1],
        config=Config(
            retries={"max_attempts": 0},
            max_pool_connections=CALLERS,
            connect_timeout=10,
            read_timeout=30,
        ),
    )


def _invoke(client: Any, name: str) -> Call:
    started = time.monotonic()
    try:
        response = client.invoke(FunctionName=name, Payload=b"{}")
        response["Payload"].read()
        status, code, reason, retry_after = response["StatusCode"], "", "", None
    except ClientError as error:
        meta = error.response["ResponseMetadata"]
        status = meta["HTTPStatusCode"]
        code = error.response["Error"]["Code"]
        reason = str(error.response.get("Reason", ""))
        retry_after = meta["HTTPHeaders"].get("retry-after")
    # Anything else (a read timeout, a reset connection) propagates and fails the test.
    return Call(status, code, reason, retry_after, time.monotonic() - started)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _metrics(roost: RoostProcess) -> list[Sample]:
    with urllib.request.urlopen(roost.endpoint + "/metrics", timeout=10) as reply:
        return parse(reply.read().decode())


def _total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_ten_times_capacity_gets_fast_429s_and_bounded_memory(
    scenario: str, overloaded: RoostProcess, function_name: str
) -> None:
    # Given a node with a capacity of 4 and a function that sleeps 1 s
    client = _client(overloaded)
    client.create_function(**create_args(function_name, make_zip({"app.py": HANDLER}), Timeout=30))
    client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    assert overloaded.process is not None
    pid = overloaded.process.pid

    # When 40 callers invoke it at once, round after round
    calls: list[Call] = []
    rss_after: list[float] = []
    with ThreadPoolExecutor(CALLERS) as pool:
        for _ in range(ROUNDS):
            calls += pool.map(lambda _: _invoke(client, function_name), range(CALLERS))
            rss_after.append(_rss_mb(pid))

    # Then every call succeeded or was throttled: no 5xx, no timeout
    succeeded = [c for c in calls if c.status == 200]
    refused = [c for c in calls if c.status != 200]
    assert {(c.status, c.code, c.reason) for c in refused} <= {
        (429, "TooManyRequestsException", "ConcurrentInvocationLimitExceeded")
    }
    # At least the capacity's worth of each round ran; the rest were refused
    assert len(succeeded) >= CAPACITY * ROUNDS and refused
    # Every refusal says when to come back and came before the function would have ended
    assert all(c.retry_after is not None and int(c.retry_after) >= 1 for c in refused)
    slowest_refusal = max(c.elapsed_s for c in refused)
    assert slowest_refusal < SLEEP_S, f"a 429 took {slowest_refusal:.3f} s"
    # And the node's memory did not grow with the rounds
    assert rss_after[-1] - rss_after[0] < RSS_SLACK_MB, f"RSS by round (MB): {rss_after}"
    # The binding cap counted the refusals it made
    name, labels = REFUSALS[scenario]
    assert _total(_metrics(overloaded), name, **labels) >= len(refused)
    print(
        json.dumps(
            {
                "succeeded": len(succeeded),
                "refused": len(refused),
                "slowest_refusal_s": round(slowest_refusal, 3),
                "rss_mb_by_round": [round(r, 1) for r in rss_after],
            }
        )
    )


def test_each_cap_and_its_refusals_are_visible_in_metrics(overloaded: RoostProcess) -> None:
    samples = _metrics(overloaded)

    assert _total(samples, "roost_admission_max_in_flight", plane="invoke") >= 1
    assert _total(samples, "roost_account_concurrency_limit") >= 1
    assert _total(samples, "roost_worker_memory_budget_mb") > 0
    names = {s.name for s in samples}
    assert {
        "roost_admission_waiting",
        "roost_admission_rejected_total",
        "roost_worker_function_environments",
        "roost_worker_refusals_total",
    } <= names
