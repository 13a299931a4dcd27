"""``process_exit.leave``: a stopped node's process ends without waiting for blocked threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import logging, sys, threading
    from roost import process_exit
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    blocked = threading.Event()
    mode = sys.argv[1]
    if mode == "blocked":
        threading.Thread(target=blocked.wait, name="stuck-call").start()
    elif mode == "ending":
        threading.Thread(target=blocked.wait, args=(0.05,), name="short-call").start()
    code = process_exit.leave(3, grace_s=0.5)
    print("returned", code, flush=True)
    sys.exit(code)
    """
)


def run_child(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=30
    )


def test_a_thread_still_blocked_is_named_and_left_behind() -> None:
    child = run_child("blocked")
    # The thread waits forever: a normal exit would have hung until the timeout.
    assert child.returncode == 3
    assert "returned" not in child.stdout
    assert "leaving 1 threads still blocked" in child.stderr
    assert "stuck-call" in child.stderr


def test_threads_that_end_within_the_grace_make_a_normal_exit() -> None:
    for mode in ("none", "ending"):
        child = run_child(mode)
        assert child.returncode == 3
        assert "returned 3" in child.stdout
        assert "leaving" not in child.stderr
