"""``SourceFactories``: the connector or stream source factory of every source type on a node.

They share boto3 clients per service (SQS, Kinesis, DynamoDB Streams) on the
node's AWS endpoint, and the Kafka factory its producers; ``close`` releases
them all when the node stops. A fault hook (tests) reaches the AWS clients, not
Kafka's.
"""

from __future__ import annotations

from collections.abc import Mapping

from roost.esm.aws_clients import AwsClients
from roost.esm.connector import ConnectorFactory
from roost.esm.dynamodb.source import DynamoDbSourceFactory
from roost.esm.kafka import KafkaSourceFactory
from roost.esm.kinesis.source import KinesisSourceFactory, RoleLookup
from roost.esm.sources import SourceType
from roost.esm.sqs import SqsClients, SqsConnectorFactory
from roost.esm.stream.source import StreamSourceFactory
from roost.store.faults import FaultHook

# Stream reads are short calls; a few threads serve every shard of a node.
STREAM_CALL_THREADS = 16


class SourceFactories:
    """Every source type's factory, over clients shared by the node."""

    def __init__(
        self,
        endpoint_url: str | None,
        *,
        sqs_receive_threads: int,
        role_of: RoleLookup,
        faults: FaultHook | None = None,
    ) -> None:
        self.sqs_clients = SqsClients(
            endpoint_url, receive_threads=sqs_receive_threads, faults=faults
        )
        # One attempt per call: the shard reader backs off on throttles itself.
        self._kinesis = AwsClients(
            "kinesis",
            endpoint_url,
            call_threads=STREAM_CALL_THREADS,
            max_attempts=1,
            faults=faults,
        )
        self._dynamodb = AwsClients(
            "dynamodbstreams",
            endpoint_url,
            call_threads=STREAM_CALL_THREADS,
            max_attempts=1,
            faults=faults,
        )
        self._kafka = KafkaSourceFactory()
        self._factories: dict[SourceType, ConnectorFactory | StreamSourceFactory] = {
            SourceType.SQS: SqsConnectorFactory(self.sqs_clients),
            SourceType.KINESIS: KinesisSourceFactory(self._kinesis, role_of),
            SourceType.DYNAMODB_STREAMS: DynamoDbSourceFactory(self._dynamodb),
            SourceType.KAFKA: self._kafka,
        }

    def by_type(self) -> Mapping[SourceType, ConnectorFactory | StreamSourceFactory]:
        """The factory of each source type."""
        return dict(self._factories)

    async def close(self) -> None:
        """Release every client (calls in flight end on their own)."""
        self.sqs_clients.close()
        self._kinesis.close()
        self._dynamodb.close()
        await self._kafka.close()
