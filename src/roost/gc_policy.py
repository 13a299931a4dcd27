"""The garbage collector's policy for a long-running ``roost up`` process.

A node holds a large, long-lived heap from start-up on (botocore's Lambda
model, the operation table, caches): about 100,000 container objects. CPython's
cyclic collector walks all of them in every full (generation 2) collection;
measured under an async flood, each full collection paused the event loop for
about 56 ms, and collections took about 5% of the process's CPU.

``settle`` runs once the node serves: it collects, then freezes what survived
(``gc.freeze``: moved to a permanent generation the collector no longer walks,
as the zygote does for environments), and raises the first generation's
threshold so that short-lived request objects are collected in fewer, larger
passes. Reference counting still frees everything acyclic at once; only cycles
wait longer. Used by the process entry point only: freezing a test process's
heap would keep garbage of earlier tests alive.
"""

from __future__ import annotations

import gc

# Allocations (minus deallocations) between young collections; CPython's
# default is 700, which a busy node reaches every few requests.
YOUNG_THRESHOLD = 20_000
# Young collections per middle one and middle per full one (CPython's defaults).
MIDDLE_EVERY = 10
FULL_EVERY = 10


def settle() -> None:
    """Collect, freeze the start-up heap, then raise the young threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_EVERY, FULL_EVERY)
