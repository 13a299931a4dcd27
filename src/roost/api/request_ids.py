"""Request and trace ids in the formats AWS uses.

Every request gets a request id (``x-amzn-RequestId``, a version 4 UUID) and every
invoke an X-Ray style trace id. Both are made straight from random bytes: building
``uuid.UUID`` objects costs more than the rest of a warm invoke's bookkeeping.
"""

from __future__ import annotations

import os
import time

_VARIANT = "89ab"


def new_request_id() -> str:
    """A random version 4 UUID in its canonical text form (what ``uuid.uuid4()`` gives)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def new_trace_id() -> str:
    """An X-Ray trace header for a new, unsampled trace (``Root=1-<epoch hex>-<96 bits>``)."""
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Sampled=0"
