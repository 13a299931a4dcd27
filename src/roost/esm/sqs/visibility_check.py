"""AWS's create-time check of an SQS mapping: the queue hides a message as long as the
function may run.

A message Lambda received stays hidden for the queue's visibility timeout; if the
function may run longer, the message shows again mid-invoke and is processed
twice. Lambda therefore refuses ``CreateEventSourceMapping`` with
``InvalidParameterValueException: Queue visibility timeout: N seconds is less than
Function timeout: M seconds``. Reading the queue takes the SQS endpoint
(``--aws-endpoint-url``); when the queue cannot be read (no endpoint, the queue
does not exist yet, no answer in time) the check is skipped, and the poller
reports the problem once the mapping runs.
"""

from __future__ import annotations

import logging
from typing import Protocol

from roost.api.errors import InvalidParameterValueException
from roost.cancellation import within
from roost.esm.sqs.client import SqsClients

log = logging.getLogger(__name__)

# How long a create waits for the queue's attributes before skipping the check.
INSPECT_TIMEOUT_S = 5.0


class QueueInspector(Protocol):
    """Reads an SQS queue's settings for the control plane."""

    async def visibility_timeout_s(self, queue_arn: str) -> int | None:
        """The queue's ``VisibilityTimeout``; None when it cannot be read now."""


class SqsQueueInspector:
    """``QueueInspector`` through the node's SQS clients (``GetQueueUrl``, then
    ``GetQueueAttributes``), in their worker threads."""

    def __init__(self, clients: SqsClients, timeout_s: float = INSPECT_TIMEOUT_S) -> None:
        self._clients = clients
        self._timeout_s = timeout_s

    async def visibility_timeout_s(self, queue_arn: str) -> int | None:
        """The ``VisibilityTimeout`` of ``arn:aws:sqs:REGION:ACCOUNT:NAME``, or None."""
        parts = queue_arn.split(":")
        if len(parts) != 6:
            return None
        region, account, name = parts[3], parts[4], parts[5]
        try:
            return await within(self._read(region, account, name), self._timeout_s)
        except Exception as error:  # Unreachable, missing, denied: not this check's call.
            log.info("visibility timeout of %s not checked: %r", queue_arn, error)
            return None

    async def _read(self, region: str, account: str, name: str) -> int:
        url = await self._clients.call(
            region, "get_queue_url", QueueName=name, QueueOwnerAWSAccountId=account
        )
        attributes = await self._clients.call(
            region,
            "get_queue_attributes",
            QueueUrl=url["QueueUrl"],
            AttributeNames=["VisibilityTimeout"],
        )
        return int(attributes["Attributes"]["VisibilityTimeout"])


def check_visibility_timeout(visibility_timeout_s: int | None, function_timeout_s: int) -> None:
    """Refuse a queue that would show a message again while the function may still run."""
    if visibility_timeout_s is not None and visibility_timeout_s < function_timeout_s:
        raise InvalidParameterValueException(
            f"Queue visibility timeout: {visibility_timeout_s} seconds is less than "
            f"Function timeout: {function_timeout_s} seconds"
        )
