"""``QueueStore`` on Redis: the async data plane's internal queues, shared by every node.

A queue is a few keys (``queue_scripts`` has the layout) and every mutation is
one Lua script, atomic on the server, with this node's clock reading passed in.
Sends go through a ``SendCoalescer``: the sends that arrive while one script
call is on its way share the next call, so under load one round trip and one
AOF fsync carry many messages. Receives, deletes and visibility changes are one
call each.

Durability: a send returns once Redis has answered its script. Redis answers a
write only after appending it to its AOF, and with ``appendfsync always`` after
fsyncing it, so an acknowledged send survives a crash of Redis and of its
machine. With ``appendfsync everysec`` (Redis's default) a power loss or kernel
crash can lose up to about the last second of acknowledged writes; without AOF,
everything since the last snapshot. ``open`` logs a warning unless the server
says ``appendonly yes`` and ``appendfsync always``.

Long polls sleep on this node's ``QueueSignals``. A send or visibility change
on this node wakes them directly; one on another node reaches them through a
pub/sub channel (``queue_wakeups``). As pub/sub may drop a notice, a poll never
sleeps longer than ``RECHECK_S`` without asking Redis again.

Redis Cluster: one queue's keys share a slot (hash tag), but the scripts also
touch the shared index of queue names and the sequence counter, so as they
stand the scripts need every key in one slot (a single server, or a namespace
that is itself a hash tag).
"""

from __future__ import annotations

import builtins
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis.exceptions as redis_errors

from roost.store.errors import StoreUnavailable
from roost.store.long_poll import QueueSignals, long_poll
from roost.store.ports import QueueDepth, ReceivedMessage, ReceiveOrder
from roost.store.queue_support import (
    ReceiveAttempt,
    check_receive,
    check_send,
    check_timeout,
    make_receipt,
    new_receipt_token,
    parse_receipt,
    to_ms,
)
from roost.store.redis import queue_scripts as scripts
from roost.store.redis.connection import DEFAULT_NAMESPACE, RedisConnection
from roost.store.redis.queue_scripts import QueueKeys, member
from roost.store.redis.queue_wakeups import RECHECK_S, WakeListener
from roost.store.redis.send_coalescer import (
    DEFAULT_MAX_BATCH_MESSAGES,
    CoalesceStats,
    PendingSend,
    SendCoalescer,
)

log = logging.getLogger(__name__)


class RedisQueueStore:
    """Queues in Redis under ``connection``'s namespace; ``clock`` (Unix seconds) stamps them.

    Open with ``await RedisQueueStore.open(url)``; every node of a cluster opens
    the same server and namespace and sees the same queues. ``stats`` counts
    the send script calls and the sends they carried.
    """

    def __init__(
        self,
        connection: RedisConnection,
        *,
        clock: Callable[[], float] = time.time,
        max_batch_messages: int = DEFAULT_MAX_BATCH_MESSAGES,
    ) -> None:
        self._connection = connection
        self._clock = clock
        self._index = connection.key("queues")
        self._sequence = connection.key("queue-sequence")
        self._channel = connection.key("queue-wake")
        self._send = connection.script(scripts.SEND)
        self._receive = connection.script(scripts.RECEIVE)
        self._delete = connection.script(scripts.DELETE)
        self._hide = connection.script(scripts.HIDE)
        self._depth = connection.script(scripts.DEPTH, read_only=True)
        self._oldest_sent = connection.script(scripts.OLDEST_SENT, read_only=True)
        self._keys: dict[str, QueueKeys] = {}
        self._signals = QueueSignals()
        self._coalescer = SendCoalescer(self._write_sends, max_batch_messages=max_batch_messages)
        self._wakeups = WakeListener(connection.client, self._channel, self._signals)
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 5.0,
        max_batch_messages: int = DEFAULT_MAX_BATCH_MESSAGES,
    ) -> RedisQueueStore:
        """Connect to ``url`` (``redis://host:port/db``) and check that it answers."""
        connection = RedisConnection.from_url(
            url, namespace=namespace, timeout_s=timeout_s, resend_on_reconnect=True
        )
        try:
            await _check_persistence(connection)
        except BaseException:
            await connection.close()
            raise
        return cls(connection, clock=clock, max_batch_messages=max_batch_messages)

    @property
    def stats(self) -> CoalesceStats:
        """Send script calls and the sends and messages in them, since opening."""
        return self._coalescer.stats

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the Redis queue store is closed")

    def _queue_keys(self, queue: str) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = QueueKeys.of(self._connection, queue)
        return keys

    async def send(self, queue: str, body: bytes, *, delay_s: float = 0.0) -> str:
        (message_id,) = await self.send_batch(queue, [body], delay_s=delay_s)
        return message_id

    async def send_batch(
        self, queue: str, bodies: Sequence[bytes], *, delay_s: float = 0.0
    ) -> builtins.list[str]:
        self._check_open()
        check_send(delay_s)
        rows = [(uuid.uuid4().hex, bytes(body)) for body in bodies]
        if rows:
            await self._coalescer.submit(queue, rows, to_ms(delay_s))
        return [message_id for message_id, _ in rows]

    async def _write_sends(self, batch: builtins.list[PendingSend]) -> None:
        """One SEND script call storing every send of ``batch``."""
        # One group per queue and delay, not per send: every group costs five
        # keys and five arguments to encode. Sends merged into one group keep
        # their arrival order; a group's place among the others does not matter,
        # as those are other queues or concurrent sends.
        groups: dict[tuple[str, int], builtins.list[tuple[str, bytes]]] = {}
        for pending in batch:
            groups.setdefault((pending.queue, pending.delay_ms), []).extend(pending.rows)
        total = sum(len(rows) for rows in groups.values())
        keys = [self._index, self._sequence]
        args: builtins.list[Any] = [to_ms(self._clock()), self._channel, total]
        for (queue, delay_ms), rows in groups.items():
            keys += self._queue_keys(queue).all()
            ids = "".join(message_id for message_id, _ in rows)
            bodies = scripts.pack_bodies([body for _, body in rows])
            args += [queue, delay_ms, len(rows), ids, bodies]
        await self._send(keys, args)
        # This node's polls wake at once; other nodes' through the channel.
        for queue, delay_ms in groups:
            if not delay_ms:
                self._signals.notify(queue)

    async def receive(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        visibility_timeout_s: float = 30.0,
        wait_s: float = 0.0,
        order: ReceiveOrder = ReceiveOrder.OLDEST_FIRST,
    ) -> builtins.list[ReceivedMessage]:
        self._check_open()
        check_receive(max_messages, visibility_timeout_s, wait_s)
        newest = ReceiveOrder(order) is ReceiveOrder.NEWEST_FIRST
        hide_ms = to_ms(visibility_timeout_s)
        keys = self._queue_keys(queue).all()
        if wait_s > 0:
            # Subscribed before the first look: a send from another node
            # after it cannot go unnoticed.
            await self._wakeups.ready(wait_s)

        async def attempt() -> ReceiveAttempt:
            self._check_open()
            now_ms = to_ms(self._clock())
            token = new_receipt_token()
            args = [now_ms, max_messages, hide_ms, "newest" if newest else "oldest", token]
            reply = await self._receive(keys, args)
            self._check_open()  # Closed meanwhile: the poll ends now.
            return _received(reply, now_ms, token)

        return await long_poll(attempt, self._signals, queue, wait_s, self._clock)

    async def delete(self, queue: str, receipt: str) -> bool:
        self._check_open()
        parsed = parse_receipt(receipt)
        if parsed is None:
            return False
        sequence, token = parsed
        keys = [*self._queue_keys(queue).all(), self._index]
        return bool(await self._delete(keys, [member(sequence), token, queue]))

    async def change_visibility(self, queue: str, receipt: str, timeout_s: float) -> bool:
        self._check_open()
        check_timeout(timeout_s)
        parsed = parse_receipt(receipt)
        if parsed is None:
            return False
        sequence, token = parsed
        now_ms = to_ms(self._clock())
        args = [member(sequence), token, now_ms + to_ms(timeout_s), now_ms, queue, self._channel]
        changed = bool(await self._hide(self._queue_keys(queue).all(), args))
        if changed:
            # Visible now or sooner than a sleeping poll expects: it looks again.
            self._signals.notify(queue)
        return changed

    async def depth(self, queue: str) -> QueueDepth:
        self._check_open()
        now_ms = to_ms(self._clock())
        visible, hidden, delayed = await self._depth(self._queue_keys(queue).all(), [now_ms])
        return QueueDepth(int(visible), int(hidden) - int(delayed), int(delayed))

    async def oldest_age_s(self, queue: str) -> float | None:
        """Seconds since the first-sent undeleted message was sent.

        "First" is by the order Redis stored the sends in; with nodes whose
        clocks disagree it may not be the smallest send time.
        """
        self._check_open()
        sent_ms = await self._oldest_sent(self._queue_keys(queue).all(), [])
        if sent_ms is None:
            return None
        return max(0.0, (to_ms(self._clock()) - int(sent_ms)) / 1000)

    async def queues(self) -> builtins.list[str]:
        self._check_open()
        names = await self._connection.call(lambda: self._connection.client.smembers(self._index))
        return sorted(name.decode() if isinstance(name, bytes) else name for name in names)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._coalescer.close()
        self._signals.notify_all()
        await self._wakeups.close()
        await self._connection.close()


def _received(reply: builtins.list[Any], now_ms: int, token: str) -> ReceiveAttempt:
    """A RECEIVE script's reply as an attempt; an empty one looks again by ``RECHECK_S``."""
    if len(reply) == 1:
        due_ms = now_ms + to_ms(RECHECK_S)
        if reply[0] is not None:
            due_ms = min(due_ms, int(float(reply[0])))
        return ReceiveAttempt([], due_ms)
    messages = [
        ReceivedMessage(
            message_id=message_id.decode(),
            body=bytes(body),
            receipt=make_receipt(int(sequence), token),
            receive_count=int(count),
            sent_at_ms=int(sent_ms),
            first_received_at_ms=int(first_ms),
        )
        for sequence, message_id, body, sent_ms, count, first_ms in reply[1:]
    ]
    return ReceiveAttempt(messages, None)


async def _check_persistence(connection: RedisConnection) -> None:
    """Ping the server; warn when its AOF settings do not make a send durable."""
    client = connection.client
    await connection.call(lambda: client.ping())
    try:
        settings = await connection.call(lambda: client.config_get("append*"))
    except redis_errors.ResponseError:
        return  # CONFIG is disabled (managed Redis): nothing to check.
    if settings.get("appendonly") != "yes" or settings.get("appendfsync") != "always":
        log.warning(
            "Redis persistence is appendonly=%s appendfsync=%s: acknowledged sends "
            "may be lost in a crash (Roost expects appendonly yes, appendfsync always)",
            settings.get("appendonly"),
            settings.get("appendfsync"),
        )
