"""Which process opened a TCP connection to a Runtime API.

Functions share the host's network, so an environment's Runtime API port is
reachable by any of them; only the environment's own processes may use it.
The server sees the connection's two endpoints; the kernel knows the inode of
the client's socket, and ``/proc/PID/fd`` says who holds that inode.

The inode is asked of the kernel's ``sock_diag`` netlink interface with the
exact four-tuple: a hash lookup, whatever else the host has open. Reading
``/proc/net/tcp`` instead costs a walk of every socket in the namespace, which
on a busy host (thousands of connections, or of ``TIME_WAIT`` entries after
functions that each open a connection) made every environment start cost
milliseconds of the server's CPU. ``/proc/net/tcp`` remains the fallback where
netlink is refused (some container runtimes filter it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

_PROC_NET_TCP = Path("/proc/net/tcp")
# A socket that moves in the kernel's hash table while others come and go can
# be skipped by one read of /proc/net/tcp: it is looked for again before it is
# given up.
_TCP_LOOKUPS = 3

# linux/sock_diag.h, linux/inet_diag.h, linux/netlink.h
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLMSG_ERROR = 0x2
_INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_ALL_TCP_STATES = 0xFFFFFFFF
# nlmsghdr: length, type, flags, sequence, port id.
_NLMSGHDR = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, extensions, pad, states; then the
# inet_diag_sockid: ports (big-endian), addresses (4 words each, network
# order), interface, cookie.
_REQUEST_HEAD = struct.Struct("=BBBxI")
_PORTS = struct.Struct(">HH")
_REQUEST_TAIL = struct.Struct("=16s16sIII")
# inet_diag_msg after its header: family, state, timer, retransmits, the
# sockid (48 bytes), expires, receive and send queues, uid, inode.
_REPLY = struct.Struct("=BBBB48sIIIII")


class NetlinkUnavailable(OSError):
    """The host refuses sock_diag netlink requests (fall back to /proc)."""


def tcp_socket_inode(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The inode of the IPv4 TCP socket at ``local`` connected to ``remote``, if any.

    Seen from the worker's network namespace (the one functions share by default).
    """
    with contextlib.suppress(NetlinkUnavailable):
        return diag_inode(local, remote)
    return proc_inode(local, remote)


def diag_inode(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """``tcp_socket_inode`` through sock_diag; raises ``NetlinkUnavailable``."""
    request = (
        _REQUEST_HEAD.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, _ALL_TCP_STATES)
        + _PORTS.pack(local[1], remote[1])
        + _REQUEST_TAIL.pack(
            socket.inet_aton(local[0]),
            socket.inet_aton(remote[0]),
            0,
            _INET_DIAG_NOCOOKIE,
            _INET_DIAG_NOCOOKIE,
        )
    )
    length = _NLMSGHDR.size + len(request)
    header = _NLMSGHDR.pack(length, _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as channel:
            channel.settimeout(1.0)
            channel.sendto(header + request, (0, 0))
            reply = channel.recv(8192)
    except OSError as error:
        raise NetlinkUnavailable(error.errno, f"sock_diag: {error}") from error
    return _parse_reply(reply)


def _parse_reply(reply: bytes) -> int | None:
    if len(reply) < _NLMSGHDR.size:
        raise NetlinkUnavailable(errno.EPROTO, "sock_diag: short reply")
    _, kind, _, _, _ = _NLMSGHDR.unpack_from(reply)
    body = reply[_NLMSGHDR.size :]
    if kind == _NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", body)
        if code == -errno.ENOENT:
            return None  # no such connection (the client already closed it)
        raise NetlinkUnavailable(-code, f"sock_diag: {os.strerror(-code)}")
    if kind != _SOCK_DIAG_BY_FAMILY or len(body) < _REPLY.size:
        raise NetlinkUnavailable(errno.EPROTO, f"sock_diag: unexpected reply type {kind}")
    *_, inode = _REPLY.unpack_from(body)
    return int(inode)


def proc_inode(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """``tcp_socket_inode`` by reading ``/proc/net/tcp`` (every socket of the namespace)."""
    wanted = (_hex_endpoint(local), _hex_endpoint(remote))
    for _ in range(_TCP_LOOKUPS):
        try:
            lines = _PROC_NET_TCP.read_text().splitlines()[1:]
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and (fields[1], fields[2]) == wanted:
                return int(fields[9])
    return None


def _hex_endpoint(address: tuple[str, int]) -> str:
    """``127.0.0.1:8080`` as ``/proc/net/tcp`` writes it (``0100007F:1F90``)."""
    host, port = address[0], address[1]
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def holds_socket(pids: Iterable[int], inode: int) -> bool:
    """Whether one of ``pids`` has the socket ``inode`` open."""
    target = f"socket:[{inode}]"
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            descriptors = list(fd_dir.iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                if os.readlink(descriptor) == target:
                    return True
    return False
