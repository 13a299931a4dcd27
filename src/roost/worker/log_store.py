"""Function logs kept for later retrieval: one append-only file per function and day.

The layout follows CloudWatch's: a log group per function
(``/aws/lambda/{name}``), here ``logs/{account}/{name}/{YYYY-MM-DD}.log`` (the
UTC day the entry was written).

File format: a sequence of records, each one invocation's log, appended with a
single write and never rewritten::

    \\x1e{timestamp_ms} {length}\\n{length bytes of log text}

``timestamp_ms`` is when the entry was stored (Unix epoch, milliseconds,
never decreasing within a store) and ``length`` the byte length of the text
that follows, so the text may contain anything, record separators included.
A reader walks the file by the lengths; where that fails (a record torn by a
crash, or a file from before this format, which held bare text) it resumes at
the next well-formed header and returns the bytes in between as text of the
previous record's time (the day's start if there is none).

``page(since_ms)`` returns the entries stored at or after ``since_ms`` and a
cursor, ``until_ms``: every entry stored later has a timestamp at or above it,
so asking again with ``since_ms=until_ms`` returns each new entry exactly once
(``roost logs --follow``).
"""

from __future__ import annotations

import asyncio
import calendar
import re
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

MARKER = b"\x1e"
_HEADER = re.compile(rb"\x1e(\d{1,16}) (\d{1,12})\n")
_DAY_MS = 86_400_000
# Readers flush first, so the delay only bounds what a crash can lose.
FLUSH_DELAY_S = 0.2
# Writes to one function's files take one of these locks (chosen by a hash of
# the path), so a page's cursor never passes an entry still being written.
_STRIPES = 64


@dataclass(frozen=True)
class LogEntry:
    """One stored invocation log."""

    timestamp_ms: int
    text: bytes


@dataclass(frozen=True)
class LogPage:
    """The entries stored in ``[since_ms, until_ms)``, oldest first."""

    entries: tuple[LogEntry, ...]
    until_ms: int

    @property
    def text(self) -> bytes:
        """The entries' text, concatenated."""
        return b"".join(entry.text for entry in self.entries)


def encode_record(timestamp_ms: int, text: bytes) -> bytes:
    """One record of the file format."""
    return b"%b%d %d\n%b" % (MARKER, timestamp_ms, len(text), text)


def decode_records(data: bytes, default_ms: int = 0) -> list[LogEntry]:
    """The entries of a file's bytes; unparseable spans keep the previous entry's time."""
    entries: list[LogEntry] = []
    last_ms = default_ms
    position = 0
    while position < len(data):
        header = _HEADER.match(data, position)
        if header is None:
            resume = _next_header(data, position + 1)
            entries.append(LogEntry(last_ms, data[position:resume]))
            position = resume
            continue
        last_ms, start = int(header[1]), header.end()
        end = start + int(header[2])
        if end < len(data) and not data.startswith(MARKER, end):
            # The length disagrees with what follows: a torn record.
            end = _next_header(data, start)
        end = min(end, len(data))
        entries.append(LogEntry(last_ms, data[start:end]))
        position = end
    return entries


def _next_header(data: bytes, start: int) -> int:
    """Where the next well-formed header begins at or after ``start`` (or the end)."""
    position = data.find(MARKER, start)
    while position != -1:
        if _HEADER.match(data, position):
            return position
        position = data.find(MARKER, position + 1)
    return len(data)


def _day_start_ms(day: str) -> int:
    """Midnight UTC of ``YYYY-MM-DD`` in epoch milliseconds (0 if malformed)."""
    try:
        return calendar.timegm(time.strptime(day, "%Y-%m-%d")) * 1000
    except ValueError:
        return 0


class LogStore:
    """Appends invocation logs and reads them back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks = tuple(threading.Lock() for _ in range(_STRIPES))
        self._clock_lock = threading.Lock()
        self._last_ms = 0
        # Appends are batched: the invoke path only queues, one thread hop per
        # batch writes (a thread hop per invoke cost a sixth of a warm invoke).
        self._pending: list[tuple[str, str, bytes]] = []
        self._flusher: asyncio.Task[None] | None = None

    def _directory(self, account_id: str, function_name: str) -> Path:
        return self.root / account_id / function_name

    def _lock(self, directory: Path) -> threading.Lock:
        return self._locks[zlib.crc32(str(directory).encode()) % _STRIPES]

    def _now_ms(self, *, cursor: bool = False) -> int:
        """Wall-clock milliseconds that never go backwards within this store.

        A ``cursor`` is one past every timestamp given so far, and every later
        timestamp is at least the cursor.
        """
        with self._clock_lock:
            self._last_ms = max(self._last_ms, time.time_ns() // 1_000_000) + int(cursor)
            return self._last_ms

    def append(self, account_id: str, function_name: str, text: bytes) -> None:
        """Queue one invocation's log; it is written within ``FLUSH_DELAY_S``."""
        self._pending.append((account_id, function_name, text))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        # A short delay gathers many invokes' logs into one open-and-write.
        await asyncio.sleep(FLUSH_DELAY_S)
        await self.flush()

    async def close(self) -> None:
        """Write what is queued and stop the delayed flush."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far."""
        while self._pending:
            batch, self._pending = self._pending, []
            await asyncio.to_thread(self._append_batch, batch)

    def _append_batch(self, batch: list[tuple[str, str, bytes]]) -> None:
        by_function: dict[tuple[str, str], list[bytes]] = {}
        for account_id, function_name, text in batch:
            by_function.setdefault((account_id, function_name), []).append(text)
        for (account_id, function_name), texts in by_function.items():
            directory = self._directory(account_id, function_name)
            with self._lock(directory):
                now_ms = self._now_ms()
                day = time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000))
                directory.mkdir(parents=True, exist_ok=True)
                with (directory / f"{day}.log").open("ab") as sink:
                    sink.write(b"".join(encode_record(now_ms, text) for text in texts))

    async def read(self, account_id: str, function_name: str) -> bytes:
        """Everything logged for a function, oldest first."""
        return (await self.page(account_id, function_name)).text

    async def page(self, account_id: str, function_name: str, since_ms: int = 0) -> LogPage:
        """The entries stored at or after ``since_ms``, and the cursor to ask from next."""
        await self.flush()
        directory = self._directory(account_id, function_name)
        return await asyncio.to_thread(self._page, directory, since_ms)

    def _page(self, directory: Path, since_ms: int) -> LogPage:
        with self._lock(directory):
            # Inside the lock: every entry below the cursor is complete on disk,
            # and every entry written after this has a timestamp at or above it.
            until_ms = self._now_ms(cursor=True)
            sizes = self._sizes(directory, since_ms)
        entries: list[LogEntry] = []
        for path, size in sizes:
            with path.open("rb") as source:
                data = source.read(size)
            for entry in decode_records(data, _day_start_ms(path.stem)):
                if since_ms <= entry.timestamp_ms < until_ms:
                    entries.append(entry)
        return LogPage(tuple(entries), until_ms)

    @staticmethod
    def _sizes(directory: Path, since_ms: int) -> list[tuple[Path, int]]:
        """The day files that may hold entries at or after ``since_ms``, with their sizes."""
        if not directory.is_dir():
            return []
        found = []
        for path in sorted(directory.glob("*.log")):
            if _day_start_ms(path.stem) + _DAY_MS <= since_ms:
                continue
            found.append((path, path.stat().st_size))
        return found
