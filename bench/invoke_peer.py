"""The invoke benchmark's peer: serverless-offline, installed with npm into a cache
directory, serving the benchmark's functions from a generated ``serverless.yml``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from common import KEYS, REGION, ProcInfo, free_port
from invoke_proc import cmdline, descendants, processes
from invoke_targets import HANDLER_SOURCE, MEMORY_MB, RUNTIME, Target

PEER = "serverless-offline"
SERVERLESS_REQUIREMENT = "serverless@3"
OFFLINE_VERSION = "13.9.0"
OFFLINE_REQUIREMENT = f"serverless-offline@{OFFLINE_VERSION}"
# The peer's Python runner spawns `python3` from PATH; both servers should run functions on
# the same interpreter (Roost's sandbox prefers /usr/bin/python3), not on a pyenv shim.
PEER_PATH = "/usr/local/bin:/usr/bin:/bin"


def _package_version(modules: Path, name: str) -> str | None:
    try:
        return str(json.loads((modules / name / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_peer(cache: Path) -> dict[str, str]:
    """serverless@3 and serverless-offline@13.9.0 in ``cache``; their versions."""
    modules = cache / "node_modules"
    serverless = _package_version(modules, "serverless")
    offline = _package_version(modules, "serverless-offline")
    if serverless is None or not serverless.startswith("3.") or offline != OFFLINE_VERSION:
        _npm_install(cache)
        serverless = _package_version(modules, "serverless")
        offline = _package_version(modules, "serverless-offline")
    found = {"serverless": str(serverless), "serverless-offline": str(offline)}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return found


def _npm_install(cache: Path) -> None:
    """npm install the baseline into ``cache``."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is missing: install Node.js and npm (`apt-get install npm`)")
    cache.mkdir(parents=True, exist_ok=True)
    manifest = cache / "package.json"
    if not manifest.exists():
        manifest.write_text('{"name": "roost-bench-peer", "private": true}\n')
    print(
        f"installing baseline into {cache}: npm install {SERVERLESS_REQUIREMENT} "
        f"{OFFLINE_REQUIREMENT}",
        flush=True,
    )
    subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            SERVERLESS_REQUIREMENT,
            OFFLINE_REQUIREMENT,
        ],
        cwd=cache,
        check=True,
    )


class ServerlessOffline(Target):
    label = PEER

    def __init__(self, workdir: Path, port: int, cache: Path, functions: Sequence[str]) -> None:
        super().__init__(workdir, port)
        self.cache = cache
        self.functions = list(functions)
        self.service = workdir / "sls-service"

    def write_service(self) -> None:
        self.service.mkdir(parents=True, exist_ok=True)
        (self.service / "handler.py").write_text(HANDLER_SOURCE)
        lines = [
            "service: roostbench",
            "frameworkVersion: '3'",
            "provider:",
            "  name: aws",
            f"  runtime: {RUNTIME}",
            f"  region: {REGION}",
            f"  memorySize: {MEMORY_MB}",
            "  timeout: 6",
            "plugins:",
            "  - serverless-offline",
            "functions:",
        ]
        for name in self.functions:
            lines += [f"  {name}:", "    handler: handler.handler", f"    name: {name}"]
        (self.service / "serverless.yml").write_text("\n".join(lines) + "\n")
        link = self.service / "node_modules"
        if not link.exists():
            link.symlink_to(self.cache / "node_modules")

    def argv(self) -> list[str]:
        return [
            "npx",
            "--no-install",
            "serverless",
            "offline",
            "start",
            "--host",
            "127.0.0.1",
            "--lambdaPort",
            str(self.port),
            "--httpPort",
            str(free_port()),
            "--websocketPort",
            str(free_port()),
            "--albPort",
            str(free_port()),
            # Keep idle functions for the memory figure (default: 60 s).
            "--terminateIdleLambdaTime",
            "3600",
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in super().env().items() if k != "VIRTUAL_ENV"}
        env.update(
            PATH=PEER_PATH + ":" + os.environ.get("PATH", ""),
            SLS_TELEMETRY_DISABLED="1",
            SLS_NOTIFICATIONS_MODE="off",
            SLS_DEPRECATION_DISABLE="*",
            AWS_ACCESS_KEY_ID=KEYS[0],
            AWS_SECRET_ACCESS_KEY=KEYS[1],
        )
        return env

    def cwd(self) -> Path:
        return self.service

    def start(self, timeout_s: float = 120.0) -> None:
        self.write_service()
        super().start(timeout_s)

    def server_pid(self) -> int:
        """The node process running serverless (npx starts it below itself)."""
        assert self.process is not None
        table = processes()
        for pid in [self.process.pid, *descendants(self.process.pid, table)]:
            if table[pid].comm.startswith("node") and "offline" in cmdline(pid):
                return pid
        return self.process.pid

    def environments(self, table: dict[int, ProcInfo]) -> list[list[int]]:
        found = []
        for pid in descendants(self.server_pid(), table):
            if table[pid].comm.startswith("python") and "invoke.py" in cmdline(pid):
                tree = [pid, *descendants(pid, table)]
                parent = table.get(table[pid].ppid)
                if parent is not None and parent.comm == "sh":  # spawn(..., {shell: true})
                    tree.append(parent.pid)
                found.append(tree)
        return found
