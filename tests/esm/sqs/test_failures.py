"""SQS mappings end to end: failures, partial batch responses, FIFO order, DLQ,
MaximumConcurrency, disable and enable."""

from __future__ import annotations

import json
from typing import Any

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import (
    POWERTOOLS_HANDLER,
    FailOnce,
    batches,
    create_queue,
    deploy_reporter,
    deploy_zip,
    done_ids,
    map_queue,
    powertools_zip,
    processed_ids,
    queue_depth,
    send,
    wait_for,
    wait_state,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.overlap import peak_overlap
from tests.fixtures.roost_process import RoostProcess


def test_powertools_partial_batch_response_retries_only_the_failed_messages(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a handler using Powertools' BatchProcessor, and 3 of 10 messages failing once
    client = esm_roost.client()
    deploy_zip(client, function_name, powertools_zip(POWERTOOLS_HANDLER), timeout_s=6)
    # Long enough that a successful message is deleted before it could show again
    # on a loaded machine (only the failed ones may run twice).
    url, arn = create_queue(moto_server, VisibilityTimeout="6")
    map_queue(
        client,
        function_name,
        arn,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    failing = {"m1", "m4", "m7"}
    send(
        moto_server,
        url,
        [
            {"id": f"m{i}", "port": recorder.port, "fail": int(f"m{i}" in failing)}
            for i in range(10)
        ],
    )
    # Then every message succeeds in the end, and only the failed ones ran twice
    wait_for(lambda: done_ids(recorder) == {f"m{i}" for i in range(10)})
    wait_for(lambda: queue_depth(moto_server, url) == 0)
    seen = processed_ids(recorder)
    for i in range(10):
        expected = 2 if f"m{i}" in failing else 1
        assert seen.count(f"m{i}") == expected, (f"m{i}", seen)


def test_fifo_groups_stay_in_order_and_a_failed_group_blocks_only_itself(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name, mode="partial", timeout_s=4)
    url, arn = create_queue(moto_server, fifo=True, VisibilityTimeout="4")
    map_queue(
        client, function_name, arn, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    # Given three groups; the second message of group a fails its first run
    oracle = FailOnce({"a1"})
    messages: list[dict[str, Any]] = []
    for seq in range(5):
        for group in "abc":
            messages.append(
                {
                    "id": f"{group}{seq}",
                    "group": group,
                    "port": recorder.port,
                    "fail_once": oracle.port,
                }
            )
    try:
        send(moto_server, url, messages)
        wait_for(lambda: len(done_ids(recorder)) == 15)
        wait_for(lambda: queue_depth(moto_server, url) == 0)
    finally:
        oracle.close()

    # Then, in every group, each message was done after the one before it
    done_at: dict[str, float] = {}
    for batch in batches(recorder):
        for i in batch["ids"]:
            if i not in batch["failed"]:
                done_at[i] = batch["start"]
    last_seen: dict[str, int] = {}
    for index, i in enumerate(processed_ids(recorder)):
        last_seen[i] = index
    for group in "abc":
        order = [last_seen[f"{group}{seq}"] for seq in range(5)]
        assert order == sorted(order), (
            group,
            [(b["ids"], b["failed"], b["groups"]) for b in batches(recorder)],
        )
    # and groups b and c were done before a's failed message came back
    retry_of_a1 = max(b["start"] for b in batches(recorder) if "a1" in b["ids"])
    timeline = [
        (round(b["start"] - retry_of_a1, 2), b["ids"], b["failed"]) for b in batches(recorder)
    ]
    assert all(done_at[f"{g}{s}"] < retry_of_a1 for g in "bc" for s in range(5)), timeline


def test_a_message_failing_every_time_lands_in_the_queue_dead_letter_queue(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name, mode="raise", timeout_s=1)
    dlq_url, dlq_arn = create_queue(moto_server)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url, arn = create_queue(moto_server, VisibilityTimeout="1", RedrivePolicy=redrive)
    map_queue(client, function_name, arn, BatchSize=1)
    send(moto_server, url, [{"id": "poison", "port": recorder.port, "fail": 99}])

    sqs = moto_server.client("sqs")
    found: list[dict[str, Any]] = []

    def in_dlq() -> bool:
        found.extend(sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", []))
        return bool(found)

    wait_for(in_dlq)
    assert json.loads(found[0]["Body"])["id"] == "poison"
    assert processed_ids(recorder).count("poison") == 2


def test_maximum_concurrency_is_never_exceeded(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server)
    send(
        moto_server,
        url,
        [{"id": f"m{i}", "port": recorder.port, "sleep": 0.3} for i in range(24)],
    )
    map_queue(client, function_name, arn, BatchSize=1, ScalingConfig={"MaximumConcurrency": 2})
    wait_for(lambda: len(done_ids(recorder)) == 24)
    # Measured in the handler: invokes whose run overlapped in time.
    intervals = [(b["start"], b["end"]) for b in batches(recorder)]
    assert peak_overlap(intervals) <= 2


def test_a_disabled_mapping_stops_polling_and_resumes_when_enabled(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server)
    uuid = map_queue(client, function_name, arn)
    send(moto_server, url, [{"id": "first", "port": recorder.port}])
    wait_for(lambda: "first" in done_ids(recorder))

    client.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_state(client, uuid, "Disabled")
    send(moto_server, url, [{"id": "while-disabled", "port": recorder.port}])
    # Nobody reads the queue: the message stays visible there.
    sqs = moto_server.client("sqs")
    for _ in range(3):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "1"
        wait_for(lambda: True)
    assert "while-disabled" not in processed_ids(recorder)

    client.update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_state(client, uuid, "Enabled")
    wait_for(lambda: "while-disabled" in done_ids(recorder))


def test_a_deleted_mapping_is_removed_once_its_poller_stopped(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    _, arn = create_queue(moto_server)
    uuid = map_queue(client, function_name, arn)
    assert client.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"

    def gone() -> bool:
        try:
            client.get_event_source_mapping(UUID=uuid)
        except client.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_for(gone, 30)


def test_disabling_a_mapping_returns_the_messages_it_held_unsent_at_once(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a mapping collecting a batch for 20 s, holding 3 messages received so far
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server, VisibilityTimeout="60")
    uuid = map_queue(client, function_name, arn, BatchSize=100, MaximumBatchingWindowInSeconds=20)
    send(moto_server, url, [{"id": f"held-{i}", "port": recorder.port} for i in range(3)])
    sqs = moto_server.client("sqs")

    def counts() -> tuple[int, int]:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    wait_for(lambda: counts() == (0, 3), timeout_s=15)

    # When the mapping is disabled before its batch is due
    client.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_state(client, uuid, "Disabled")

    # Then the messages it held are visible again at once, not after the queue's 60 s
    # visibility timeout, and none of them ran
    wait_for(lambda: counts() == (3, 0), timeout_s=15)
    assert not any(i.startswith("held-") for i in processed_ids(recorder))
