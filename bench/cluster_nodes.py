"""The servers of the cluster benchmark: cluster nodes on one Redis, their ``/metrics``, and
the filesystem check for the Redis directory.

A ``ClusterNode`` is ``invoke_targets.Roost`` (the same ``roost up``, memory budget and
process handling) started with the cluster flags; the embedded baseline is ``Roost`` itself.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from invoke_proc import cmdline, processes
from invoke_targets import Roost

# Metrics read from every node before and after a measured run.
GRANTED = "roost_invocations_total"
CLUSTER_INVOKES = "roost_cluster_invokes_total"
ENVIRONMENTS = "roost_environments"
WORKER_HOSTS = "roost_cluster_worker_hosts"

# Filesystems on which an fsync costs nothing, so `appendfsync always` would measure nothing.
MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


class ClusterNode(Roost):
    """One node of a cluster: ``roost up --store redis://... --zone --node-id [--roles]``."""

    def __init__(
        self,
        workdir: Path,
        port: int,
        memory_budget_mb: int,
        *,
        store_url: str,
        namespace: str,
        node_id: str,
        roles: str | None,
        master_key: Path,
        counting_url: str | None = None,
    ) -> None:
        # Set before Target.__init__, which names the log after the label.
        self.label = node_id
        super().__init__(workdir, port, memory_budget_mb)
        self.store_url = store_url
        self.namespace = namespace
        self.node_id = node_id
        self.roles = roles
        self.master_key = master_key
        self.counting_url = counting_url

    def argv(self) -> list[str]:
        extra = ["--store", self.store_url, "--zone", "bench", "--node-id", self.node_id]
        if self.roles:
            extra += ["--roles", self.roles]
        if self.counting_url:
            extra += ["--counting-store", self.counting_url]
        return [*super().argv(), *extra]

    def env(self) -> dict[str, str]:
        # Every node of one cluster holds the same master key; a namespace per cluster
        # size gives each k a fresh cluster on the same Redis.
        return {
            **super().env(),
            "ROOST_MASTER_KEY_FILE": str(self.master_key),
            "ROOST_REDIS_NAMESPACE": self.namespace,
        }

    @property
    def runs_worker(self) -> bool:
        """Whether this node holds execution environments."""
        return self.roles is None or "worker" in self.roles

    @property
    def serves_invokes(self) -> bool:
        """Whether the load generator may send invokes here (its frontend role)."""
        return self.roles is None or "frontend" in self.roles


def scrape(port: int) -> dict[str, float]:
    """The few series of one node's ``/metrics`` the benchmark reads, summed over labels
    except the direction of ``roost_cluster_invokes_total`` (``..._total:sent``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        if name == CLUSTER_INVOKES:
            name += ":" + name_labels.split('direction="', 1)[1].split('"', 1)[0]
        elif name not in (GRANTED, ENVIRONMENTS, WORKER_HOSTS):
            continue
        found[name] = found.get(name, 0.0) + float(value)
    return found


def wait_for_workers(nodes: list[ClusterNode], workers: int, timeout_s: float = 30.0) -> None:
    """Wait until every node's directory sees ``workers`` live worker hosts (heartbeats)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = [scrape(node.port).get(WORKER_HOSTS, 0.0) for node in nodes]
        if all(count == workers for count in seen):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the nodes see {seen} worker hosts, not {workers}")
        time.sleep(0.2)


def filesystem_of(path: Path) -> str:
    """The type of the filesystem ``path`` is on (the longest mount point above it)."""
    resolved = str(path.resolve())
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        mount = fields[1]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best):
            best, kind = mount, fields[2]
    return kind


def check_on_disk(path: Path) -> str:
    """``path``'s filesystem type; SystemExit if it is memory (fsync would be free)."""
    path.mkdir(parents=True, exist_ok=True)
    kind = filesystem_of(path)
    if kind in MEMORY_FILESYSTEMS:
        raise SystemExit(f"{path} is on {kind}: give --redis-dir a directory on a disk")
    return kind


def redis_pid(url: str) -> int | None:
    """The redis-server process listening on ``url``'s port (found by its command line)."""
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    for pid, info in processes().items():
        if info.comm.startswith("redis-server") and f":{port}" in cmdline(pid):
            return pid
    return None
