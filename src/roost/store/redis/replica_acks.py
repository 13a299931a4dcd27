"""Writes acknowledged only once replicas have them: ``WAIT`` after every script.

Redis replicates asynchronously: the primary answers a write before any
replica has it, so a failover can promote a replica that misses writes the
primary had acknowledged. A store URL with ``?wait_replicas=N`` (and
optionally ``wait_timeout_ms``, 1000 by default) closes that window: every
script call (all of the adapters' writes are scripts) is followed by
``WAIT N timeout`` on the same connection, in one pipeline, and the call
succeeds only if ``N`` replicas confirmed it. Otherwise it raises
``StoreUnavailable``: the write did land on the primary, but it is not yet
safe, so the caller learns no more than it would from a lost reply.

``WAIT`` refers to the writes its own connection sent, which is why it rides
in the script's pipeline: a re-send after a lost connection re-sends both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis.asyncio as redis_asyncio
import redis.exceptions as redis_errors
from redis.commands.core import AsyncScript

from roost.store.errors import StoreUnavailable

DEFAULT_WAIT_TIMEOUT_MS = 1000
_OPTIONS = ("wait_replicas", "wait_timeout_ms")


@dataclass(frozen=True)
class ReplicaAcks:
    """How many replicas must confirm each write, and how long to wait for them."""

    replicas: int
    timeout_ms: int = DEFAULT_WAIT_TIMEOUT_MS

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError("wait_replicas must be at least 1")
        # WAIT with a timeout of 0 blocks for ever; a call must never hang.
        if self.timeout_ms < 1:
            raise ValueError("wait_timeout_ms must be positive")

    async def run(
        self,
        client: redis_asyncio.Redis,
        script: AsyncScript,
        keys: list[str],
        args: list[Any],
    ) -> Any:
        """Run ``script`` then ``WAIT``; its reply once enough replicas have the write."""
        # Loaded scripts are not replicated, so a newly promoted primary (or a
        # restarted one) answers NOSCRIPT once: load it and send again.
        for _ in range(2):
            pipe = client.pipeline(transaction=False)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            pipe.wait(self.replicas, self.timeout_ms)
            reply, acked = await pipe.execute(raise_on_error=False)
            if isinstance(reply, redis_errors.NoScriptError):
                await client.script_load(script.script)
                continue
            if isinstance(reply, Exception):
                raise reply
            if isinstance(acked, Exception):
                raise acked
            if int(acked) < self.replicas:
                raise StoreUnavailable(
                    f"the write reached {acked} of {self.replicas} replica(s) "
                    f"within {self.timeout_ms} ms; it is on the primary but not yet safe"
                )
            return reply
        raise StoreUnavailable("Redis lost the script it was just sent")


def take_replica_acks(url: str) -> tuple[str, ReplicaAcks | None]:
    """``url`` without its ``wait_replicas``/``wait_timeout_ms`` options, and those options."""
    # Split by hand rather than re-assemble with urllib, which rewrites some
    # URLs (``unix:///path`` loses its empty authority).
    base, _, query_text = url.partition("?")
    query = parse_qsl(query_text, keep_blank_values=True)
    ours = {name: value for name, value in query if name in _OPTIONS}
    if not ours:
        return url, None
    rest = urlencode([(name, value) for name, value in query if name not in _OPTIONS])
    stripped = f"{base}?{rest}" if rest else base
    if "wait_replicas" not in ours:
        raise ValueError(f"wait_timeout_ms needs wait_replicas in {url!r}")
    try:
        acks = ReplicaAcks(
            int(ours["wait_replicas"]),
            int(ours.get("wait_timeout_ms", DEFAULT_WAIT_TIMEOUT_MS)),
        )
    except ValueError as error:
        raise ValueError(f"bad replica options in {url!r}: {error}") from None
    return stripped, acks
