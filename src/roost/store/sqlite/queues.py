"""``QueueStore`` on SQLite: the async data plane's internal queues in one file.

The queues live in their own database file (``<data-dir>/queues.db``), apart
from the config store, so a flood of events never waits behind control-plane
writes for SQLite's single writer. Every write (send, receive, delete, change
of visibility) goes through a ``GroupCommitter``: writes that arrive while a
transaction commits share the next one, so with WAL and ``synchronous=FULL``
one fsync makes a whole batch durable. Only sends wait for an fsync: receives,
deletes and visibility changes commit without one (the port allows a power loss
to undo them, which only brings a message back).

A message is one row. Its sequence (the rowid) orders sends and names it in
receipts; ``visible_at_ms`` is when it may next be received (send time plus
delay, or the end of its visibility timeout); ``token`` is the secret of the
latest receive, so an older receipt no longer matches.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from roost.store.errors import StoreUnavailable
from roost.store.long_poll import Claim, QueueSignals, Waiter, long_poll
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
from roost.store.sqlite.database import SqliteDatabase
from roost.store.sqlite.group_commit import DEFAULT_MAX_BATCH_OPS, CommitStats, GroupCommitter

log = logging.getLogger(__name__)

# A delete rides in the next transaction another write starts, or commits on its
# own after this long: at low load it then never holds up the next send.
DELETE_LINGER_S = 0.005

# The queue database's file name in a data directory, beside the config store's.
QUEUE_DATABASE_NAME = "queues.db"

# Schema history; entry i upgrades PRAGMA user_version i to i + 1. Append only.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE queue_messages (
        sequence             INTEGER PRIMARY KEY,
        queue                TEXT NOT NULL,
        message_id           TEXT NOT NULL,
        body                 BLOB NOT NULL,
        sent_at_ms           INTEGER NOT NULL,
        visible_at_ms        INTEGER NOT NULL,
        receive_count        INTEGER NOT NULL DEFAULT 0,
        first_received_at_ms INTEGER,
        token                TEXT
    )
    """,
    # An index carries the rowid as its last column, so this one hands out the
    # visible messages of a queue already in (visible_at_ms, sequence) order:
    # a receive is a range scan with no sort however deep the backlog.
    "CREATE INDEX queue_messages_by_visibility ON queue_messages (queue, visible_at_ms)",
    # The oldest message of a queue, and the list of queues, in O(log n).
    "CREATE INDEX queue_messages_by_age ON queue_messages (queue, sent_at_ms)",
    # Newest-first receives (backlog recovery): a backward range scan in send
    # order; visible_at_ms rides in the index so the hidden messages it steps
    # over (in flight, backing off) cost no table lookup.
    "CREATE INDEX queue_messages_by_send ON queue_messages (queue, sequence, visible_at_ms)",
)


class SqliteQueueStore:
    """Queues in one SQLite table; ``clock`` (Unix seconds) stamps and ages messages.

    Open with ``await SqliteQueueStore.open(path)``. ``max_batch_ops`` bounds a
    group commit (1 makes every write its own transaction: the baseline the
    benchmark compares against). ``stats`` counts transactions and operations.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        max_batch_ops: int = DEFAULT_MAX_BATCH_OPS,
    ) -> None:
        self.path = path
        self._clock = clock
        self._db = SqliteDatabase(path, MIGRATIONS)
        self._committer = GroupCommitter(self._db, clock, max_batch_ops=max_batch_ops)
        self._signals = QueueSignals(on_abandoned=self._release)
        # Releases of handed-off messages nobody took (kept so they finish).
        self._releasing: set[asyncio.Task[bool]] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        max_batch_ops: int = DEFAULT_MAX_BATCH_OPS,
    ) -> SqliteQueueStore:
        """Open (creating if needed) the queue database at ``path`` and check it is usable."""
        store = cls(path, clock=clock, max_batch_ops=max_batch_ops)
        await store._db.verify()
        return store

    @property
    def stats(self) -> CommitStats:
        """Transactions committed and operations in them, since opening."""
        return self._committer.stats

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"sqlite database {self.path} is closed")

    async def send(self, queue: str, body: bytes, *, delay_s: float = 0.0) -> str:
        (message_id,) = await self.send_batch(queue, [body], delay_s=delay_s)
        return message_id

    async def send_batch(
        self, queue: str, bodies: Sequence[bytes], *, delay_s: float = 0.0
    ) -> builtins.list[str]:
        self._check_open()
        check_send(delay_s)
        rows = [(uuid.uuid4().hex, bytes(body)) for body in bodies]
        if not rows:
            return []
        delay_ms = to_ms(delay_s)
        # Long polls waiting on the queue get the new messages from this very
        # transaction (a delayed message is nobody's yet).
        waiters = [] if delay_ms else self._signals.claim(queue, len(rows))
        claims = [waiter.claim for waiter in waiters if waiter.claim is not None]
        try:
            await self._committer.submit(
                lambda connection, now_ms: _insert(
                    connection, queue, rows, now_ms, delay_ms, claims
                ),
                after_commit=lambda handed: self._hand_off(queue, waiters, handed, len(rows)),
            )
        except BaseException:
            # Not committed (or not known to be): the claimed polls look again.
            for waiter in waiters:
                self._signals.hand_off(waiter, [])
            raise
        return [message_id for message_id, _ in rows]

    def _hand_off(
        self,
        queue: str,
        waiters: builtins.list[Waiter],
        handed: builtins.list[builtins.list[ReceivedMessage]],
        sent: int,
    ) -> None:
        now_ms = to_ms(self._clock())
        for waiter, messages in zip(waiters, handed, strict=True):
            if messages and waiter.claim is not None:
                self._signals.hidden_until(queue, now_ms + waiter.claim.hide_ms)
            if not self._signals.hand_off(waiter, messages):
                # The poll ended meanwhile (timed out, cancelled): its messages
                # would stay hidden for a whole visibility timeout otherwise.
                self._release(queue, messages)
        if sum(map(len, handed)) < sent:
            self._signals.notify(queue)  # Some are visible: wake the other polls.

    def _release(self, queue: str, messages: builtins.list[ReceivedMessage]) -> None:
        """Give back messages a send handed to a receive that never took them: visible
        now, and not received (their receive count and first receive undone)."""
        for message in messages:
            task = asyncio.get_running_loop().create_task(self._give_back(queue, message))
            self._releasing.add(task)
            task.add_done_callback(self._released)

    async def _give_back(self, queue: str, message: ReceivedMessage) -> bool:
        parsed = parse_receipt(message.receipt)
        if parsed is None:
            return False
        sequence, token = parsed
        return await self._committer.submit(
            lambda connection, now_ms: _unreceive(connection, queue, sequence, token, now_ms),
            after_commit=self._wake_if_changed(queue),
            durable=False,
        )

    def _wake_if_changed(self, queue: str) -> Callable[[bool], None]:
        """After a commit that may have made a message of ``queue`` visible (now, or
        sooner than a poller expects): wake its polls if it did."""

        def woken(changed: bool) -> None:
            if changed:
                self._signals.notify(queue)

        return woken

    def _released(self, task: asyncio.Task[bool]) -> None:
        self._releasing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Not lost: the message shows again when its visibility timeout ends.
            log.warning("a handed-off message was not released: %r", task.exception())

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
        hide_ms = to_ms(visibility_timeout_s)
        select = (
            _SELECT_NEWEST if ReceiveOrder(order) is ReceiveOrder.NEWEST_FIRST else _SELECT_OLDEST
        )

        async def attempt() -> ReceiveAttempt:
            self._check_open()
            return await self._committer.submit(
                lambda connection, now_ms: _receive(
                    connection, queue, max_messages, hide_ms, now_ms, select
                ),
                durable=False,
            )

        claim = Claim(max_messages, hide_ms)
        return await long_poll(attempt, self._signals, queue, wait_s, self._clock, claim)

    async def delete(self, queue: str, receipt: str) -> bool:
        self._check_open()
        parsed = parse_receipt(receipt)
        if parsed is None:
            return False
        sequence, token = parsed
        return await self._committer.submit(
            lambda connection, now_ms: _delete(connection, queue, sequence, token),
            durable=False,
            linger_s=DELETE_LINGER_S,
        )

    async def change_visibility(self, queue: str, receipt: str, timeout_s: float) -> bool:
        self._check_open()
        check_timeout(timeout_s)
        parsed = parse_receipt(receipt)
        if parsed is None:
            return False
        sequence, token = parsed
        hide_ms = to_ms(timeout_s)
        return await self._committer.submit(
            lambda connection, now_ms: _hide(connection, queue, sequence, token, now_ms + hide_ms),
            after_commit=self._wake_if_changed(queue),
            durable=False,
        )

    async def depth(self, queue: str) -> QueueDepth:
        self._check_open()
        # The clock is read on the database thread, after any write queued before
        # this call committed: read here, a message sent a moment earlier but
        # committed with a later time would count as delayed.
        return await self._db.run(
            lambda connection: _depth(connection, queue, to_ms(self._clock()))
        )

    async def oldest_age_s(self, queue: str) -> float | None:
        self._check_open()
        oldest_ms = await self._db.run(lambda connection: _oldest_sent_at_ms(connection, queue))
        if oldest_ms is None:
            return None
        return max(0.0, (to_ms(self._clock()) - oldest_ms) / 1000)

    async def queues(self) -> builtins.list[str]:
        self._check_open()
        return await self._db.run(_queue_names)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._committer.close()
        self._signals.notify_all()
        await self._db.close()


# Everything below runs on the database thread, inside the committer's
# transaction where it takes a ``now_ms``.


def _insert(
    connection: sqlite3.Connection,
    queue: str,
    rows: list[tuple[str, bytes]],
    now_ms: int,
    delay_ms: int,
    claims: Sequence[Claim] = (),
) -> list[list[ReceivedMessage]]:
    """Store ``rows``; the first ones go, already received, to ``claims`` in turn."""
    handed: list[list[ReceivedMessage]] = []
    start = 0
    for claim in claims:
        taken = rows[start : start + claim.max_messages]
        start += len(taken)
        handed.append([_insert_received(connection, queue, row, now_ms, claim) for row in taken])
    connection.executemany(
        "INSERT INTO queue_messages (queue, message_id, body, sent_at_ms, visible_at_ms) "
        "VALUES (?, ?, ?, ?, ?)",
        [(queue, message_id, body, now_ms, now_ms + delay_ms) for message_id, body in rows[start:]],
    )
    return handed


def _insert_received(
    connection: sqlite3.Connection,
    queue: str,
    row: tuple[str, bytes],
    now_ms: int,
    claim: Claim,
) -> ReceivedMessage:
    message_id, body = row
    token = new_receipt_token()
    cursor = connection.execute(
        "INSERT INTO queue_messages (queue, message_id, body, sent_at_ms, visible_at_ms, "
        "receive_count, first_received_at_ms, token) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
        (queue, message_id, body, now_ms, now_ms + claim.hide_ms, now_ms, token),
    )
    sequence = cursor.lastrowid
    assert sequence is not None
    return ReceivedMessage(message_id, body, make_receipt(sequence, token), 1, now_ms, now_ms)


_SELECT_COLUMNS = (
    "SELECT sequence, message_id, body, sent_at_ms, receive_count, first_received_at_ms "
)
_SELECT_OLDEST = (
    _SELECT_COLUMNS + "FROM queue_messages WHERE queue = ? AND visible_at_ms <= ? "
    "ORDER BY visible_at_ms, sequence LIMIT ?"
)
# Pinned to its index: the planner would otherwise take the visibility index
# and sort every visible message of the queue to find the newest few.
_SELECT_NEWEST = (
    _SELECT_COLUMNS + "FROM queue_messages INDEXED BY queue_messages_by_send "
    "WHERE queue = ? AND visible_at_ms <= ? ORDER BY sequence DESC LIMIT ?"
)


def _receive(
    connection: sqlite3.Connection,
    queue: str,
    max_messages: int,
    hide_ms: int,
    now_ms: int,
    select: str = _SELECT_OLDEST,
) -> ReceiveAttempt:
    rows = connection.execute(select, (queue, now_ms, max_messages)).fetchall()
    if not rows:
        due = connection.execute(
            "SELECT min(visible_at_ms) FROM queue_messages WHERE queue = ?", (queue,)
        ).fetchone()[0]
        return ReceiveAttempt([], None if due is None else int(due))
    received = []
    updates = []
    for sequence, message_id, body, sent_at_ms, receive_count, first_received_at_ms in rows:
        token = new_receipt_token()
        first_ms = now_ms if first_received_at_ms is None else int(first_received_at_ms)
        updates.append((now_ms + hide_ms, first_ms, token, sequence))
        received.append(
            ReceivedMessage(
                message_id,
                bytes(body),
                make_receipt(sequence, token),
                int(receive_count) + 1,
                int(sent_at_ms),
                first_ms,
            )
        )
    connection.executemany(
        "UPDATE queue_messages SET visible_at_ms = ?, receive_count = receive_count + 1, "
        "first_received_at_ms = ?, token = ? WHERE sequence = ?",
        updates,
    )
    return ReceiveAttempt(received, None)


def _delete(connection: sqlite3.Connection, queue: str, sequence: int, token: str) -> bool:
    cursor = connection.execute(
        "DELETE FROM queue_messages WHERE sequence = ? AND queue = ? AND token = ?",
        (sequence, queue, token),
    )
    return cursor.rowcount == 1


def _hide(
    connection: sqlite3.Connection, queue: str, sequence: int, token: str, visible_at_ms: int
) -> bool:
    cursor = connection.execute(
        "UPDATE queue_messages SET visible_at_ms = ? "
        "WHERE sequence = ? AND queue = ? AND token = ?",
        (visible_at_ms, sequence, queue, token),
    )
    return cursor.rowcount == 1


def _unreceive(
    connection: sqlite3.Connection, queue: str, sequence: int, token: str, now_ms: int
) -> bool:
    cursor = connection.execute(
        "UPDATE queue_messages SET visible_at_ms = ?, receive_count = receive_count - 1, "
        "first_received_at_ms = CASE WHEN receive_count = 1 THEN NULL "
        "ELSE first_received_at_ms END "
        "WHERE sequence = ? AND queue = ? AND token = ? AND receive_count > 0",
        (now_ms, sequence, queue, token),
    )
    return cursor.rowcount == 1


def _depth(connection: sqlite3.Connection, queue: str, now_ms: int) -> QueueDepth:
    visible, in_flight, delayed = connection.execute(
        "SELECT "
        "count(*) FILTER (WHERE visible_at_ms <= ?1), "
        "count(*) FILTER (WHERE visible_at_ms > ?1 AND receive_count > 0), "
        "count(*) FILTER (WHERE visible_at_ms > ?1 AND receive_count = 0) "
        "FROM queue_messages WHERE queue = ?2",
        (now_ms, queue),
    ).fetchone()
    return QueueDepth(int(visible), int(in_flight), int(delayed))


def _oldest_sent_at_ms(connection: sqlite3.Connection, queue: str) -> int | None:
    oldest = connection.execute(
        "SELECT min(sent_at_ms) FROM queue_messages WHERE queue = ?", (queue,)
    ).fetchone()[0]
    return None if oldest is None else int(oldest)


def _queue_names(connection: sqlite3.Connection) -> list[str]:
    # A skip scan over the index: one O(log n) probe per queue, not one read per message.
    names: list[str] = []
    row = connection.execute("SELECT min(queue) FROM queue_messages").fetchone()
    while row[0] is not None:
        names.append(str(row[0]))
        row = connection.execute(
            "SELECT min(queue) FROM queue_messages WHERE queue > ?", (names[-1],)
        ).fetchone()
    return names
