"""``GET /metrics`` and ``roost async-stats`` against a running Roost: async events
sent with boto3 show up per function, per reason and per queue."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from roost.cli.main import main as roost_main
from roost.observability.prometheus import Sample, parse
from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code, invoke

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def roost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path_factory.mktemp("metrics") / "data", env=ASYNC_ENV)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(roost: RoostProcess) -> Any:
    return roost.client()


def scrape(roost: RoostProcess) -> tuple[str, list[Sample]]:
    """The content type and the samples of an unsigned ``GET /metrics``."""
    with urllib.request.urlopen(f"{roost.endpoint}/metrics", timeout=10) as reply:
        assert reply.status == 200
        return reply.headers["Content-Type"], parse(reply.read().decode())


def value(roost: RoostProcess, name: str, **labels: str) -> float:
    """One sample's value now (0 if absent)."""
    _, samples = scrape(roost)
    found = [s.value for s in samples if s.name == name and dict(s.labels) == labels]
    return found[0] if found else 0.0


def test_metrics_count_successes_retries_and_drops_per_function(
    roost: RoostProcess, client: Any, recorder: Recorder, function_name: str
) -> None:
    # Given: a function retried once after an error, two good events and one failing
    deploy_code(client, function_name, {"app.py": REPORTER})
    client.put_function_event_invoke_config(FunctionName=function_name, MaximumRetryAttempts=1)
    for event_id in ("ok-1", "ok-2"):
        send_event(client, function_name, {"id": event_id, "port": recorder.port})
    send_event(client, function_name, {"id": "bad", "port": recorder.port, "fail": True})
    invoke(client, function_name, {"id": "sync", "port": recorder.port})

    # When: every event is done
    fn = {"account": ACCOUNT, "function": function_name}
    dropped = "roost_async_events_dropped_total"
    wait_for(lambda: value(roost, dropped, **fn, reason="RetriesExhausted") == 1)
    wait_for(lambda: value(roost, "roost_async_events_succeeded_total", **fn) == 2)

    # Then: /metrics tells the story per function and reason, in Prometheus's format
    content_type, samples = scrape(roost)
    assert content_type.startswith("text/plain; version=0.0.4")

    def of(name: str, **extra: str) -> float:
        [found] = [s.value for s in samples if s.name == name and s.labels == {**fn, **extra}]
        return found

    assert of("roost_async_events_accepted_total") == 3
    assert of("roost_async_attempts_total") == 4
    assert of("roost_async_events_retried_total", reason="function-error") == 1
    assert of("roost_async_events_retried_total", reason="throttle") == 0
    assert of(dropped, reason="EventAgeExceeded") == 0
    assert of("roost_async_events_queued") == 0
    assert of("roost_async_events_in_flight") == 0
    assert of("roost_async_event_age_seconds_count") == 4
    assert of("roost_invocations_total") == 5  # 4 async attempts and the sync invoke
    queues = {s.labels["queue"] for s in samples if s.name == "roost_async_queue_depth"}
    assert {f"async-{n:03d}" for n in range(8)} <= queues
    assert [s.value for s in samples if s.name == "roost_async_queue_store_up"] == [1]
    assert any(s.name == "roost_environments" for s in samples)


def test_a_throttled_event_stays_queued_then_is_dropped_when_its_function_goes(
    roost: RoostProcess, client: Any, recorder: Recorder, function_name: str
) -> None:
    # Given: a function with reserved concurrency 0 and one event for it
    deploy_code(client, function_name, {"app.py": REPORTER})
    client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=0)
    send_event(client, function_name, {"id": "held", "port": recorder.port})
    fn = {"account": ACCOUNT, "function": function_name}

    # When: it has been throttled
    wait_for(lambda: value(roost, "roost_async_events_retried_total", **fn, reason="throttle") > 0)

    # Then: it is queued, counted as throttled, and sits in a queue
    assert value(roost, "roost_async_events_queued", **fn) == 1
    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert value(roost, "roost_throttles_total", **fn, reason=reason) > 0
    _, samples = scrape(roost)
    assert sum(s.value for s in samples if s.name == "roost_async_queue_depth") >= 1

    # And when the function is deleted, the event is dropped with that reason
    client.delete_function(FunctionName=function_name)
    dropped = "roost_async_events_dropped_total"
    wait_for(lambda: value(roost, dropped, **fn, reason="FunctionDeleted") == 1)
    assert value(roost, "roost_async_events_queued", **fn) == 0
    assert recorder.ids() == set()


def test_metrics_need_no_signature_and_only_answer_get(roost: RoostProcess) -> None:
    request = urllib.request.Request(f"{roost.endpoint}/metrics", method="POST", data=b"")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    refused.value.close()
    assert refused.value.code == 405
    assert scrape(roost)[0].startswith("text/plain")


def test_roost_async_stats_prints_a_function_s_figures(
    roost: RoostProcess,
    client: Any,
    recorder: Recorder,
    function_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: a function that ran one async event
    deploy_code(client, function_name, {"app.py": REPORTER})
    send_event(client, function_name, {"id": "one", "port": recorder.port})
    fn = {"account": ACCOUNT, "function": function_name}
    wait_for(lambda: value(roost, "roost_async_events_succeeded_total", **fn) == 1)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    flags = ["--endpoint-url", roost.endpoint, "--region", "us-east-1"]

    # When: roost async-stats asks for it, as JSON and as text
    assert roost_main(["async-stats", function_name, "--json", *flags]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert roost_main(["async-stats", function_name, *flags]) == 0
    text = capsys.readouterr().out

    # Then: the figures are the function's
    assert stats["FunctionArn"].endswith(f":{ACCOUNT}:function:{function_name}")
    assert (stats["accepted"], stats["succeeded"], stats["queued"]) == (1, 1, 0)
    assert stats["dropped"] == {"RetriesExhausted": 0, "EventAgeExceeded": 0, "FunctionDeleted": 0}
    assert stats["retried"]["throttle"] == 0
    assert "succeeded" in text and "dropped (RetriesExhausted)" in text


def test_roost_async_stats_of_a_missing_function_fails(
    roost: RoostProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")

    code = roost_main(["async-stats", "nope", "--endpoint-url", roost.endpoint])

    assert code == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err
