"""How long each part of a node's shutdown takes, said while it is still taking it.

A node that does not exit after SIGTERM leaves nothing to go on unless it says
which part it is waiting for: ``stage`` logs a warning once a part has run for
``SLOW_STAGE_S`` (and how long it took once it ends), so the log of a stop that
hangs names its culprit. (A hang after the loop has closed, in a thread the
interpreter waits for, shows in the thread dump of ``SIGUSR1``: see ``cli``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)

# A part of the shutdown slower than this is worth a line in the log.
SLOW_STAGE_S = 3.0


@contextlib.contextmanager
def stage(name: str, slow_s: float = SLOW_STAGE_S) -> Iterator[None]:
    """Around one part of the shutdown (on the running loop)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = loop.call_later(
        slow_s, log.warning, "shutdown: still stopping %s after %.0f s", name, slow_s
    )
    try:
        yield
    finally:
        waiting.cancel()
        took = loop.time() - started
        if took >= slow_s:
            log.info("shutdown: stopping %s took %.1f s", name, took)
