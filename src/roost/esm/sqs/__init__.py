"""The SQS source: a boto3 connector and the Lambda SQS event record shape."""

from __future__ import annotations

from roost.esm.sqs.client import SqsClients
from roost.esm.sqs.connector import SqsConnector, SqsConnectorFactory
from roost.esm.sqs.records import lambda_record, queue_name_and_owner

__all__ = [
    "SqsClients",
    "SqsConnector",
    "SqsConnectorFactory",
    "lambda_record",
    "queue_name_and_owner",
]
