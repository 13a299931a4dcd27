"""Bridge to the Runtime API for environments without a network.

A function cut off from the network (its own empty network namespace) cannot
reach the worker's Runtime API on the host's 127.0.0.1. Roost then mounts a
Unix socket of that API into the sandbox, and this program, started first,
listens on the sandbox's own 127.0.0.1, forwards every connection to the socket,
and runs the real runtime (``argv[1:]``) as its child, exiting with its status.
Standard library only: it runs on the function's interpreter.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading

LISTEN = ("127.0.0.1", 9001)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(path)
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def main() -> None:
    """Listen, start the runtime, forward until it exits."""
    path = os.environ.pop("ROOST_RUNTIME_API_SOCKET")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(LISTEN)
    listener.listen(16)
    os.environ["AWS_LAMBDA_RUNTIME_API"] = f"{LISTEN[0]}:{LISTEN[1]}"
    child = os.fork()
    if child == 0:
        listener.close()
        os.execvp(sys.argv[1], sys.argv[1:])
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    _, status = os.waitpid(child, 0)
    os._exit(
        os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    )


if __name__ == "__main__":
    main()
