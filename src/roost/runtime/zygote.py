"""The zygote: a sandboxed Python that forks pre-warmed execution environments.

One zygote runs per interpreter, inside a bubblewrap sandbox like an
environment's (unprivileged uid, its own user, mount, PID, IPC and UTS
namespaces, no capabilities). It imports Roost's runtime client once, freezes
the garbage collector (so children do not dirty the shared pages by scanning
them), tells the host it is ready, and then forks one child per request on the
Unix socket the host passed it (``ROOST_ZYGOTE_FD``).

A request is a JSON document (the slot directory of the environment's code
under ``/var/roost-slots``, its environment variables, its /tmp and /dev/shm
sizes, an address-space limit) with two descriptors: the write end of the
environment's output pipe and its end of a socketpair to the host (the relay).
Each environment then takes two steps:

1. **setup** (forked from the zygote): stdout and stderr onto the pipe; new
   user, mount, PID, IPC and UTS namespaces, the sandbox uid/gid mapped to
   themselves; its slot bound read-only at ``/var/task``; an empty tmpfs over
   ``/var/roost-slots`` (other functions' code); fresh tmpfs ``/tmp`` and
   ``/dev/shm``, a fresh devpts; ``/`` and ``/dev`` read-only (the zygote's
   are shared by all its children). Mounts inherited from the zygote's
   namespace are locked: nothing in the environment can uncover them. Then it
   forks the environment's pid 1, tells the zygote its pid and exits.
2. **runtime** (pid 1 of the new PID namespace, adopted by the zygote, a child
   subreaper): mounts a fresh ``/proc``, says ``ready`` on the relay (the
   kernel attaches its pid, translated into the host's PID namespace), waits
   for ``go`` (the host has moved it into the environment's cgroup by then, so
   everything it ever forks is limited), drops every capability, closes the
   relay, takes the environment's variables and runs the runtime client,
   already imported, which asks for its function as any pre-warmed
   environment does. When it exits, the kernel kills whatever the function
   left running in its namespace, and the zygote reaps it and relays its exit
   code (``exit N``, negative for a signal) on the relay.

One long-lived process per environment, not an init and a runtime: a second
forked interpreter would add about a megabyte of private memory. The price of
being pid 1: signals with the default action are ignored unless the function
handles them (SIGKILL from the host still works), and orphans of the
function's processes are not reaped until the environment ends.

Standard library only (with ctypes): this runs on the function's interpreter.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any

if __package__ in (None, ""):  # Run as a file: make the sibling modules importable.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bootstrap  # type: ignore[import-not-found]
    import namespaces  # type: ignore[import-not-found]
else:
    from roost.runtime import bootstrap, namespaces

SLOTS = "/var/roost-slots"
TASK_ROOT = "/var/task"
MAX_REQUEST_BYTES = 256 * 1024
_NAMESPACES = (
    namespaces.CLONE_NEWUSER
    | namespaces.CLONE_NEWNS
    | namespaces.CLONE_NEWPID
    | namespaces.CLONE_NEWIPC
    | namespaces.CLONE_NEWUTS
)
_FRESH = namespaces.MS_NOSUID | namespaces.MS_NODEV
_RUNTIME_MODULES = ("bootstrap", "client", "context", "namespaces")
_PR_SET_CHILD_SUBREAPER = 36


def _report(relay: socket.socket | None, what: str) -> None:
    """A failure before the runtime started: on the environment's output and the relay."""
    os.write(2, f"roost zygote: {what}\n".encode(errors="replace"))
    if relay is not None:
        with contextlib.suppress(OSError):
            relay.send(f"error {what}".encode(errors="replace")[:4096])


def _valid_slot(name: object) -> str:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"bad slot name {name!r}")
    return name


def _enter_sandbox(code_dir: str, tmp_bytes: int, shm_bytes: int) -> None:
    """New namespaces and this environment's own mounts (runs in the setup process)."""
    uid, gid = os.getuid(), os.getgid()
    namespaces.unshare(_NAMESPACES)
    namespaces.map_identity(uid, gid)
    namespaces.mount("none", "/", None, namespaces.MS_REC | namespaces.MS_PRIVATE)
    namespaces.bind_read_only(code_dir, TASK_ROOT)
    hidden = _FRESH | namespaces.MS_NOEXEC | namespaces.MS_RDONLY
    namespaces.mount("tmpfs", SLOTS, "tmpfs", hidden, "size=4k,mode=0555")
    namespaces.mount("tmpfs", "/tmp", "tmpfs", _FRESH, f"size={tmp_bytes},mode=0755")
    namespaces.mount("tmpfs", "/dev/shm", "tmpfs", _FRESH, f"size={shm_bytes},mode=1777")
    namespaces.mount(
        "devpts",
        "/dev/pts",
        "devpts",
        _FRESH | namespaces.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    )
    # The zygote's root and /dev are shared with every other environment it
    # forked: read-only, so no file written there reaches another function.
    namespaces.remount_read_only("/dev")
    namespaces.remount_read_only("/")


def _limit_address_space(limit: int) -> None:
    if limit > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _exit_code(status: object) -> int:
    """What the interpreter would exit with for ``sys.exit(status)``."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status & 0xFF
    print(status, file=sys.stderr)
    return 1


def _run_runtime(request: dict[str, Any]) -> None:
    """The runtime, once its sandbox is complete: the function's variables, then
    Roost's runtime client (already imported); never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess needs its children
        # A fresh interpreter would find the function's own modules of these
        # names (bootstrap and the runtime loaded from their own references).
        for name in _RUNTIME_MODULES:
            sys.modules.pop(name, None)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["environment"].items()})
        os.chdir(TASK_ROOT)
        _limit_address_space(int(request.get("address_space_bytes", 0)))
        try:
            bootstrap.main()
            code = 0
        except SystemExit as done:
            code = _exit_code(done.code)
        except BaseException:
            traceback.print_exc()
            code = 1
        # What interpreter shutdown would do: wait for threads, run atexit.
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _forbid_user_namespaces() -> None:
    """Leave the function no user namespace of its own to create (in one it would
    hold every capability again): this namespace allows one more, which this
    process enters now, and from inside it the limit cannot be raised (what
    bubblewrap's ``--disable-userns`` does)."""
    uid, gid = os.getuid(), os.getgid()
    with open("/proc/sys/user/max_user_namespaces", "w") as limit:
        limit.write("1")
    namespaces.unshare(namespaces.CLONE_NEWUSER)
    namespaces.map_identity(uid, gid)


def _become_init(relay: socket.socket, request: dict[str, Any]) -> None:
    """Pid 1 of the environment: fresh /proc, report to the host, wait until it
    has moved this process into the environment's cgroup, drop every capability,
    then run the runtime; never returns."""
    try:
        os.setsid()
        namespaces.mount("proc", "/proc", "proc", _FRESH | namespaces.MS_NOEXEC)
        _forbid_user_namespaces()
        relay.send(b"ready")
        if relay.recv(16) != b"go":
            os._exit(1)  # the host gave up on this environment
        with contextlib.suppress(OSError):  # the function sees its own cgroup as /
            namespaces.unshare(namespaces.CLONE_NEWCGROUP)
        namespaces.drop_all_capabilities()
        os.close(relay.detach())  # the zygote reports the exit, not the function
    except BaseException as error:
        _report(relay, f"environment init failed: {error!r}")
        os._exit(1)
    _run_runtime(request)


def _spawn(
    request: dict[str, Any], out_fd: int, relay_fd: int, pid_fd: int, held: list[socket.socket]
) -> None:
    """The setup process (a fresh fork of the zygote): the environment's sandbox,
    then its pid 1, whose pid goes to the zygote on ``pid_fd``; never returns."""
    relay: socket.socket | None = None
    code = 1
    try:
        for sock in held:  # the zygote's sockets: their descriptors go below
            sock.detach()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        relay = socket.socket(fileno=relay_fd)
        for low, high in _gaps(3, 65536, (relay_fd, pid_fd)):
            os.closerange(low, high)
        slot = _valid_slot(request["slot"])
        _enter_sandbox(f"{SLOTS}/{slot}", int(request["tmp_bytes"]), int(request["shm_bytes"]))
        init = os.fork()
        if init == 0:
            os.close(pid_fd)
            _become_init(relay, request)
        os.write(pid_fd, init.to_bytes(4, sys.byteorder))
        code = 0
    except BaseException as error:
        _report(relay, f"environment setup failed: {error!r}")
    os._exit(code)


def _gaps(low: int, high: int, keep: tuple[int, ...]) -> list[tuple[int, int]]:
    """The ranges of [low, high) without the descriptors in ``keep``."""
    ranges, start = [], low
    for fd in sorted(keep):
        if fd >= start:
            ranges.append((start, fd))
            start = fd + 1
    return [*ranges, (start, high)]


class Reaper:
    """The environments' inits, adopted by the zygote (a child subreaper): their
    exit codes are relayed to the host, since the host is not their parent."""

    def __init__(self) -> None:
        self.relays: dict[int, socket.socket] = {}
        self._unclaimed: dict[int, int] = {}
        self._setups: set[int] = set()

    def adopt(self, pid: int, relay: socket.socket) -> None:
        """Relay the exit of ``pid`` (pid 1 of an environment, as the zygote sees it)."""
        self.relays[pid] = relay
        if pid in self._unclaimed:  # it was quicker than the setup process's report
            self._relay(pid, self._unclaimed.pop(pid))

    def expect_setup(self, pid: int) -> None:
        """A setup process's exit code is of no interest."""
        if self._unclaimed.pop(pid, None) is None:
            self._setups.add(pid)

    def reap(self, signum: int = 0, frame: object = None) -> None:
        """SIGCHLD: collect every exited child, relay those that were inits."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            if pid in self._setups:
                self._setups.discard(pid)
            elif pid in self.relays:
                self._relay(pid, code)
            else:
                self._unclaimed[pid] = code

    def _relay(self, pid: int, code: int) -> None:
        relay = self.relays.pop(pid)
        with contextlib.suppress(OSError):
            relay.send(f"exit {code}".encode())
        relay.close()


def _receive(control: socket.socket) -> tuple[bytes, list[int]] | None:
    """One request and its descriptors; None once the host hung up."""
    fd_space = socket.CMSG_SPACE(2 * 4)
    message, ancillary, flags, _ = control.recvmsg(MAX_REQUEST_BYTES, fd_space)
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds += [int.from_bytes(data[i : i + 4], sys.byteorder) for i in range(0, usable, 4)]
    if not message and not fds:
        return None
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return b"", []
    return message, fds


def _fork_one(control: socket.socket, reaper: Reaper, message: bytes, fds: list[int]) -> None:
    """Fork the setup process of one request; adopt its environment's init."""
    out_fd, relay_fd = fds
    relay = socket.socket(fileno=relay_fd)
    pid_read, pid_write = os.pipe()
    adopted = False
    try:
        request = json.loads(message)
        setup = os.fork()
        if setup == 0:
            _spawn(request, out_fd, relay_fd, pid_write, [control, relay, *reaper.relays.values()])
        reaper.expect_setup(setup)
        os.close(pid_write)
        pid_write = -1
        reported = b""
        while len(reported) < 4:
            chunk = os.read(pid_read, 4 - len(reported))
            if not chunk:
                break
            reported += chunk
        if len(reported) == 4:
            reaper.adopt(int.from_bytes(reported, sys.byteorder), relay)
            adopted = True  # the reaper holds the relay until the init exits
    except Exception as error:
        _report(relay, f"fork failed: {error!r}")
    finally:
        for fd in (out_fd, pid_read, pid_write):
            if fd >= 0:
                os.close(fd)
        if not adopted:
            relay.close()


def serve(control: socket.socket) -> None:
    """Fork an environment per request until the host closes the socket."""
    reaper = Reaper()
    signal.signal(signal.SIGCHLD, reaper.reap)
    namespaces.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    while True:
        received = _receive(control)
        if received is None:
            return
        message, fds = received
        if fds:
            _fork_one(control, reaper, message, fds)


def _self_test() -> None:
    """Make one throw-away environment the way every request will; raise if it fails."""
    child = os.fork()
    if child == 0:
        code = 1
        try:
            _enter_sandbox(SLOTS, 64 * 1024, 64 * 1024)
            init = os.fork()
            if init == 0:
                namespaces.mount("proc", "/proc", "proc", _FRESH | namespaces.MS_NOEXEC)
                namespaces.drop_all_capabilities()
                os._exit(0 if os.getpid() == 1 else 1)
            code = os.waitstatus_to_exitcode(os.waitpid(init, 0)[1])
        except BaseException as error:
            _report(None, f"self-test: {error!r}")
        os._exit(code)
    code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    if code != 0:
        raise OSError(f"an environment could not be set up (exit {code})")


def raise_open_files_limit() -> None:
    """The zygote holds one relay socket per environment it forked."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    """Check environments can be made, freeze the loaded runtime, then serve forks."""
    control = socket.socket(fileno=int(os.environ.pop("ROOST_ZYGOTE_FD")))
    try:
        _self_test()
    except OSError as error:
        control.send(f"unusable: {error}".encode())
        sys.exit(1)
    # Done once here rather than in every environment: the resolver's first
    # call allocates (and so would dirty) over a megabyte per process.
    socket.getaddrinfo("127.0.0.1", 9001, type=socket.SOCK_STREAM)
    raise_open_files_limit()
    gc.collect()
    gc.freeze()
    control.send(b"ready")
    serve(control)


if __name__ == "__main__":
    main()
