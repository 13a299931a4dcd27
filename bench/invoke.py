"""Sync invoke: Roost against serverless-offline, the same trivial Python handler in both.

One command (see ``bench/README.md``)::

    bench/run invoke [--seconds 5] [--clients 1 8 32] [--cold 30] [--burst 48] [--json out.json]

It installs its baseline if missing (npm ``serverless@3`` and ``serverless-offline@13.9.0``
into a cache directory, and ``wrk`` with apt-get), starts ``python -m roost up`` and
``npx serverless offline start`` on free loopback ports, each in a temporary directory, and
measures, against one server at a time:

* warm sync invoke latency (p50/p99) and throughput with 1, 8 and 32 concurrent clients:
  one load generator for both, ``wrk`` replaying one pre-signed Invoke request (SigV4 with
  botocore; serverless-offline ignores the signature);
* cold start: the first invoke of a freshly created function, to its response (Roost:
  CreateFunction, wait until Active, then the timed invoke; serverless-offline: the first
  invoke of one of the functions in its ``serverless.yml`` that was never invoked, which
  spawns its Python process);
* environments created per second: the first invokes of many distinct never-invoked
  functions, all at once;
* memory per idle warm environment: USS (``Private_Clean + Private_Dirty`` of
  ``/proc/PID/smaps_rollup``) of each environment's process tree (Roost: the children of the
  server, bwrap + python; serverless-offline: its ``sh -c`` + python children).

It prints a markdown table with Roost, the peer, the ratio Roost/peer and the targets of
the Execution issue, then where the CPU went during the warm runs, and optionally a py-spy
profile of the Roost server during an extra (untimed) 8-client run. Everything it started
is stopped at the end, on errors, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import importlib.metadata
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from control_plane import (
    _raise_interrupt,
    free_port,
    machine,
    machine_busy_seconds,
    make_zip,
    percentile,
)

REGION = "us-east-1"
KEYS = ("test", "test")
ROOST_ROLE = "arn:aws:iam::000000000000:role/lambda-role"
RUNTIME = "python3.11"
MEMORY_MB = 128
HANDLER_SOURCE = 'def handler(event, context):\n    return {"ok": True}\n'
PAYLOAD = b"{}"
SERVERLESS_REQUIREMENT = "serverless@3"
OFFLINE_VERSION = "13.9.0"
OFFLINE_REQUIREMENT = f"serverless-offline@{OFFLINE_VERSION}"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "roost-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PEER = "serverless-offline"
# The peer's Python runner spawns `python3` from PATH; both servers should run functions on
# the same interpreter (Roost's sandbox prefers /usr/bin/python3), not on a pyenv shim.
PEER_PATH = "/usr/local/bin:/usr/bin:/bin"

# --------------------------------------------------------------------------------------------
# Baseline installation
# --------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk's path, installing the apt package if it is missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: install it (`apt-get install wrk`) and run again")
    print("installing wrk: apt-get install -y wrk", flush=True)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get install wrk did not provide a wrk binary")
    return found


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
        serverless = _package_version(modules, "serverless")
        offline = _package_version(modules, "serverless-offline")
    found = {"serverless": str(serverless), "serverless-offline": str(offline)}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return found


def ensure_py_spy() -> str | None:
    """py-spy next to this interpreter, installed with pip if missing; None if that fails."""
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("py-spy")
    if found:
        return found
    print("installing py-spy: pip install py-spy", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=False
    )
    if done.returncode == 0 and candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


# --------------------------------------------------------------------------------------------
# Processes: /proc
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    comm: str
    cpu_s: float


def processes() -> dict[int, ProcInfo]:
    """Every process we can read, by pid."""
    found: dict[int, ProcInfo] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # Relative to the state field (3 in stat(5)): ppid is 4, utime 14, stime 15.
        found[int(entry.name)] = ProcInfo(
            int(entry.name), int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / CLK_TCK
        )
    return found


def descendants(root: int, table: dict[int, ProcInfo]) -> list[int]:
    """All processes below ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def uss_kib(pid: int) -> int:
    """Unshared memory of one process: Private_Clean + Private_Dirty (KiB)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    except OSError:
        return 0
    return total


# --------------------------------------------------------------------------------------------
# The two servers
# --------------------------------------------------------------------------------------------


class Target:
    """A server under test: its process group, its invoke port and its environments."""

    label = ""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / f"{self.label}.log"
        self.process: subprocess.Popen[bytes] | None = None

    # What subclasses say
    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def cwd(self) -> Path:
        return self.workdir

    def server_pid(self) -> int:
        """The process that serves HTTP (its CPU time is the server's)."""
        assert self.process is not None
        return self.process.pid

    def environments(self, table: dict[int, ProcInfo]) -> list[list[int]]:
        """The process trees of the execution environments, one list per environment."""
        raise NotImplementedError

    # Life cycle
    def start(self, timeout_s: float = 120.0) -> None:
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches only the benchmark.
            self.process = subprocess.Popen(
                self.argv(),
                cwd=self.cwd(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited early:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.label} did not come up in {timeout_s} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL to the whole process group if anything lingers."""
        if self.process is None:
            return
        pgid = self.process.pid
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def log_tail(self, chars: int = 2000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    # Invoke
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/2015-03-31/functions/{name}/invocations"


class Roost(Target):
    label = "Roost"

    def __init__(self, workdir: Path, port: int, memory_budget_mb: int) -> None:
        super().__init__(workdir, port)
        self.memory_budget_mb = memory_budget_mb
        self._client: Any = None

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "roost",
            "up",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.workdir / "roost-data"),
        ]

    def env(self) -> dict[str, str]:
        return {**super().env(), "ROOST_MEMORY_BUDGET_MB": str(self.memory_budget_mb)}

    def environments(self, table: dict[int, ProcInfo]) -> list[list[int]]:
        root = self.server_pid()
        found = []
        for info in table.values():
            if info.ppid == root:  # bwrap (or python when unsandboxed): one environment
                found.append([info.pid, *descendants(info.pid, table)])
        return found

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "lambda",
                endpoint_url=f"http://127.0.0.1:{self.port}",
                region_name=REGION,
                aws_access_key_id=KEYS[0],
                aws_secret_access_key=KEYS[1],
                config=Config(retries={"max_attempts": 1}, read_timeout=60),
            )
        return self._client

    def create(self, name: str, code: bytes) -> None:
        self.client().create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Role=ROOST_ROLE,
            Handler="handler.handler",
            Code={"ZipFile": code},
            Timeout=6,
            MemorySize=MEMORY_MB,
        )

    def wait_active(self, name: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.client().get_function_configuration(FunctionName=name).get("State")
            if state == "Active":
                return
            if state == "Failed" or time.monotonic() > deadline:
                raise RuntimeError(f"Roost function {name} is {state}")
            time.sleep(0.005)

    def sandboxed(self) -> str:
        """How the environments run, from their processes: under bubblewrap or not."""
        table = processes()
        trees = self.environments(table)
        if not trees:
            return "unknown"
        if all(any(table[pid].comm == "bwrap" for pid in tree) for tree in trees):
            return "bubblewrap"
        return "not under bubblewrap"


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


@contextlib.contextmanager
def running(targets: Sequence[Target]) -> Iterator[None]:
    try:
        for target in targets:
            target.start()
        yield
    finally:
        for target in targets:
            target.stop()


# --------------------------------------------------------------------------------------------
# Requests: signed once, replayed
# --------------------------------------------------------------------------------------------


def signed_headers(url: str, body: bytes) -> dict[str, str]:
    """SigV4 headers of one Invoke request (valid for 15 minutes around now)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body)
    SigV4Auth(Credentials(*KEYS), "lambda", REGION).add_auth(request)
    host = url.split("/")[2]
    return {"Host": host, **{k: str(v) for k, v in request.headers.items()}}


def invoke_once(
    url: str, body: bytes = PAYLOAD, timeout_s: float = 60.0
) -> tuple[float, int, bytes]:
    """One signed Invoke on a new connection: (seconds to the full response, status, body).

    Signing and connecting happen before the clock starts."""
    headers = signed_headers(url, body)
    host, port = headers["Host"].split(":")
    path = "/" + url.split("/", 3)[3]
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return time.perf_counter() - start, response.status, data
    finally:
        connection.close()


def check_reply(label: str, status: int, body: bytes) -> None:
    if status != 200 or json.loads(body or b"null") != {"ok": True}:
        raise RuntimeError(f"{label}: unexpected reply {status} {body[:300]!r}")


WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'ROOSTBENCH {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,'
    .. '"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max))
end
"""


def _lua(value: str) -> str:
    return json.dumps(value)  # A JSON string is a valid Lua string literal for ASCII.


def wrk_script(path: Path, url: str, body: bytes) -> Path:
    headers = signed_headers(url, body)
    lines = [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()]
    path.write_text(WRK_SCRIPT.format(body=_lua(body.decode()), headers="\n".join(lines)))
    return path


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass
class WarmRun:
    server: str
    clients: int
    seconds: float
    requests: int
    errors: int
    invokes_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    server_cpu_ms_per_invoke: float
    environment_cpu_ms_per_invoke: float
    wrk_cpu_ms_per_invoke: float
    other_processes_cores: float
    environments: int
    error_detail: dict[str, int] = field(default_factory=dict)


class CpuSplit:
    """CPU seconds of a server, its environments, wrk and everything else over a span."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.server_pid = target.server_pid()
        self.before = self._snapshot()

    def _snapshot(self) -> tuple[float, dict[int, float], float, float]:
        table = processes()
        server = table[self.server_pid].cpu_s if self.server_pid in table else 0.0
        environments = {
            pid: table[pid].cpu_s for tree in self.target.environments(table) for pid in tree
        }
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return server, environments, children.ru_utime + children.ru_stime, machine_busy_seconds()

    def read(self) -> tuple[float, float, float, float, int]:
        """(server, environments, wrk, others) CPU seconds and the environment count."""
        server0, envs0, child0, busy0 = self.before
        server1, envs1, child1, busy1 = self._snapshot()
        server = server1 - server0
        environments = sum(cpu - envs0.get(pid, 0.0) for pid, cpu in envs1.items())
        wrk = child1 - child0
        others = max(0.0, (busy1 - busy0) - server - environments - wrk)
        count = len(self.target.environments(processes()))
        return server, environments, wrk, others, count


def run_wrk(
    wrk: str, target: Target, name: str, clients: int, seconds: float, script_dir: Path
) -> dict[str, Any]:
    url = target.url(name)
    script = wrk_script(script_dir / f"{target.label}-{clients}.lua", url, PAYLOAD)
    argv = [
        wrk,
        "-t",
        "1",
        "-c",
        str(clients),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("ROOSTBENCH "):
            return dict(json.loads(line.split(" ", 1)[1]))
    raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")


WARM_UP_ROUNDS = 10


def warm_run(
    wrk: str, target: Target, name: str, clients: int, seconds: float, script_dir: Path
) -> WarmRun:
    # Untimed first: the environments this concurrency needs are created here. wrk drops
    # requests still in flight when a run ends, and environments placed for them may still
    # be starting, so warm up until the number of environments stops changing.
    count = -1
    for _ in range(WARM_UP_ROUNDS):
        run_wrk(wrk, target, name, clients, 1.0, script_dir)
        now = len(target.environments(processes()))
        if now == count:
            break
        count = now
    split = CpuSplit(target)
    figures = run_wrk(wrk, target, name, clients, seconds, script_dir)
    server, environments, wrk_cpu, others, count = split.read()
    requests = int(figures["requests"])
    elapsed = figures["duration_us"] / 1e6
    error_detail = {
        k: int(figures[k]) for k in ("connect", "read", "write", "status", "timeout") if figures[k]
    }

    def per_invoke(seconds_cpu: float) -> float:
        return round(seconds_cpu * 1000 / requests, 3) if requests else 0.0

    return WarmRun(
        server=target.label,
        clients=clients,
        seconds=round(elapsed, 3),
        requests=requests,
        errors=sum(error_detail.values()),
        invokes_per_s=round(requests / elapsed, 1) if elapsed else 0.0,
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        mean_ms=round(figures["mean_us"] / 1000, 3),
        max_ms=figures["max_us"] / 1000,
        server_cpu_ms_per_invoke=per_invoke(server),
        environment_cpu_ms_per_invoke=per_invoke(environments),
        wrk_cpu_ms_per_invoke=per_invoke(wrk_cpu),
        other_processes_cores=round(others / elapsed, 2) if elapsed else 0.0,
        environments=count,
        error_detail=error_detail,
    )


@dataclass
class Latencies:
    server: str
    what: str
    samples_ms: list[float]

    @property
    def p50_ms(self) -> float:
        return round(percentile(sorted(self.samples_ms), 50), 2)

    @property
    def p99_ms(self) -> float:
        return round(percentile(sorted(self.samples_ms), 99), 2)


def cold_starts(
    target: Target, names: Sequence[str], prepare: Callable[[str], None]
) -> tuple[Latencies, Latencies]:
    """First invoke of each fresh function, one after the other.

    Returns the invokes alone (``prepare``, signing and connecting untimed) and
    ``prepare`` through the response."""
    samples, totals = [], []
    for name in names:
        began = time.perf_counter()
        prepare(name)
        elapsed, status, body = invoke_once(target.url(name))
        totals.append(round((time.perf_counter() - began) * 1000, 3))
        check_reply(f"{target.label} cold {name}", status, body)
        samples.append(round(elapsed * 1000, 3))
    return (
        Latencies(target.label, "cold start", samples),
        Latencies(target.label, "prepare to first response", totals),
    )


@dataclass
class Burst:
    server: str
    functions: int
    wall_s: float
    environments_per_s: float
    p50_ms: float
    max_ms: float
    environments_after: int


def burst(target: Target, names: Sequence[str]) -> Burst:
    """First invokes of ``names`` all at once, one thread and connection each."""
    results: list[tuple[float, int, bytes] | BaseException] = [b""] * len(names)  # type: ignore[list-item]
    barrier = threading.Barrier(len(names) + 1)
    finished: list[float] = [0.0] * len(names)

    def worker(index: int, name: str) -> None:
        url = target.url(name)
        headers = signed_headers(url, PAYLOAD)
        host, port = headers["Host"].split(":")
        path = "/" + url.split("/", 3)[3]
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            connection.connect()
            barrier.wait()
            start = time.perf_counter()
            connection.request("POST", path, body=PAYLOAD, headers=headers)
            response = connection.getresponse()
            data = response.read()
            finished[index] = time.perf_counter()
            results[index] = (finished[index] - start, response.status, data)
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, n), daemon=True) for i, n in enumerate(names)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    latencies = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            raise RuntimeError(f"{target.label} burst {name}: {result!r}")
        elapsed, status, body = result
        check_reply(f"{target.label} burst {name}", status, body)
        latencies.append(elapsed * 1000)
    wall = max(finished) - began
    latencies.sort()
    return Burst(
        server=target.label,
        functions=len(names),
        wall_s=round(wall, 3),
        environments_per_s=round(len(names) / wall, 1),
        p50_ms=round(percentile(latencies, 50), 1),
        max_ms=round(latencies[-1], 1),
        environments_after=len(target.environments(processes())),
    )


@dataclass
class Memory:
    server: str
    environments: int
    processes_per_environment: float
    uss_median_mib: float
    uss_mean_mib: float
    uss_min_mib: float
    uss_max_mib: float
    python_only_median_mib: float
    server_uss_mib: float


def memory(target: Target) -> Memory:
    table = processes()
    trees = target.environments(table)
    totals = sorted(sum(uss_kib(pid) for pid in tree) / 1024 for tree in trees)
    python_only = sorted(
        sum(uss_kib(pid) for pid in tree if table[pid].comm.startswith("python")) / 1024
        for tree in trees
    )
    if not totals:
        raise RuntimeError(f"{target.label}: no environments found to measure")
    return Memory(
        server=target.label,
        environments=len(trees),
        processes_per_environment=round(sum(len(t) for t in trees) / len(trees), 2),
        uss_median_mib=round(statistics.median(totals), 2),
        uss_mean_mib=round(statistics.fmean(totals), 2),
        uss_min_mib=round(totals[0], 2),
        uss_max_mib=round(totals[-1], 2),
        python_only_median_mib=round(statistics.median(python_only), 2),
        server_uss_mib=round(uss_kib(target.server_pid()) / 1024, 1),
    )


def profile(
    py_spy: str, wrk: str, target: Target, name: str, seconds: float, out: Path, script_dir: Path
) -> Path | None:
    """py-spy on the server during an extra (untimed) 8-client wrk run: raw folded stacks.

    ``--gil``: only samples of the thread that holds the GIL (py-spy's idle detection
    counted threads parked on locks and queues as busy here), so the figures are shares
    of the time the server ran Python or C code under the GIL."""
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(target.server_pid()),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(PROFILE_RATE_HZ),
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)
        run_wrk(wrk, target, name, 8, seconds, script_dir)
        _, err = spy.communicate(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not out.exists():
        print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        return None
    return out


def _frame(frame: str) -> str:
    """'function (path/to/file.py:12)' -> 'function (file.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = where.split("/")
    where = "/".join(parts[parts.index("roost") :]) if "roost" in parts else parts[-1]
    return f"{name} ({where})"


PROFILE_RATE_HZ = 250

CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    # (area, substrings of a frame): the first frame from the leaf up that matches decides.
    ("SigV4 verification", ("roost/auth/",)),
    ("invocation log store (asyncio.to_thread)", ("roost/worker/log_store", "futures/thread.py")),
    ("Runtime API server (environment side)", ("roost/worker/runtime_api",)),
    (
        "invoke path (front end, counting, assignment, environment)",
        ("roost/frontend/invoke", "roost/flow", "roost/worker/"),
    ),
    ("Roost API layer (parsing, routing, rendering)", ("roost/api/", "roost/frontend/")),
    ("Starlette", ("starlette/",)),
    ("uvicorn HTTP (httptools)", ("uvicorn/", "httptools")),
    ("uvloop's C loop (I/O and callbacks, no Python frame)", ("asyncio/runners.py",)),
]


def summarize_profile(path: Path, seconds: float, top: int = 15) -> dict[str, Any]:
    """Self time by function and time by area, from py-spy's raw (folded) output."""
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # py-spy's first entry is the thread ("process 1:\"...\"" / "thread (0x...)").
        frames = [f for f in frames if " (" in f]
        if not frames:
            continue
        total += count
        own[_frame(frames[-1])] += count
        bucket = "other"
        for frame in reversed(frames):
            hit = next((b for b, keys in CATEGORIES if any(k in frame for k in keys)), None)
            if hit:
                bucket = hit
                break
        areas[bucket] += count
    return {
        "samples": total,
        "gil_held_share": round(total / (seconds * PROFILE_RATE_HZ), 2),
        "self": [(name, round(100 * c / total, 1)) for name, c in own.most_common(top)],
        "areas": [(name, round(100 * c / total, 1)) for name, c in areas.most_common()],
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class Report:
    date: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    settings: dict[str, Any]
    warm: list[WarmRun] = field(default_factory=list)
    cold: list[Latencies] = field(default_factory=list)
    create_to_response: Latencies | None = None
    bursts: list[Burst] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    profile: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["table"] = rows(self)
        return data


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def rows(report: Report) -> list[dict[str, Any]]:
    """The summary rows: metric, Roost, peer, ratio, target, met."""
    out: list[dict[str, Any]] = []

    def add(
        metric: str,
        roost: float | None,
        peer: float | None,
        target: str = "",
        met: bool | None = None,
        digits: int = 2,
    ) -> None:
        ratio = roost / peer if roost is not None and peer else None
        out.append(
            {
                "metric": metric,
                "roost": roost,
                "peer": peer,
                "ratio": ratio,
                "target": target,
                "met": met,
                "digits": digits,
            }
        )

    warm = {(w.server, w.clients): w for w in report.warm}
    clients = sorted({w.clients for w in report.warm})
    for c in clients:
        r, p = warm.get(("Roost", c)), warm.get((PEER, c))
        if r is None or p is None:
            continue
        ratio = r.invokes_per_s / p.invokes_per_s if p.invokes_per_s else 0.0
        target, met = ("≥ 3x peer", ratio >= 3) if c in (8, 32) else ("", None)
        add(
            f"Warm invokes/s, {c} client{'s' if c > 1 else ''}",
            r.invokes_per_s,
            p.invokes_per_s,
            target,
            met,
            0,
        )
    for c in clients:
        r, p = warm.get(("Roost", c)), warm.get((PEER, c))
        if r is None or p is None:
            continue
        target, met = ("< 0.5 ms", r.p50_ms < 0.5) if c == 1 else ("", None)
        add(f"Warm p50 ms, {c} client{'s' if c > 1 else ''}", r.p50_ms, p.p50_ms, target, met)
        add(f"Warm p99 ms, {c} client{'s' if c > 1 else ''}", r.p99_ms, p.p99_ms)
    cold = {c.server: c for c in report.cold}
    if "Roost" in cold and PEER in cold:
        roost_cold, peer_cold = cold["Roost"], cold[PEER]
        add(
            "Cold start p50 ms (first invoke of a fresh function)",
            roost_cold.p50_ms,
            peer_cold.p50_ms,
            "< 10 ms (pre-warmed pool)",
            roost_cold.p50_ms < 10,
        )
        add("Cold start p99 ms", roost_cold.p99_ms, peer_cold.p99_ms)
    if report.create_to_response is not None:
        total = report.create_to_response
        add("Roost CreateFunction → Active → first response, p50 ms", total.p50_ms, None)
    bursts = {b.server: b for b in report.bursts}
    if "Roost" in bursts and PEER in bursts:
        roost_burst, peer_burst = bursts["Roost"], bursts[PEER]
        add(
            f"Environments created/s ({roost_burst.functions} fresh functions at once)",
            roost_burst.environments_per_s,
            peer_burst.environments_per_s,
            digits=1,
        )
    mem = {m.server: m for m in report.memory}
    if "Roost" in mem and PEER in mem:
        roost_mem, peer_mem = mem["Roost"], mem[PEER]
        add(
            "USS MiB per idle warm environment (median)",
            roost_mem.uss_median_mib,
            peer_mem.uss_median_mib,
            "< 3 MB (2.86 MiB)",
            roost_mem.uss_median_mib * 1.048576 < 3,
        )
    return out


def summary_table(report: Report) -> str:
    lines = [
        f"| Metric | Roost | {PEER} | Roost/peer | Target | Met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows(report):
        met = {True: "met", False: "**not met**", None: ""}[row["met"]]
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "n/a"
        lines.append(
            f"| {row['metric']} | {_fmt(row['roost'], row['digits'])} "
            f"| {_fmt(row['peer'], row['digits'])} | {ratio} | {row['target']} | {met} |"
        )
    return "\n".join(lines)


def cpu_table(report: Report) -> str:
    lines = [
        "| Server | Clients | invokes/s | p50 / p90 / p99 ms | server CPU ms/invoke "
        "| environments CPU ms/invoke | wrk CPU ms/invoke | other processes, cores "
        "| environments | errors |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w in report.warm:
        lines.append(
            f"| {w.server} | {w.clients} | {w.invokes_per_s:,.0f} "
            f"| {w.p50_ms:.2f} / {w.p90_ms:.2f} / {w.p99_ms:.2f} "
            f"| {w.server_cpu_ms_per_invoke:.3f} | {w.environment_cpu_ms_per_invoke:.3f} "
            f"| {w.wrk_cpu_ms_per_invoke:.3f} | {w.other_processes_cores:.2f} "
            f"| {w.environments} | {w.errors} |"
        )
    return "\n".join(lines)


def detail_table(report: Report) -> str:
    lines = [
        "| Server | cold starts (n) p50 / p99 / max ms | burst: functions, wall s, p50 / max ms "
        "| environments measured, processes each | USS MiB median / mean / min / max "
        "| python process alone, median MiB | server process USS MiB |",
        "|---|---|---|---|---|---:|---:|",
    ]
    cold = {c.server: c for c in report.cold}
    bursts = {b.server: b for b in report.bursts}
    for m in report.memory:
        c, b = cold.get(m.server), bursts.get(m.server)
        cold_text = (
            f"({len(c.samples_ms)}) {c.p50_ms:.1f} / {c.p99_ms:.1f} / {max(c.samples_ms):.1f}"
            if c
            else "n/a"
        )
        burst_text = (
            f"{b.functions}, {b.wall_s:.2f}, {b.p50_ms:.0f} / {b.max_ms:.0f}" if b else "n/a"
        )
        lines.append(
            f"| {m.server} | {cold_text} | {burst_text} "
            f"| {m.environments}, {m.processes_per_environment:g} "
            f"| {m.uss_median_mib:.2f} / {m.uss_mean_mib:.2f} / {m.uss_min_mib:.2f} / "
            f"{m.uss_max_mib:.2f} | {m.python_only_median_mib:.2f} | {m.server_uss_mib:.1f} |"
        )
    return "\n".join(lines)


def profile_text(summary: dict[str, Any]) -> str:
    lines = [
        f"py-spy --gil, Roost server, 8 clients (untimed extra run): {summary['samples']} "
        f"samples with the GIL held (~{summary['gil_held_share']:.0%} of the time)",
        "",
        "| Area (first match from the leaf up) | % of busy samples |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {pct} |" for name, pct in summary["areas"]]
    lines += ["", "| Function (self time) | % |", "|---|---:|"]
    lines += [f"| `{name}` | {pct} |" for name, pct in summary["self"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


NOISY_CORES = 0.2


def wait_quiet(max_wait_s: float, threshold: float = NOISY_CORES) -> float:
    """Wait (up to ``max_wait_s``) until other processes keep < ``threshold`` cores busy
    over 2 s; the last reading."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_seconds()
        time.sleep(2.0)
        busy = (machine_busy_seconds() - before) / 2.0
        if busy < threshold or time.monotonic() >= deadline:
            return round(busy, 2)
        print(f"  other processes keep {busy:.2f} cores busy: waiting ...", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sync invoke of Roost against serverless-offline: warm latency and "
        "throughput (wrk), cold starts, environments/s, memory per idle environment."
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each wrk run")
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        help="concurrent connections for the warm runs (default: 1 8 32)",
    )
    parser.add_argument("--cold", type=int, default=30, help="cold starts to time (each server)")
    parser.add_argument(
        "--burst", type=int, default=48, help="fresh functions invoked at once for environments/s"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE / "serverless",
        help="where npm installs the baseline (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-budget-mb",
        type=int,
        default=65536,
        help="ROOST_MEMORY_BUDGET_MB, so that no environment is evicted",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"first wait up to this long for other processes to use < {NOISY_CORES} cores",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    if args.cold < 1 or args.burst < 1:
        parser.error("--cold and --burst must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        importlib.metadata.version("roost")
    except importlib.metadata.PackageNotFoundError:
        print(
            f"roost is not installed for {sys.executable}: pip install -e '.[test]'",
            file=sys.stderr,
        )
        return 2
    wrk = ensure_wrk()
    peer_versions = ensure_peer(args.cache_dir)
    py_spy = None if args.no_profile else ensure_py_spy()

    if args.wait_quiet > 0:
        busy = wait_quiet(args.wait_quiet)
        print(f"other processes before the run: {busy:.2f} cores busy", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="roost-bench-invoke-"))
    cold_names = [f"cold{i:03d}" for i in range(args.cold)]
    burst_names = [f"burst{i:03d}" for i in range(args.burst)]
    warm_name = "warm"
    roost = Roost(workdir, free_port(), args.memory_budget_mb)
    peer = ServerlessOffline(
        workdir, free_port(), args.cache_dir, [warm_name, *cold_names, *burst_names]
    )
    targets: list[Target] = [roost, peer]
    versions = dict(peer_versions)
    for package in ("roost", "boto3", "botocore", "uvicorn", "uvloop", "httptools"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        versions["wrk"] = (
            subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
            .stdout.split("[")[0]
            .strip()
        )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        versions["function python (/usr/bin/python3)"] = subprocess.run(
            ["/usr/bin/python3", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    report = Report(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=(
            "bench/run invoke " + " ".join(argv if argv is not None else sys.argv[1:])
        ).strip(),
        machine=machine(),
        versions=versions,
        settings={
            "seconds": args.seconds,
            "clients": args.clients,
            "cold": args.cold,
            "burst": args.burst,
            "runtime": RUNTIME,
            "memory_mb": MEMORY_MB,
            "roost_memory_budget_mb": args.memory_budget_mb,
            "wrk": "-t 1 --timeout 10s --latency; untimed 1 s runs before each measured run "
            "until the number of environments stops changing",
        },
    )
    cores = report.machine["cpus"]
    print(
        f"# Sync invoke: Roost vs {PEER} {peer_versions['serverless-offline']} "
        f"(serverless {peer_versions['serverless']}), wrk {args.seconds:g} s per run, "
        f"clients {' '.join(map(str, args.clients))}\n"
        f"machine: {cores} cores ({report.machine['cpu_model']}), "
        f"{report.machine['memory_gib']} GiB, {report.machine['os']}\n"
        f"note: wrk, the server under test and its environments share the {cores} cores; "
        "one server is measured at a time, the other sits idle.",
        flush=True,
    )
    code = make_zip("handler.py", HANDLER_SOURCE)
    try:
        with running(targets):
            print(f"{PEER} up on :{peer.port}, Roost up on :{roost.port}", flush=True)
            roost.create(warm_name, code)
            roost.wait_active(warm_name)
            for target in targets:
                _, status, body = invoke_once(target.url(warm_name))
                check_reply(f"{target.label} warm-up", status, body)
            report.versions["roost isolation"] = roost.sandboxed()

            for clients in args.clients:
                for target in targets:
                    print(f"  warm, {clients} client(s), {target.label} ...", flush=True)
                    report.warm.append(
                        warm_run(wrk, target, warm_name, clients, args.seconds, workdir)
                    )
            if py_spy:
                print("  py-spy on the Roost server, 8 clients (untimed) ...", flush=True)
                spy_seconds = max(int(args.seconds), 3)
                folded = profile(
                    py_spy,
                    wrk,
                    roost,
                    warm_name,
                    spy_seconds,
                    workdir / "roost-profile.txt",
                    workdir,
                )
                if folded is not None:
                    report.profile = summarize_profile(folded, spy_seconds)

            print(f"  cold starts, {args.cold} each ...", flush=True)

            def prepare_roost(name: str) -> None:
                roost.create(name, code)
                roost.wait_active(name)

            roost_cold, roost_total = cold_starts(roost, cold_names, prepare_roost)
            report.cold.append(roost_cold)
            report.create_to_response = roost_total
            report.cold.append(cold_starts(peer, cold_names, lambda name: None)[0])

            print(f"  environments/s, {args.burst} fresh functions at once ...", flush=True)
            for name in burst_names:
                roost.create(name, code)
            for name in burst_names:
                roost.wait_active(name)
            for target in targets:
                report.bursts.append(burst(target, burst_names))

            time.sleep(2.0)  # Let every environment go idle.
            for target in targets:
                report.memory.append(memory(target))
    except KeyboardInterrupt:
        print("interrupted: servers stopped", file=sys.stderr)
        return 130
    except Exception:
        for target in targets:
            print(f"--- {target.label} log tail ---\n{target.log_tail()}", file=sys.stderr)
        raise
    finally:
        if args.keep_logs:
            print(f"logs and data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(summary_table(report))
    print()
    print("Warm runs: where the CPU went (per invoke, from /proc and wrk's rusage):")
    print()
    print(cpu_table(report))
    print()
    print(detail_table(report))
    if report.profile:
        print()
        print(profile_text(report.profile))
    print()
    print(
        "Warm: wrk -t1 replaying one SigV4-signed Invoke (p50/p99 from wrk's histogram); "
        "cold: first invoke of a never-invoked function, signing and connecting untimed "
        "(Roost: after CreateFunction reached Active; peer: a function defined in "
        "serverless.yml whose Python process is spawned by that invoke); p99 of "
        f"{args.cold} samples is their maximum. USS = Private_Clean + Private_Dirty of "
        "every process of an environment. Roost/peer > 1 is better for invokes/s and "
        "environments/s, < 1 for latency and memory."
    )
    noisy = [w for w in report.warm if w.other_processes_cores > NOISY_CORES]
    if noisy:
        print(
            f"NOTE: other processes kept more than {NOISY_CORES} cores busy during "
            f"{len(noisy)} of {len(report.warm)} warm runs (column 'other processes'): those "
            "figures are low; run again on a quiet machine."
        )
    failed = [w for w in report.warm if w.errors]
    for w in failed:
        print(
            f"WARNING: {w.server} x{w.clients}: {w.errors} errors {w.error_detail}", file=sys.stderr
        )
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
        print(f"JSON results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
