"""The servers of the control-plane benchmark: moto's installation, a server process on a
free loopback port (start, readiness, stop, CPU time, log), Roost and moto as such servers,
and a server under test as the measurements see it."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import free_port, make_client, proc_info

BASELINE_REQUIREMENT = "moto[server,awslambda]>=5,<6"


def ensure_baseline() -> str:
    """Install moto's standalone server into this environment if needed; its version."""
    needed = ("moto", "moto.server", "flask", "flask_cors", "docker")
    if any(missing(module) for module in needed):
        print(f"installing baseline: pip install '{BASELINE_REQUIREMENT}'", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", BASELINE_REQUIREMENT],
            check=True,
        )
        importlib.invalidate_caches()
    return importlib.metadata.version("moto")


def missing(module: str) -> bool:
    """Whether ``module`` cannot be imported in this interpreter."""
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


@dataclass
class Server:
    """A server process on 127.0.0.1, its log in ``workdir``."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start and wait until it answers HTTP."""
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches only the benchmark, which then
            # stops the servers itself.
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        url = self.ready_url or self.endpoint + "/"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # It answers HTTP, even if not 200 for this path.
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not come up in {timeout_s} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        assert self.process is not None
        return proc_info(self.process.pid).cpu_s

    def log_tail(self, chars: int = 1500) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]


def roost_server(workdir: Path) -> Server:
    """``python -m roost up`` on a free port, its data and log in ``workdir``."""
    port = free_port()
    return Server(
        "Roost",
        [
            sys.executable,
            "-m",
            "roost",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(workdir / "roost-data"),
        ],
        port,
        workdir / "roost.log",
        ready_url=f"http://127.0.0.1:{port}/_roost/health",
    )


def moto_server(workdir: Path) -> Server:
    """``python -m moto.server`` on a free port, its log in ``workdir``."""
    port = free_port()
    return Server(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port,
        workdir / "moto.log",
        ready_url=f"http://127.0.0.1:{port}/moto-api/",
    )


@dataclass
class Target:
    """A server under test, as the benchmark sees it."""

    label: str
    server: Server
    role_arn: str = ""


def moto_role_arn(endpoint: str) -> str:
    """moto checks that the role exists in its account: create it once."""
    iam = make_client(endpoint, "iam")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps(policy))
    return str(role["Role"]["Arn"])
