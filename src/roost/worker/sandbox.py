"""Launching an environment's process tree: under bubblewrap, or plainly as a fallback.

Under bubblewrap the process runs as an unprivileged host uid (bwrap started by
root would keep capabilities), seen inside as AWS's ``sbx_user1051`` (993), with
no capabilities, in its own user, mount, PID, IPC and UTS namespaces, with
system paths read-only, the function's code read-only at ``/var/task``, Roost's
runtime client at ``/var/runtime``, a private ``/tmp`` of ``EphemeralStorage``
size, nothing of ``/run``, ``/var/run``, ``/dev/shm`` or the host's ``/etc``
beyond what name resolution and TLS need, and memory, pids and CPU share capped
by a cgroup (rlimits where cgroups are not writable).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from roost.worker.cgroups import LimitGroup

SANDBOX_UID = 65534
SANDBOX_GID = 65534
MAX_PIDS = 1024
RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
TASK_ROOT = "/var/task"
SANDBOX_RUNTIME_DIR = "/var/runtime"

# Host paths a function may read (read-only); anything else is invisible.
_SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_ETC_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/mime.types",
)
# Inside its user namespace the function runs as AWS's sandbox user (uid 993,
# gid 990), mapped to the unprivileged SANDBOX_UID on the host.
FUNCTION_UID = 993
FUNCTION_GID = 990
_PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    f"sbx_user1051:x:{FUNCTION_UID}:{FUNCTION_GID}::/home/sbx_user1051:/sbin/nologin\n"
)
_GROUP = f"root:x:0:\nsbx_user1051:x:{FUNCTION_GID}:\n"


@dataclass(frozen=True)
class SandboxSpec:
    """What one environment's process needs."""

    env_id: str
    runtime: str
    code_dir: Path
    environment: Mapping[str, str]
    memory_mb: int
    ephemeral_storage_mb: int
    network: bool = True
    runtime_client_dir: Path = RUNTIME_DIR
    api_socket: Path | None = None
    limits: LimitGroup | None = None


def bwrap_path() -> str | None:
    """The bubblewrap binary, if installed and usable."""
    return shutil.which("bwrap")


def traversable_by_others(path: Path) -> bool:
    """Whether an unprivileged uid can reach ``path`` (every ancestor has o+x)."""
    current = path.resolve()
    for directory in [current, *current.parents]:
        try:
            if not directory.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def sandbox_interpreter() -> str | None:
    """The Python a sandboxed function runs on: one the sandbox uid can reach.

    The system interpreter under /usr is preferred; Roost's own (real binary, not
    a venv link, so Roost's site-packages stay out) if it is reachable.
    """
    for candidate in ("/usr/bin/python3", str(Path(sys.executable).resolve())):
        path = Path(candidate)
        if path.exists() and traversable_by_others(path.resolve().parent):
            return str(path.resolve())
    return None


def runtime_interpreter(runtime: str) -> str | None:
    """The system interpreter matching a ``python3.x`` runtime exactly, if installed."""
    path = Path("/usr/bin") / runtime
    if runtime.startswith("python3.") and path.exists():
        return str(path.resolve())
    return None


def python_interpreter(runtime: str) -> str | None:
    """The interpreter a sandboxed ``python3.x`` function runs on (its zygote's too)."""
    return runtime_interpreter(runtime) or sandbox_interpreter()


def _interpreter(sandboxed: bool, runtime: str = "") -> str:
    if sandboxed:
        found = python_interpreter(runtime)
        assert found is not None
        return found
    # The real binary, not a venv's link to it: functions must not see Roost's
    # own site-packages.
    return str(Path(sys.executable).resolve())


SANDBOX_API_SOCKET = "/var/runtime-api.sock"


def _command(spec: SandboxSpec, sandboxed: bool) -> list[str]:
    runtime_dir = SANDBOX_RUNTIME_DIR if sandboxed else str(spec.runtime_client_dir)
    if spec.runtime.startswith("python"):
        interpreter = _interpreter(sandboxed, spec.runtime)
        command = [interpreter, "-s", "-u", f"{runtime_dir}/bootstrap.py"]
    else:
        task_root = TASK_ROOT if sandboxed else str(spec.code_dir)
        command = [f"{task_root}/bootstrap"]
    if sandboxed and not spec.network:
        # No network: the Runtime API comes in as a Unix socket, bridged to the
        # sandbox's own loopback before the runtime starts.
        return [_interpreter(True), "-s", f"{runtime_dir}/netless.py", *command]
    return command


# Namespaces, identity and the fresh mounts every sandbox gets.
_ISOLATION_ARGS = (
    "--unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try "
    f"--uid {FUNCTION_UID} --gid {FUNCTION_GID} --die-with-parent --new-session "
    "--hostname localhost --cap-drop ALL --proc /proc --dev /dev "
    "--dir /var --dir /run --dir /var/run"
).split()


def _read_only_host_paths(interpreter: str | None = None) -> list[str]:
    """System paths, a few /etc files and the interpreter's tree, read-only."""
    interpreter_root = Path(interpreter or _interpreter(True)).parent.parent
    paths = [*_SYSTEM_PATHS, *_ETC_FILES]
    if not any(str(interpreter_root).startswith(p) for p in _SYSTEM_PATHS):
        paths.append(str(interpreter_root))
    args: list[str] = []
    for path in paths:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _bwrap_args(spec: SandboxSpec, passwd_fd: int, group_fd: int) -> list[str]:
    """bwrap's arguments (bwrap runs as the sandbox uid: every source must be
    reachable by it, which is why code and the runtime client live in a
    sandbox directory Roost makes traversable)."""
    # No user namespaces of the function's own: in one it would hold every
    # capability again (over nothing it inherits, but a kernel bug away from more).
    args = [*_ISOLATION_ARGS, "--disable-userns"]
    args += ["--size", str(spec.ephemeral_storage_mb * 1024 * 1024)]
    args += ["--tmpfs", "/tmp"]
    if not spec.network:
        args.append("--unshare-net")
    args += _read_only_host_paths()
    args += _identity_files(passwd_fd, group_fd)
    args += ["--ro-bind", str(spec.code_dir), TASK_ROOT]
    args += ["--ro-bind", str(spec.runtime_client_dir), SANDBOX_RUNTIME_DIR]
    if spec.api_socket and not spec.network:
        args += ["--bind", str(spec.api_socket), SANDBOX_API_SOCKET]
    return [*args, "--chdir", TASK_ROOT]


def _identity_files(passwd_fd: int, group_fd: int) -> list[str]:
    return [
        *("--perms", "0444", "--file", str(passwd_fd), "/etc/passwd"),
        *("--perms", "0444", "--file", str(group_fd), "/etc/group"),
    ]


def _preexec(spec: SandboxSpec, sandboxed: bool) -> Callable[[], None]:
    memory_bytes = spec.memory_mb * 1024 * 1024
    procs = [str(p) for p in spec.limits.procs_files] if spec.limits else []

    def prepare() -> None:
        # Runs in the child between fork and exec: only plain system calls here.
        for path in procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        if not procs:
            # No cgroup: bound what an rlimit can (address space is generous
            # because interpreters reserve far more than they touch).
            limit = memory_bytes * 2 + 512 * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            if not sandboxed:
                resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PIDS, MAX_PIDS))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return prepare


def _file_pipe(text: str) -> int:
    """A pipe's read end holding ``text`` (bwrap's ``--file FD PATH`` reads it)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, text.encode())
    finally:
        os.close(write_end)
    return read_end


def launch(spec: SandboxSpec, sandboxed: bool) -> subprocess.Popen[bytes]:
    """Start the environment's process; stdout and stderr share one pipe."""
    command = _command(spec, sandboxed)
    pass_fds: tuple[int, ...] = ()
    as_root = os.geteuid() == 0
    if sandboxed:
        binary = bwrap_path()
        assert binary is not None
        passwd_fd, group_fd = _file_pipe(_PASSWD), _file_pipe(_GROUP)
        pass_fds = (passwd_fd, group_fd)
        command = [binary, *_bwrap_args(spec, passwd_fd, group_fd), "--", *command]
    try:
        return _start(
            command,
            dict(spec.environment),
            "/" if sandboxed else str(spec.code_dir),
            pass_fds,
            sandboxed and as_root,
            _preexec(spec, sandboxed),
        )
    finally:
        for fd in pass_fds:
            os.close(fd)


def _start(
    command: list[str],
    environment: dict[str, str],
    cwd: str,
    pass_fds: tuple[int, ...],
    drop_to_sandbox_uid: bool,
    preexec: Callable[[], None],
) -> subprocess.Popen[bytes]:
    """A sandbox's outer process: its own session, stdout and stderr on one pipe, and
    the unprivileged sandbox uid when Roost runs as root (bwrap started by root
    would keep capabilities)."""
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=cwd,
        pass_fds=pass_fds,
        user=SANDBOX_UID if drop_to_sandbox_uid else None,
        group=SANDBOX_GID if drop_to_sandbox_uid else None,
        extra_groups=[] if drop_to_sandbox_uid else None,
        preexec_fn=preexec,
        start_new_session=True,
    )


# The zygote: one sandbox per interpreter from which environments are forked

SANDBOX_SLOTS_DIR = "/var/roost-slots"
_ZYGOTE_TMP_BYTES = 64 * 1024


def _zygote_args(
    interpreter: str, runtime_client_dir: Path, slots_dir: Path, passwd_fd: int, group_fd: int
) -> list[str]:
    """An environment's isolation, with every pooled slot (read-only) instead of one
    function's code: each forked environment binds its own slot and hides the rest."""
    args = [*_ISOLATION_ARGS, "--size", str(_ZYGOTE_TMP_BYTES), "--tmpfs", "/tmp"]
    args += _read_only_host_paths(interpreter)
    args += _identity_files(passwd_fd, group_fd)
    args += ["--dir", TASK_ROOT]
    args += ["--ro-bind", str(runtime_client_dir), SANDBOX_RUNTIME_DIR]
    args += ["--ro-bind", str(slots_dir), SANDBOX_SLOTS_DIR]
    return [*args, "--chdir", "/"]


def launch_zygote(
    interpreter: str,
    runtime_client_dir: Path,
    slots_dir: Path,
    control_fd: int,
    environment: Mapping[str, str],
) -> subprocess.Popen[bytes]:
    """Start a zygote under bubblewrap; it serves forks on ``control_fd``.

    Its stdout and stderr share one pipe (the zygote's own complaints).
    """
    binary = bwrap_path()
    assert binary is not None
    as_root = os.geteuid() == 0
    passwd_fd, group_fd = _file_pipe(_PASSWD), _file_pipe(_GROUP)
    args = _zygote_args(interpreter, runtime_client_dir, slots_dir, passwd_fd, group_fd)
    command = [binary, *args, "--", interpreter, "-s", "-u", f"{SANDBOX_RUNTIME_DIR}/zygote.py"]
    try:
        return _start(
            command,
            {**environment, "ROOST_ZYGOTE_FD": str(control_fd)},
            "/",
            (passwd_fd, group_fd, control_fd),
            as_root,
            _no_core_dumps,
        )
    finally:
        os.close(passwd_fd)
        os.close(group_fd)


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_probe(interpreter: str, code: str, timeout_s: float = 10.0) -> tuple[int, str]:
    """Run Python ``code`` in a bare sandbox (no function, no code dir); exit code, output.

    What start-up and ``roost doctor`` use to learn what a sandbox can do here.
    """
    binary = bwrap_path()
    assert binary is not None
    as_root = os.geteuid() == 0
    args = [*_ISOLATION_ARGS, "--size", str(_ZYGOTE_TMP_BYTES), "--tmpfs", "/tmp"]
    args += _read_only_host_paths(interpreter)
    try:
        done = subprocess.run(
            [binary, *args, "--", interpreter, "-s", "-c", code],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
            user=SANDBOX_UID if as_root else None,
            group=SANDBOX_GID if as_root else None,
            extra_groups=[] if as_root else None,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return -1, str(error)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")
