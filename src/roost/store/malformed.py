"""Reading stored documents that may not decode, one bad record at a time.

A record written by a newer or buggy node, or edited by hand, must not hide
every other record from a listing that background work depends on (the
cluster's worker directory, the mappings the pollers lease). ``MalformedRecords``
decodes one record, and on failure skips it and logs it once per key (again
only after the key has read well in between), not at every turn of the loop
that lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

S = TypeVar("S")
T = TypeVar("T")

# What decoding a document that is not what it should be raises.
MALFORMED_ERRORS = (KeyError, ValueError, TypeError, AttributeError)


class MalformedRecords:
    """Decodes records, skipping the malformed ones (each logged once per key)."""

    def __init__(self, logger: logging.Logger, message: str) -> None:
        """``message`` is logged with the record's key and the error (``%s``, ``%r``)."""
        self._log = logger
        self._message = message
        self._reported: set[str] = set()

    def read(self, key: str, decode: Callable[[S], T], stored: S) -> T | None:
        """``decode(stored)``, or None (logged the first time) when it is malformed."""
        try:
            value = decode(stored)
        except MALFORMED_ERRORS as error:
            if key not in self._reported:
                self._reported.add(key)
                self._log.warning(self._message, key, error)
            return None
        self._reported.discard(key)
        return value
