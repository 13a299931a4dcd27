"""The baseline of the async invoke benchmark: Celery with a Redis broker and a prefork
worker on this machine; its installation, its processes, its task and its senders."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from async_invoke_http import Sent
from async_invoke_recorder import REPORTER_SOURCE
from common import ensure_apt_binary
from invoke_targets import Target

CELERY_REQUIREMENT = "celery[redis]>=5,<6"
# The same work as Roost's recording function: report "ID TIME" to the recorder over the
# worker process's one connection to it (opened on first use, reused). The
# producer pool holds more connections than there are senders (None would mean no pool: a
# new Redis connection per apply_async).
TASKS_MODULE = (
    """\
import os, time

from celery import Celery

app = Celery("roost_bench", broker=os.environ["BENCH_BROKER_URL"])
app.conf.update(task_ignore_result=True, broker_pool_limit=256, worker_hijack_root_logger=False)
RECORDER_PORT = int(os.environ["BENCH_RECORDER_PORT"])

"""
    + REPORTER_SOURCE
    + """

@app.task(name="record")
def record(event_id):
    _report(("%s %.6f\\n" % (event_id, time.time())).encode())
"""
)


def ensure_celery() -> str:
    """Celery's version, installing ``celery[redis]`` 5.x with pip if it is missing."""
    try:
        import celery
    except ImportError:
        print(f"installing the baseline: pip install '{CELERY_REQUIREMENT}'", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "-q", CELERY_REQUIREMENT]
        subprocess.run(pip, check=True)
        importlib.invalidate_caches()
        import celery
    return str(celery.__version__)


def ensure_redis_server() -> str:
    """redis-server's path, installing the Debian package if it is missing (needs root)."""
    return ensure_apt_binary("redis-server", "redis-server")


def redis_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return next((w[2:] for w in out.split() if w.startswith("v=")), out.strip())


class RedisServer(Target):
    """redis-server with an append-only file fsync'd on every write (``appendfsync always``)
    and no RDB snapshots: an acknowledged LPUSH is on disk, as Roost's 202 is."""

    label = "redis"

    def __init__(self, workdir: Path, port: int, binary: str, appendfsync: str) -> None:
        super().__init__(workdir, port)
        self.binary = binary
        self.appendfsync = appendfsync

    def argv(self) -> list[str]:
        data = self.workdir / "redis-data"
        data.mkdir(exist_ok=True)
        return [
            self.binary,
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(data),
            "--save", "", "--appendonly", "yes", "--appendfsync", self.appendfsync,
            "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip


class CeleryWorker(Target):
    """``celery worker --pool prefork --concurrency N`` on the tasks module (gossip, mingle
    and heartbeats off: they are cluster chatter, not task work; prefetch at its default)."""

    label = "celery"

    def __init__(self, workdir: Path, broker_url: str, recorder_port: int, processes: int):
        super().__init__(workdir, 0)
        self.broker_url = broker_url
        self.recorder_port = recorder_port
        self.processes = processes
        (workdir / "roost_bench_tasks.py").write_text(TASKS_MODULE)

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "roost_bench_tasks", "worker",
            "--pool", "prefork", "--concurrency", str(self.processes), "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "PYTHONPATH": str(self.workdir),
            "BENCH_BROKER_URL": self.broker_url,
            "BENCH_RECORDER_PORT": str(self.recorder_port),
        }

    def start(self, timeout_s: float = 120.0) -> None:
        """Start it; it has no port of its own, so readiness is the caller's warm-up."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                start_new_session=True,
            )


def task_sender(workdir: Path, broker_url: str) -> Any:
    """The ``record`` task as the senders see it (its app pointed at ``broker_url``)."""
    os.environ["BENCH_BROKER_URL"] = broker_url
    os.environ.setdefault("BENCH_RECORDER_PORT", "0")
    sys.path.insert(0, str(workdir))
    # A later round (--rounds) has its own broker: import its module afresh, not the
    # first round's (still in sys.modules, its app pointed at a stopped Redis).
    sys.modules.pop("roost_bench_tasks", None)
    module = importlib.import_module("roost_bench_tasks")
    return module.record


def send_all(task: Any, ids: list[str], senders: int) -> Sent:
    """``apply_async`` every id from ``senders`` threads; each returns once Redis has it."""
    sent = Sent.sized(len(ids))
    next_index = iter(range(len(ids)))
    lock = threading.Lock()

    def sender() -> None:
        while True:
            with lock:  # a plain iterator is not safe across threads
                index = next(next_index, None)
            if index is None:
                return
            sent.start_s[index] = time.time()
            started = time.perf_counter()
            task.apply_async(args=(ids[index],))
            sent.ack_s[index] = time.perf_counter() - started
            sent.ack_wall_s[index] = time.time()
            sent.status[index] = 200

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent
