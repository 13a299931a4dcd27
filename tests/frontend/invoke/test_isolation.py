"""What a function can and cannot reach from inside its execution environment.

A probe function tries the paths a hostile handler could guess: another
function's code (its ``/var/task``, the worker's code cache on the host), the
host's ``/etc/shadow``, Roost's data directory, the sandbox area under
``/var/tmp``, the host's processes through ``/proc``. Each guess is first checked
on the host (the test runs there), so a refusal inside means isolation, not a
wrong guess.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from roost.worker.isolation import detect
from roost.worker.sandbox_area import SandboxArea
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import Beacon, cold, deploy_code, invoke

pytestmark = pytest.mark.skipif(
    not detect().sandboxed, reason="needs bubblewrap sandboxes (apt-get install bubblewrap)"
)

PROBE = """
import errno, glob, os, socket, time

def read(path):
    try:
        if os.path.isdir(path):
            return {"listing": sorted(os.listdir(path))}
        with open(path, "rb") as source:
            return {"content": source.read(4096).decode("latin-1")}
    except OSError as error:
        return {"error": errno.errorcode.get(error.errno, str(error.errno))}

def status_fields():
    fields = {}
    with open("/proc/self/status") as source:
        for line in source:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields

def handler(event, context):
    action = event.get("action")
    if action == "read":
        return {path: read(path) for path in event["paths"]}
    if action == "glob":
        return sorted(glob.glob(event["pattern"]))
    if action == "identity":
        try:
            os.setuid(0)
            setuid = "allowed"
        except OSError as error:
            setuid = errno.errorcode[error.errno]
        with open("/proc/self/uid_map") as source:
            uid_map = source.read().split()
        return {
            "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
            "groups": os.getgroups(), "status": status_fields(),
            "uid_map": uid_map, "setuid": setuid, "pid": os.getpid(),
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        }
    if action == "tmp":
        path = "/tmp/marker"
        found = open(path).read() if os.path.exists(path) else None
        if event.get("write"):
            with open(path, "w") as sink:
                sink.write(event["write"])
        return found
    if action == "fill_tmp":
        written = 0
        chunk = b"\\1" * (1 << 20)
        outcome = "no error"
        try:
            with open("/tmp/fill", "wb") as sink:
                while written < event["limit_mb"]:
                    sink.write(chunk)
                    sink.flush()
                    written += 1
        except OSError as error:
            outcome = errno.errorcode.get(error.errno, str(error.errno))
        stats = os.statvfs("/tmp")
        os.remove("/tmp/fill")
        return {"written_mb": written, "outcome": outcome,
                "size_mb": stats.f_blocks * stats.f_frsize // (1 << 20)}
    if action == "connect":
        with socket.create_connection(("127.0.0.1", event["port"]), timeout=5) as conn:
            return conn.recv(64).decode()
    if action == "steal_next":
        host, _, port = event["api"].rpartition(":")
        try:
            conn = socket.create_connection((host, int(port)), timeout=2)
        except OSError as error:
            return "refused: " + errno.errorcode.get(error.errno, str(error.errno))
        with conn:
            request = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
            conn.sendall(request.encode())
            conn.settimeout(1.0)
            try:
                answer = conn.recv(256)
            except socket.timeout:
                return "parked"
            except ConnectionResetError:
                return "closed"
            if not answer:
                return "closed"
            return "answered: " + answer.decode("latin-1").split("\\r\\n")[0]
    if action == "bomb":
        socket.create_connection(("127.0.0.1", event["started"])).close()
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    if action == "api":
        return os.environ["AWS_LAMBDA_RUNTIME_API"]
    return {"stream": context.log_stream_name}
"""


@pytest.fixture(scope="module")
def client(roost: RoostProcess) -> Any:
    return roost.client()


@pytest.fixture(scope="module")
def probe(client: Any) -> str:
    """One deployed probe function shared by the module's read-only checks."""
    name = f"probe-{uuid.uuid4().hex[:12]}"
    deploy_code(client, name, {"app.py": PROBE}, MemorySize=256, Timeout=10)
    return name


@pytest.fixture(scope="module")
def victim(client: Any) -> tuple[str, bytes, str]:
    """Another function with a secret in its code: (name, zip, secret)."""
    name = f"victim-{uuid.uuid4().hex[:12]}"
    secret = f"victim-secret-{uuid.uuid4().hex}"
    files = {"app.py": PROBE, "secret.txt": secret}
    code = deploy_code(client, name, files, Timeout=10)
    invoke(client, name, {"action": "hello"})  # its code is now extracted on the host
    return name, code, secret


def probe_read(client: Any, function: str, paths: list[str]) -> dict[str, dict[str, Any]]:
    _, result = invoke(client, function, {"action": "read", "paths": paths})
    return dict(result)


def assert_unreadable(found: dict[str, dict[str, Any]], secret: str | None = None) -> None:
    for path, outcome in found.items():
        assert "error" in outcome, f"{path} was readable from the function: {outcome}"
        if secret is not None:
            assert secret not in json.dumps(outcome)


def test_a_function_cannot_read_another_functions_code(
    client: Any, probe: str, victim: tuple[str, bytes, str], roost: RoostProcess
) -> None:
    _, code, secret = victim
    area = SandboxArea.for_data_dir(roost.data_dir)
    cached = area.code_dir / hashlib.sha256(code).hexdigest() / "secret.txt"
    assert cached.read_text() == secret  # the guess is right on the host
    guesses = [
        str(cached),
        str(area.code_dir),
        str(area.root),
        f"/proc/1/root{cached}",
        f"/proc/{roost.process.pid if roost.process else 1}/root{cached}",
        "/var/task/secret.txt",
    ]

    found = probe_read(client, probe, guesses)
    own = probe_read(client, probe, ["/var/task/app.py"])
    sandboxes = invoke(client, probe, {"action": "glob", "pattern": "/var/tmp/roost-sandbox-*"})[1]

    assert_unreadable(found, secret)
    assert "def handler" in own["/var/task/app.py"]["content"]
    assert sandboxes == []


def test_a_function_cannot_read_the_hosts_shadow_file(client: Any, probe: str) -> None:
    assert Path("/etc/shadow").exists()

    found = probe_read(client, probe, ["/etc/shadow", "/proc/1/root/etc/shadow"])
    etc = probe_read(client, probe, ["/etc"])["/etc"]["listing"]

    assert_unreadable(found)
    assert "shadow" not in etc
    assert "gshadow" not in etc


def test_a_function_cannot_read_roosts_data_directory(
    client: Any, probe: str, roost: RoostProcess
) -> None:
    data_files = [p for p in roost.data_dir.rglob("*") if p.is_file()]
    assert data_files  # the store lives there
    guesses = [str(roost.data_dir), *(str(p) for p in data_files[:5])]
    guesses += [f"/proc/1/root{guess}" for guess in guesses[:2]]

    assert_unreadable(probe_read(client, probe, guesses))


def test_the_hosts_processes_are_invisible(client: Any, probe: str, roost: RoostProcess) -> None:
    assert roost.process is not None
    host_pid = roost.process.pid
    assert Path(f"/proc/{host_pid}/environ").exists()

    _, identity = invoke(client, probe, {"action": "identity"})
    found = probe_read(
        client, probe, [f"/proc/{host_pid}/environ", f"/proc/{host_pid}/root/etc/shadow"]
    )

    # Only the sandbox's own few processes (its init and the runtime) are there.
    assert identity["pid"] <= 4
    assert len(identity["pids"]) <= 4
    for outcome in found.values():
        assert "error" in outcome or "AWS_ACCESS_KEY_ID" not in json.dumps(outcome)
    assert_unreadable({k: v for k, v in found.items() if k.endswith("shadow")})


def host_uids_of(function: str) -> set[int]:
    """Real uids, seen from the host, of the processes that may run ``function``.

    A pre-warmed environment learns its function after it started, so its
    process environment cannot name it: every pre-warmed environment counts
    (they must all be unprivileged anyway).
    """
    marker = f"AWS_LAMBDA_FUNCTION_NAME={function}".encode()
    uids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            variables = (entry / "environ").read_bytes().split(b"\0")
            if marker not in variables and not any(
                v.startswith(b"ROOST_PREWARMED=") for v in variables
            ):
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:"):
                uids.update(int(uid) for uid in line.split()[1:])
    return uids


def test_a_function_runs_as_an_unprivileged_user_without_capabilities(
    client: Any, probe: str
) -> None:
    _, identity = invoke(client, probe, {"action": "identity"})

    # Inside: AWS's sbx_user1051, no capabilities, no way to gain any.
    assert (identity["uid"], identity["euid"], identity["gid"]) == (993, 993, 990)
    status = identity["status"]
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(status[capabilities], 16) == 0, capabilities
    assert status["NoNewPrivs"] == "1"
    assert identity["setuid"] in {"EPERM", "EINVAL"}  # refused: uid 0 is not even mapped
    # On the host, every process of the function runs as an unprivileged uid.
    uids = host_uids_of(probe)
    assert uids
    assert 0 not in uids
    assert all(uid >= 1000 for uid in uids)


USERNS = """
import ctypes, errno, os

def handler(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER
        return "created"
    return errno.errorcode[ctypes.get_errno()]
"""


@pytest.mark.parametrize("zygote", ["1", "0"], ids=["forked", "launched"])
def test_a_function_cannot_create_a_user_namespace(
    tmp_path: Path, function_name: str, zygote: str
) -> None:
    node = RoostProcess(tmp_path / "data", env={"ROOST_ZYGOTE": zygote})
    node.start()
    try:
        client = node.client()
        deploy_code(client, function_name, {"app.py": USERNS})

        _, result = invoke(client, function_name, {})

        # In one it would hold every capability again.
        assert result != "created"
    finally:
        node.stop()


def test_tmp_is_private_to_each_environment(client: Any, function_name: str) -> None:
    first, second = f"{function_name}-a", f"{function_name}-b"
    for name in (first, second):
        deploy_code(client, name, {"app.py": PROBE})

    _, before = invoke(client, first, {"action": "tmp", "write": "from a"})
    _, seen_by_other = invoke(client, second, {"action": "tmp"})
    _, seen_again = invoke(client, first, {"action": "tmp"})

    assert before is None
    assert seen_by_other is None
    assert seen_again == "from a"


def test_tmp_is_capped_at_the_ephemeral_storage_size(client: Any, function_name: str) -> None:
    deploy_code(
        client,
        function_name,
        {"app.py": PROBE},
        MemorySize=1024,
        EphemeralStorage={"Size": 512},
        Timeout=30,
    )

    _, filled = invoke(client, function_name, {"action": "fill_tmp", "limit_mb": 600})

    assert filled["outcome"] == "ENOSPC"
    assert filled["size_mb"] == 512
    assert 500 <= filled["written_mb"] <= 512


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    server = Beacon(b"hello from the host")
    yield server
    server.close()


def test_the_network_reaches_the_hosts_loopback_by_default(
    client: Any, probe: str, beacon: Beacon
) -> None:
    _, answer = invoke(client, probe, {"action": "connect", "port": beacon.port})

    assert answer == "hello from the host"


def test_a_fork_bomb_kills_only_its_own_environment(
    roost: RoostProcess, function_name: str, beacon: Beacon
) -> None:
    client = roost.client(max_pool_connections=4)
    bomb, bystander = f"{function_name}-bomb", f"{function_name}-ok"
    deploy_code(client, bomb, {"app.py": PROBE}, Timeout=3)
    deploy_code(client, bystander, {"app.py": PROBE}, Timeout=10)
    invoke(client, bystander, {})

    with ThreadPoolExecutor(1) as pool:
        exploding = pool.submit(invoke, client, bomb, {"action": "bomb", "started": beacon.port})
        deadline = time.monotonic() + 30
        while beacon.hits == 0 and not exploding.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        during = [invoke(client, bystander, {"n": n}) for n in range(3)]
        still_exploding = not exploding.done()
        response, error = exploding.result(timeout=60)

    assert beacon.hits == 1 and still_exploding  # the bystander ran while the bomb went off
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] in {"Sandbox.Timedout", "Runtime.OutOfMemory", "Runtime.ExitError"}
    assert all("FunctionError" not in r for r, _ in during)
    assert len({result["stream"] for _, result in during}) == 1
    after, result = invoke(client, bomb, {})
    assert "stream" in result
    assert cold(after)


def test_a_function_cannot_reach_another_functions_runtime_api(
    client: Any, probe: str, victim: tuple[str, bytes, str]
) -> None:
    name, _, _ = victim
    _, api = invoke(client, name, {"action": "api"})  # discoverable in /proc/net/tcp

    _, outcome = invoke(client, probe, {"action": "steal_next", "api": api})

    # Refused, dropped, or answered 403: anything but being served (or parked).
    assert outcome == "closed" or outcome.startswith(("refused", "answered: HTTP/1.1 403")), outcome
