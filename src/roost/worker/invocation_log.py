"""One invocation's log: the function's output framed by START, END and REPORT lines."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TAIL_BYTES = 4096


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_duration_ms: float | None,
) -> str:
    """Lambda's REPORT line (tab-separated, with a trailing tab)."""
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {max_memory_mb} MB",
    ]
    if init_duration_ms is not None:
        parts.append(f"Init Duration: {init_duration_ms:.2f} ms")
    return "\t".join(parts) + "\t"


@dataclass
class InvocationLog:
    """Collects an invocation's output; ``text`` is what CloudWatch would show."""

    request_id: str
    version: str
    chunks: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chunks.append(f"START RequestId: {self.request_id} Version: {self.version}\n".encode())

    def write(self, data: bytes) -> None:
        """Function output (stdout and stderr)."""
        self.chunks.append(data)

    def line(self, text: str) -> None:
        """A platform line (timeouts, END, REPORT)."""
        if self.chunks and not self.chunks[-1].endswith(b"\n"):
            self.chunks.append(b"\n")
        self.chunks.append(text.encode() + b"\n")

    def finish(self, report: str) -> bytes:
        """Append END and REPORT and return the whole log."""
        self.line(f"END RequestId: {self.request_id}")
        self.line(report)
        return b"".join(self.chunks)


def tail(log: bytes, limit: int = TAIL_BYTES) -> bytes:
    """The last ``limit`` bytes, what ``LogType=Tail`` returns."""
    return log[-limit:]
