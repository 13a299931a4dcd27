"""The SQS connector against moto's server: deletes whose entries fail."""

from __future__ import annotations

import asyncio
import logging

import boto3
import pytest

from roost.esm.connector import SourceRecord
from roost.esm.sqs.client import SqsClients
from roost.esm.sqs.connector import SqsConnector
from tests.esm.sqs.support import create_queue, queue_depth, send
from tests.fixtures.moto_server import MOTO_CREDENTIALS, MotoServer


def test_a_delete_sqs_refuses_is_logged_and_the_others_still_go(
    moto_server: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two received messages, one of whose receipts is no longer valid
    url, arn = create_queue(moto_server, VisibilityTimeout="30")
    send(moto_server, url, [{"id": "a"}, {"id": "b"}])

    async def scenario() -> None:
        clients = SqsClients(
            moto_server.endpoint, session=boto3.session.Session(**MOTO_CREDENTIALS)
        )
        connector = SqsConnector(clients, arn, fifo=False)
        try:
            await connector.open()
            records: list[SourceRecord] = []
            while len(records) < 2:
                records += await connector.poll(10, 1)
            stale = SourceRecord(
                records[1].record_id, records[1].event_record, 0, "not-a-receipt-handle"
            )
            # When both are deleted in one batch
            with caplog.at_level(logging.WARNING, logger="roost.esm.sqs.connector"):
                await connector.commit([records[0], stale])
        finally:
            clients.close()

    asyncio.run(scenario())

    # Then the valid one is gone, the other stays (to run again), and the log says so
    assert queue_depth(moto_server, url) == 1
    assert "1 of 2 messages not deleted (ReceiptHandleIsInvalid)" in caplog.text
