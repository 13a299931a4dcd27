"""The queue router: which internal queue an accepted async event goes to.

Shuffle sharding: each (account, function) hashes to two queues of the ring
and the event goes to the shallower one, so a noisy function fills at most two
queues, and any other function shares at most one of them with it (often
none), and can always take its other, shallower queue.

Backlog shards: a function version or alias whose backlog crosses a threshold
gets a queue of its own (``backlog_shards.py``). ``ShardRoute`` is the seam:
the router asks it first, so a shard's new events join its backlog there.

Express lane: a function whose async rate crosses a threshold gets dedicated
sideline queues, reaped when it goes quiet. ``ExpressLane`` is the seam: the
router asks it next and uses the queue it names. ``RateExpressLane``
(``express.py``) is the node's; ``NoExpressLane`` never names one.
"""

from __future__ import annotations

from typing import Protocol

from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.ring import HashRing

# How many queues of the ring each function may use (the "two choices").
SHARD_SIZE = 2


class ExpressLane(Protocol):
    """Sideline queues for hot functions."""

    def lane_for(self, account_id: str, function_name: str) -> str | None:
        """The function's dedicated queue, or None to use the shared ring."""


class NoExpressLane:
    """Every function uses the shared ring."""

    def lane_for(self, account_id: str, function_name: str) -> str | None:
        """Never a dedicated queue."""
        return None


class ShardRoute(Protocol):
    """Dedicated queues for backlogged (function, qualifier) shards."""

    def queue_for(self, account_id: str, function_name: str, qualifier: str | None) -> str | None:
        """The shard's own queue, or None to go on with the express lane and the ring."""


def shard_key(account_id: str, function_name: str) -> str:
    """What a function hashes by on the ring (versions and aliases share a shard)."""
    return f"{account_id}/{function_name}"


class QueueRouter:
    """Picks the queue of each event: backlog shard, express lane, else the shallower of two."""

    def __init__(
        self,
        ring: HashRing,
        gauge: DepthGauge,
        express: ExpressLane | None = None,
        shards: ShardRoute | None = None,
    ) -> None:
        self.ring = ring
        self._gauge = gauge
        self._express = express or NoExpressLane()
        self._shards = shards

    def shard(self, account_id: str, function_name: str) -> tuple[str, ...]:
        """The shared queues the function may use."""
        return self.ring.candidates(shard_key(account_id, function_name), SHARD_SIZE)

    def route(self, account_id: str, function_name: str, qualifier: str | None = None) -> str:
        """The queue for the function's next event, sent to ``qualifier`` (None:
        unqualified): its backlog shard's, else its express lane's, else the
        shallower of its two ring queues (ties go to the first candidate)."""
        if self._shards is not None:
            shard = self._shards.queue_for(account_id, function_name, qualifier)
            if shard is not None:
                return shard
        lane = self._express.lane_for(account_id, function_name)
        if lane is not None:
            return lane
        return min(self.shard(account_id, function_name), key=self._gauge.depth)
