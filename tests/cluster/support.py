"""Helpers of the cluster tests: a Roost node process that joins a test's Redis."""

from __future__ import annotations

from pathlib import Path

from tests.async_invoke.support import ASYNC_ENV
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.roost_process import RoostProcess


def cluster_node(
    tmp_path: Path, redis: RedisServer, name: str, roles: str = "frontend,async,pollers,worker"
) -> RoostProcess:
    """A node (not started) on ``redis`` with its own zone, fast heartbeats, no pre-warming."""
    return RoostProcess(
        tmp_path / name,
        env={
            **ASYNC_ENV,
            "ROOST_STORE": redis.url,
            "ROOST_ROLES": roles,
            "ROOST_NODE_ID": name,
            "ROOST_ZONE": f"zone-{name}",
            "ROOST_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "ROOST_HEARTBEAT_S": "0.2",
            "ROOST_DIRECTORY_REFRESH_S": "0.1",
            "ROOST_PREWARM": "0",
        },
    )
