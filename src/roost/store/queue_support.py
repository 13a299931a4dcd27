"""What every ``QueueStore`` adapter shares: argument checks, receipts, receive attempts.

Long polls, which adapters share too, are in ``roost.store.long_poll``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from roost.store.ports import ReceivedMessage


@dataclass(frozen=True)
class ReceiveAttempt:
    """One non-blocking receive: what it got, and when the next hidden message shows."""

    messages: list[ReceivedMessage]
    next_visible_at_ms: int | None


def to_ms(seconds: float) -> int:
    """Seconds (of a clock or a duration) as whole milliseconds."""
    return round(seconds * 1000)


def check_send(delay_s: float) -> None:
    """Refuse a negative delay."""
    if delay_s < 0:
        raise ValueError(f"delay_s must be >= 0, not {delay_s}")


def check_receive(max_messages: int, visibility_timeout_s: float, wait_s: float) -> None:
    """Refuse arguments no adapter can honour."""
    if max_messages < 1:
        raise ValueError(f"max_messages must be >= 1, not {max_messages}")
    if visibility_timeout_s < 0:
        raise ValueError(f"visibility_timeout_s must be >= 0, not {visibility_timeout_s}")
    if wait_s < 0:
        raise ValueError(f"wait_s must be >= 0, not {wait_s}")


def check_timeout(timeout_s: float) -> None:
    """Refuse a negative visibility timeout."""
    if timeout_s < 0:
        raise ValueError(f"timeout_s must be >= 0, not {timeout_s}")


def new_receipt_token() -> str:
    """The secret part of a receipt; a new one on every receive."""
    return secrets.token_hex(8)


def make_receipt(sequence: int, token: str) -> str:
    """A receipt names the message by its store sequence and proves the receive by a token."""
    return f"{sequence}.{token}"


# The largest integer SQLite stores (a sequence is a row id).
MAX_SEQUENCE = 2**63 - 1


def parse_receipt(receipt: str) -> tuple[int, str] | None:
    """The sequence and token of a receipt, or None if it is not one of ours."""
    sequence, dot, token = receipt.partition(".")
    # ASCII digits in SQLite's integer range only: a value outside it raises inside
    # a shared transaction, and would fail every operation committed with it.
    if not dot or not token or not (sequence.isascii() and sequence.isdigit()):
        return None
    number = int(sequence)
    return (number, token) if number <= MAX_SEQUENCE else None
