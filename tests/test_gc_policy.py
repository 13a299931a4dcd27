"""The collector policy of a ``roost up`` process (run in a child: freezing is for good)."""

from __future__ import annotations

import json
import subprocess
import sys

from roost import gc_policy

_PROBE = """
import gc, json
from roost import gc_policy
before = gc.get_freeze_count()
gc_policy.settle()
print(json.dumps({"before": before, "after": gc.get_freeze_count(),
                  "threshold": list(gc.get_threshold())}))
"""


def test_settle_freezes_the_start_up_heap_and_raises_the_young_threshold() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    figures = json.loads(result.stdout)
    assert figures["before"] == 0
    # Everything alive at start-up (botocore's model among it) is no longer walked.
    assert figures["after"] > 1_000
    assert figures["threshold"] == [
        gc_policy.YOUNG_THRESHOLD,
        gc_policy.MIDDLE_EVERY,
        gc_policy.FULL_EVERY,
    ]
