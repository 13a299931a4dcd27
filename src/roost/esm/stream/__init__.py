"""Stream event source mappings: Kinesis, DynamoDB Streams and Kafka, read shard by shard.

A stream mapping's runner (``runner``) keeps one shard worker (``shard_worker``)
per shard it may read now (parents finished, see ``roost.esm.positions``); a
shard worker reads its shard in order, splits it into ``ParallelizationFactor``
lanes by partition key, batches, invokes, retries or bisects failed batches
(``batch_retry``), and advances the shard's checkpoint
(``roost.esm.stream_checkpoint``). Sources plug in through ``source``.
"""
