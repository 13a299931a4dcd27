"""The DynamoDB Streams source: shard discovery and Lambda's DynamoDB record shape.

DynamoDB Streams speaks Kinesis's shard-iterator protocol, so its shards are
read by the same ``ShardReader`` (``roost.esm.kinesis``) through
``DynamoDbStream``.
"""

from __future__ import annotations

from roost.esm.dynamodb.records import DynamoDbStreamArn, attribute_value, lambda_record
from roost.esm.dynamodb.stream import DynamoDbStream

__all__ = ["DynamoDbStream", "DynamoDbStreamArn", "attribute_value", "lambda_record"]
