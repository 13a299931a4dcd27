"""``KafkaSettings``: how Roost's Kafka clients connect, wait and fetch, in one typed place."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class KafkaSettings:
    """Client settings of one mapping's source (every client it opens shares them).

    ``bootstrap_servers`` is filled in per mapping by ``KafkaSourceFactory``.
    ``read_wait_s`` is how long an empty ``read`` waits for a record;
    ``request_timeout_s`` bounds any broker request (and so ``open``);
    ``max_partition_fetch_bytes`` bounds what a reader prefetches.
    ``fetch_wait_s`` is how long the broker holds a fetch of an idle partition;
    a fetch in flight is not aborted by a seek, so it is kept under
    ``read_wait_s`` for a read right after a rewind to see the rewound records.
    """

    bootstrap_servers: tuple[str, ...] = ()
    client_id: str = "roost"
    read_wait_s: float = 0.5
    fetch_wait_s: float = 0.2
    request_timeout_s: float = 10.0
    max_partition_fetch_bytes: int = 1024 * 1024
    max_records_per_read: int = 10_000

    def for_servers(self, servers: tuple[str, ...]) -> KafkaSettings:
        """These settings for a cluster's bootstrap servers."""
        return replace(self, bootstrap_servers=servers)

    @property
    def bootstrap_text(self) -> str:
        """The servers as one comma-separated string (the event's ``bootstrapServers``)."""
        return ",".join(self.bootstrap_servers)


def common_config(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments every aiokafka client of ``settings`` takes."""
    return {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": settings.client_id,
        "request_timeout_ms": int(settings.request_timeout_s * 1000),
    }


def consumer_config(settings: KafkaSettings, group_id: str | None) -> dict[str, Any]:
    """``AIOKafkaConsumer`` keyword arguments: manual assignment, no automatic commits."""
    return {
        **common_config(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        # An offset trimmed by retention restarts at the earliest kept, as on Kinesis.
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
        "fetch_max_wait_ms": int(settings.fetch_wait_s * 1000),
        # Raw bytes: the event carries them in base64.
        "key_deserializer": None,
        "value_deserializer": None,
    }
