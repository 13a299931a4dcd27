"""``PollPacer``: how long a shard worker waits before reading an idle shard again.

Latency wants a shard read often; the source wants it read at most a few times
a second (Kinesis allows 5 ``GetRecords`` per second per shard, shared by every
consumer; DynamoDB Streams about as many). The pacer reads again at once after
a read that brought records, waits ``interval_s`` after an empty one, doubles
the interval when the source throttles and lets it shrink back slowly while
reads succeed: fast against a source that allows it (moto, a quiet stream),
close to the limit of one that does not.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MIN_INTERVAL_S = 0.05
DEFAULT_MAX_INTERVAL_S = 2.0
# Each successful read takes this share off the interval (back to the minimum).
RECOVERY = 0.9


@dataclass
class PollPacer:
    """The idle-read interval of one shard, adapting to throttles."""

    min_interval_s: float = DEFAULT_MIN_INTERVAL_S
    max_interval_s: float = DEFAULT_MAX_INTERVAL_S

    def __post_init__(self) -> None:
        self.interval_s = self.min_interval_s

    def read_ok(self) -> None:
        """A read went through: the interval creeps back towards the minimum."""
        self.interval_s = max(self.min_interval_s, self.interval_s * RECOVERY)

    def throttled(self) -> None:
        """The source refused a read: wait twice as long between idle reads."""
        self.interval_s = min(self.max_interval_s, self.interval_s * 2)
