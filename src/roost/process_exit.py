"""Leaving the process once the node has stopped, past calls still blocked in threads.

Python's exit joins every non-daemon thread, the workers of thread pools
included. A worker blocked in a call to an outside service holds the exit
until that call returns: an SQS long poll of an idle queue waits up to 20 s,
a boto3 call up to its read timeout. By then the node has closed everything it
owns (stores, environments, sockets), so no result such a call brings back can
be recorded any more, and the outside service settles it as after any crash:
an SQS message received by an abandoned long poll becomes visible again after
its visibility timeout, a delete or a delivery cut off leaves its message to be
received and run again (at least once). So ``roost up`` gives such threads a
moment to end and then leaves without them, naming them in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

log = logging.getLogger(__name__)

# How long threads still running when the node has stopped get to end by themselves.
STRAGGLER_GRACE_S = 1.0


def running_threads() -> list[threading.Thread]:
    """The threads a normal interpreter exit would wait for (not this one)."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]


def leave(code: int, grace_s: float = STRAGGLER_GRACE_S) -> int:
    """``code`` if no other thread is left after ``grace_s`` (a normal exit may follow);
    otherwise log the ones still running and end the process now with ``code``."""
    deadline = time.monotonic() + grace_s
    for thread in running_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    stragglers = running_threads()
    if not stragglers:
        return code
    log.warning(
        "leaving %d threads still blocked in calls to outside services: %s",
        len(stragglers),
        ", ".join(sorted(thread.name for thread in stragglers)),
    )
    # os._exit skips the interpreter's own shutdown (which would join them):
    # flush what was written first.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed file
            stream.flush()
    os._exit(code)
