"""Tracing a Runtime API connection to the process that opened it: the kernel's
sock_diag lookup, the /proc/net/tcp fallback, and who holds the socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from roost.worker import socket_owner
from roost.worker.socket_owner import (
    NetlinkUnavailable,
    diag_inode,
    holds_socket,
    proc_inode,
    tcp_socket_inode,
)


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A client socket and the server's end of its connection, on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            yield client, accepted
        finally:
            client.close()
            accepted.close()


def test_the_kernel_names_the_clients_socket(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    client, _ = connection
    inode = os.fstat(client.fileno()).st_ino
    ends = (client.getsockname(), client.getpeername())

    assert diag_inode(*ends) == inode
    assert proc_inode(*ends) == inode
    assert tcp_socket_inode(*ends) == inode


def test_the_servers_end_is_a_different_socket(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    _, accepted = connection
    ends = (accepted.getsockname(), accepted.getpeername())
    assert diag_inode(*ends) == os.fstat(accepted.fileno()).st_ino


def test_no_such_connection_is_none(connection: tuple[socket.socket, socket.socket]) -> None:
    client, _ = connection
    nobody = ("127.0.0.1", 1)
    assert diag_inode(nobody, client.getpeername()) is None
    assert tcp_socket_inode(nobody, client.getpeername()) is None


def test_without_netlink_proc_net_tcp_answers(
    connection: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some container runtimes filter netlink: the lookup still works, only slower."""

    def refused(*_: object) -> int | None:
        raise NetlinkUnavailable(13, "sock_diag: Permission denied")

    monkeypatch.setattr(socket_owner, "diag_inode", refused)
    client, _ = connection
    ends = (client.getsockname(), client.getpeername())
    assert tcp_socket_inode(*ends) == os.fstat(client.fileno()).st_ino


def test_only_the_holder_of_the_socket_owns_it(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    client, _ = connection
    inode = diag_inode(client.getsockname(), client.getpeername())
    assert inode is not None
    assert holds_socket([os.getpid()], inode)
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                          stdin=subprocess.PIPE) as other:  # fmt: skip
        try:
            assert not holds_socket([other.pid], inode)
        finally:
            assert other.stdin is not None
            other.stdin.close()
    assert not holds_socket([], inode)
