"""The Kinesis source: shard discovery, ``ShardReader``s and Lambda's Kinesis record shape.

The shard model, the ``StreamApi`` port and the reader are shared with
DynamoDB Streams (``roost.esm.dynamodb``), which speaks the same
shard-iterator protocol.
"""

from __future__ import annotations

from roost.esm.kinesis.reader import ReaderSettings, ShardReader
from roost.esm.kinesis.records import KinesisRecordContext, StreamArn, lambda_record
from roost.esm.kinesis.stream import KinesisStream
from roost.esm.kinesis.stream_api import (
    ExpiredIteratorError,
    RecordsPage,
    StreamApi,
    StreamError,
    ThrottledError,
    TrimmedDataError,
)
from roost.esm.shards import (
    IteratorPosition,
    IteratorType,
    Shard,
    readable_shards,
    sequence_key,
)
from roost.esm.stream.source import ShardRead

__all__ = [
    "ExpiredIteratorError",
    "IteratorPosition",
    "IteratorType",
    "KinesisRecordContext",
    "KinesisStream",
    "ReaderSettings",
    "RecordsPage",
    "Shard",
    "ShardRead",
    "ShardReader",
    "StreamApi",
    "StreamArn",
    "StreamError",
    "ThrottledError",
    "TrimmedDataError",
    "lambda_record",
    "readable_shards",
    "sequence_key",
]
