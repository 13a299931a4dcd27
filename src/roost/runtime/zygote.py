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
Each environment then takes three steps, in three processes:

1. **setup** (forked from the zygote): stdout and stderr onto the pipe; new
   user, mount, PID, IPC and UTS namespaces, the sandbox uid/gid mapped to
   themselves; its slot bound read-only at ``/var/task``; an empty tmpfs over
   ``/var/roost-slots`` (other functions' code); fresh tmpfs ``/tmp`` and
   ``/dev/shm``, a fresh devpts; ``/`` and ``/dev`` read-only (the zygote's
   are shared by all its children). Mounts inherited from the zygote's
   namespace are locked: nothing in the environment can uncover them. Then it
   forks the environment's init and exits.
2. **init** (pid 1 of the new PID namespace): mounts a fresh ``/proc``, says
   ``ready`` on the relay (the kernel attaches its pid, translated into the
   host's PID namespace), waits for ``go`` (the host has moved it into the
   environment's cgroup by then, so everything forked later is limited), drops
   every capability, forks the runtime, reaps orphans, and relays the runtime's
   exit code (``exit N``, negative for a signal) before exiting, which kills
   whatever the function left running.
3. **runtime** (pid 2): takes the environment's variables and runs the
   runtime client, already imported, which asks for its function as any
   pre-warmed environment does.

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
    """The runtime process: the function's variables, then Roost's runtime client."""
    code = 1
    try:
        namespaces.set_dumpable(True)  # init is not; its children must be, for /proc/self
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


def _run_init(relay: socket.socket, request: dict[str, Any]) -> None:
    """Pid 1 of the environment: report, wait for the cgroup, run the runtime, relay its exit."""
    code = 1
    try:
        os.setsid()
        namespaces.mount("proc", "/proc", "proc", _FRESH | namespaces.MS_NOEXEC)
        relay.send(b"ready")
        if relay.recv(16) != b"go":
            os._exit(1)  # the host gave up on this environment
        with contextlib.suppress(OSError):  # the function sees its own cgroup as /
            namespaces.unshare(namespaces.CLONE_NEWCGROUP)
        namespaces.drop_all_capabilities()
        namespaces.set_dumpable(False)  # the runtime (same uid) may not ptrace or read init
        runtime = os.fork()
        if runtime == 0:
            os.close(relay.detach())
            _run_runtime(request)
        while True:
            pid, status = os.wait()
            if pid == runtime:
                code = os.waitstatus_to_exitcode(status)
                break
        relay.send(f"exit {code}".encode())
        code = 0
    except BaseException as error:
        _report(relay, f"environment init failed: {error!r}")
    os._exit(code)


def _spawn(control: socket.socket, request: dict[str, Any], out_fd: int, relay_fd: int) -> None:
    """The setup process (a fresh fork of the zygote); never returns."""
    relay: socket.socket | None = None
    code = 1
    try:
        os.close(control.detach())
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        relay = socket.socket(fileno=relay_fd)
        os.closerange(3, relay_fd)
        os.closerange(relay_fd + 1, 65536)
        slot = _valid_slot(request["slot"])
        _enter_sandbox(f"{SLOTS}/{slot}", int(request["tmp_bytes"]), int(request["shm_bytes"]))
        if os.fork() == 0:
            _run_init(relay, request)
        code = 0
    except BaseException as error:
        _report(relay, f"environment setup failed: {error!r}")
    os._exit(code)


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


def serve(control: socket.socket) -> None:
    """Fork an environment per request until the host closes the socket."""
    while True:
        received = _receive(control)
        if received is None:
            return
        message, fds = received
        if not fds:
            continue
        out_fd, relay_fd = fds
        try:
            request = json.loads(message)
            if os.fork() == 0:
                _spawn(control, request, out_fd, relay_fd)
        except Exception as error:
            with socket.socket(fileno=os.dup(relay_fd)) as relay:
                _report(None, f"fork failed: {error!r}")
                with contextlib.suppress(OSError):
                    relay.send(f"error fork failed: {error!r}".encode()[:4096])
        finally:
            os.close(out_fd)
            os.close(relay_fd)


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


def main() -> None:
    """Check environments can be made, freeze the loaded runtime, then serve forks."""
    control = socket.socket(fileno=int(os.environ.pop("ROOST_ZYGOTE_FD")))
    try:
        _self_test()
    except OSError as error:
        control.send(f"unusable: {error}".encode())
        sys.exit(1)
    # Children are reaped by the kernel; each environment's init relays its
    # own exit, and setup processes exit at once.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    gc.collect()
    gc.freeze()
    control.send(b"ready")
    serve(control)


if __name__ == "__main__":
    main()
