"""Warm invokes: one Invoke request signed once with SigV4, replayed by wrk; wrk's figures
and the CPU time of the server, its environments, wrk and everything else from ``/proc``."""

from __future__ import annotations

import http.client
import json
import resource
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import KEYS, REGION, ensure_apt_binary, machine_busy_seconds
from invoke_proc import processes
from invoke_targets import PAYLOAD, Target


def ensure_wrk() -> str:
    """wrk's path, installing the apt package if it is missing (needs root)."""
    return ensure_apt_binary("wrk", "wrk")


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
# Warm runs
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


def _settle(wrk: str, target: Target, name: str, clients: int, script_dir: Path) -> None:
    """Untimed 1 s runs until the number of environments stops changing.

    The environments this concurrency needs are created here. wrk drops requests still in
    flight when a run ends, and environments placed for them may still be starting."""
    count = -1
    for _ in range(WARM_UP_ROUNDS):
        run_wrk(wrk, target, name, clients, 1.0, script_dir)
        now = len(target.environments(processes()))
        if now == count:
            break
        count = now


def warm_run(
    wrk: str, target: Target, name: str, clients: int, seconds: float, script_dir: Path
) -> WarmRun:
    """One measured wrk run with ``clients`` connections, after the untimed warm-up."""
    _settle(wrk, target, name, clients, script_dir)
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
