"""Linux namespace, mount and capability calls for the zygote (standard library + ctypes).

Python's ``os`` module has ``unshare`` only from 3.12 and no ``mount`` or
``capset`` at all, so these go through libc. Every call raises ``OSError`` with
the real errno, and nothing here keeps state: the zygote's forked children call
them between ``fork`` and running the function.
"""

from __future__ import annotations

import ctypes
import os
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000

_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522

# statvfs flags a bind remount must repeat: in a user namespace the kernel
# refuses to clear flags that were locked when the mount was inherited.
_STATVFS_TO_MOUNT = (
    (os.ST_RDONLY, MS_RDONLY),
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``unshare(2)``)."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """``mount(2)``; ``data`` is the file system's option string."""
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def map_identity(uid: int, gid: int) -> None:
    """Map ``uid``/``gid`` to themselves in a user namespace this process just made.

    ``setgroups`` must be denied first, or an unprivileged process may not
    write its gid map.
    """
    with open("/proc/self/setgroups", "w") as sink:
        sink.write("deny")
    with open("/proc/self/uid_map", "w") as sink:
        sink.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as sink:
        sink.write(f"{gid} {gid} 1")


def bind_read_only(source: str, target: str) -> None:
    """Bind ``source`` onto ``target`` (recursively) and make the bind read-only."""
    mount(source, target, None, MS_BIND | MS_REC)
    remount_read_only(target)


def remount_read_only(target: str) -> None:
    """Make the mount at ``target`` read-only, keeping its other (locked) flags."""
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY
    found = os.statvfs(target).f_flag
    for statvfs_flag, mount_flag in _STATVFS_TO_MOUNT:
        if found & statvfs_flag:
            flags |= mount_flag
    mount("none", target, None, flags)


def prctl(option: int, value: int) -> None:
    """``prctl(2)`` with one argument."""
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), 0, 0, 0), f"prctl {option}")


def set_dumpable(dumpable: bool) -> None:
    """A non-dumpable process cannot be ptraced or have its /proc files read by its uid."""
    prctl(_PR_SET_DUMPABLE, 1 if dumpable else 0)


def drop_all_capabilities() -> None:
    """Drop every capability for good: bounding, ambient, then the process's own sets.

    ``no_new_privs`` is set too, so no later ``execve`` (of a set-uid file or
    one with file capabilities) can give any back.
    """
    with open("/proc/sys/kernel/cap_last_cap") as source:
        last = int(source.read())
    for capability in range(last + 1):
        prctl(_PR_CAPBSET_DROP, capability)
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    prctl(_PR_SET_NO_NEW_PRIVS, 1)
    header = ctypes.create_string_buffer(struct.pack("Ii", _CAPABILITY_VERSION_3, 0))
    data = ctypes.create_string_buffer(bytes(24))  # two zeroed {effective, permitted, inheritable}
    _check(_libc.capset(header, data), "capset")


def probe() -> None:
    """Exit 0 if this process can make the namespaces an environment needs, else raise.

    A forked child unshares, maps its ids, mounts a tmpfs and starts a pid 1
    that mounts a fresh /proc: every step the zygote's children take.
    """
    child = os.fork()
    if child == 0:
        code = 1
        try:
            uid, gid = os.getuid(), os.getgid()
            unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
            map_identity(uid, gid)
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k")
            init = os.fork()
            if init == 0:
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                os._exit(0 if os.getpid() == 1 else 1)
            _, status = os.waitpid(init, 0)
            code = os.waitstatus_to_exitcode(status)
        except BaseException as error:
            os.write(2, f"namespace probe: {error}\n".encode())
        os._exit(code)
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError("nested user, mount and pid namespaces are not available")
