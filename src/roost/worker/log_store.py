"""Function logs kept for later retrieval: one append-only file per function and day.

The layout follows CloudWatch's: a log group per function
(``/aws/lambda/{name}``), here ``logs/{account}/{name}/{YYYY-MM-DD}.log``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path


class LogStore:
    """Appends invocation logs and reads them back."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, account_id: str, function_name: str, day: str) -> Path:
        return self.root / account_id / function_name / f"{day}.log"

    async def append(self, account_id: str, function_name: str, text: bytes) -> None:
        """Add one invocation's log."""
        day = time.strftime("%Y-%m-%d", time.gmtime())
        path = self._path(account_id, function_name, day)
        await asyncio.to_thread(self._append, path, text)

    @staticmethod
    def _append(path: Path, text: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as sink:
            sink.write(text)

    async def read(self, account_id: str, function_name: str) -> bytes:
        """Everything logged for a function, oldest first."""
        directory = self.root / account_id / function_name
        return await asyncio.to_thread(self._read_all, directory)

    @staticmethod
    def _read_all(directory: Path) -> bytes:
        if not directory.is_dir():
            return b""
        return b"".join(p.read_bytes() for p in sorted(directory.glob("*.log")))
