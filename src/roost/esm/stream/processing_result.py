"""A stream mapping's ``LastProcessingResult``: how its last batch went, as the API shows it.

AWS sets it on stream mappings: ``No records processed`` until the first
batch, ``OK`` after a batch succeeded, ``PROBLEM: ...`` when the last one could
not be processed. The lanes note every invoke's verdict; the runner publishes
the latest result to the stored mapping at most once per supervision pass and
only when it changed, so a busy stream does not rewrite its mapping per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from roost.esm.orchestrator import BatchVerdict

log = logging.getLogger(__name__)

OK = "OK"
RESULTS = {
    BatchVerdict.SUCCEEDED: OK,
    BatchVerdict.PARTIAL: "PROBLEM: Function call failed for some records",
    BatchVerdict.FUNCTION_ERROR: "PROBLEM: Function call failed",
    BatchVerdict.THROTTLED: "PROBLEM: Function call throttled",
    BatchVerdict.FUNCTION_GONE: "PROBLEM: Function not found",
    BatchVerdict.SYSTEM_ERROR: "PROBLEM: Internal error invoking the function",
}

ResultWriter = Callable[[str, str], Awaitable[None]]
"""Stores ``(mapping uuid, result)`` as the mapping's ``LastProcessingResult``."""


class LastProcessingResult:
    """The latest result of one mapping on this poller, and what was published."""

    def __init__(self, uuid: str, writer: ResultWriter) -> None:
        self._uuid = uuid
        self._writer = writer
        self._latest: str | None = None
        self._published: str | None = None

    def note(self, verdict: BatchVerdict) -> None:
        """A batch's invoke ended with ``verdict``."""
        self._latest = RESULTS[verdict]

    def problem(self, reason: str) -> None:
        """The mapping cannot be processed at all now (``PROBLEM: ...``)."""
        self._latest = reason

    async def publish(self) -> None:
        """Store the latest result if it changed since the last publish."""
        latest = self._latest
        if latest is None or latest == self._published:
            return
        try:
            await self._writer(self._uuid, latest)
            self._published = latest
        except Exception as error:
            log.warning("mapping %s: storing LastProcessingResult failed: %s", self._uuid, error)
