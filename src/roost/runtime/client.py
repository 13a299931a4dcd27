"""A minimal HTTP/1.1 client of the Lambda Runtime API on a raw socket.

``http.client`` costs several times the CPU per invoke of this client, and an
environment does nothing but these few requests, so it speaks HTTP itself:
keep-alive, Content-Length always, TCP_NODELAY on (Nagle plus delayed ACKs would
add tens of milliseconds per invoke).
"""

from __future__ import annotations

import json
import socket

API_PREFIX = "/2018-06-01/runtime"


class RuntimeApiError(Exception):
    """The Runtime API answered with an unexpected status."""


class RuntimeApiClient:
    """Talks to ``$AWS_LAMBDA_RUNTIME_API`` over one persistent connection."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._address = (host or "127.0.0.1", int(port))
        self._host_header = address
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection(self._address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._buffer = b""
        return self._sock

    def _head(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> bytes:
        lines = [f"{method} {API_PREFIX}{path} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, sock: socket.socket, head: bytes, body: bytes, tail: bytes = b"") -> None:
        if len(body) < 65536:
            sock.sendall(head + body + tail)
        else:
            sock.sendall(head)
            sock.sendall(body)
            if tail:
                sock.sendall(tail)

    def _request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        sock = self._connect()
        self._send(sock, self._head(method, path, body, headers), body)
        return self._read_response(sock)

    def _read_until(self, sock: socket.socket, marker: bytes) -> int:
        while True:
            index = self._buffer.find(marker)
            if index >= 0:
                return index
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("Runtime API closed the connection")
            self._buffer += chunk

    def _read_response(self, sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
        end = self._read_until(sock, b"\r\n\r\n")
        head = self._buffer[:end].decode("latin-1").split("\r\n")
        self._buffer = self._buffer[end + 4 :]
        status = int(head[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            chunk = sock.recv(max(65536, length - len(self._buffer)))
            if not chunk:
                raise ConnectionError("Runtime API closed the connection")
            self._buffer += chunk
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return status, headers, body

    def assignment(self) -> dict[str, str]:
        """Wait until Roost assigns this pre-warmed environment a function.

        Roost-specific (pre-warmed pools): the answer is the function's
        environment variables, applied before its handler is imported.
        """
        status, _, body = self._request("GET", "/roost/assignment")
        if status != 200:
            raise RuntimeApiError(f"/roost/assignment answered {status}: {body[:200]!r}")
        variables = json.loads(body)
        return {str(k): str(v) for k, v in variables.items()}

    def next(self) -> tuple[dict[str, str], bytes]:
        """Wait for the next invocation: its ``Lambda-Runtime-*`` headers and payload."""
        status, headers, body = self._request("GET", "/invocation/next")
        if status != 200:
            raise RuntimeApiError(f"/invocation/next answered {status}: {body[:200]!r}")
        return headers, body

    def respond_and_next(self, request_id: str, payload: bytes) -> tuple[dict[str, str], bytes]:
        """Post a successful result and ask for the next invocation in one write.

        HTTP pipelining: the runtime has nothing to do between the two, and one
        round trip per invoke instead of two halves the wake-ups on both sides.
        A refused result (413 for one over the size limit: the platform already
        answered the caller with ``Function.ResponseSizeTooLarge``) is logged as
        AWS's runtimes log it and the runtime goes on serving; only a container
        error (5xx) is fatal.
        """
        head = self._head(
            "POST",
            f"/invocation/{request_id}/response",
            payload,
            {"Content-Type": "application/json"},
        )
        sock = self._connect()
        self._send(sock, head, payload, self._head("GET", "/invocation/next"))
        status, _, body = self._read_response(sock)
        self._check("Failed to post handler success response", status, body)
        status, headers, body = self._read_response(sock)
        if status != 200:
            raise RuntimeApiError(f"/invocation/next answered {status}: {body[:200]!r}")
        return headers, body

    def error(self, request_id: str, payload: bytes, error_type: str) -> None:
        """Post a failed invocation's error document."""
        status, body = self._post_error(f"/invocation/{request_id}/error", payload, error_type)
        self._check("Failed to post handler error response", status, body)

    def init_error(self, payload: bytes, error_type: str) -> None:
        """Report that initialisation failed."""
        self._post_error("/init/error", payload, error_type)

    def _post_error(self, path: str, payload: bytes, error_type: str) -> tuple[int, bytes]:
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": error_type,
        }
        status, _, body = self._request("POST", path, payload, headers)
        return status, body

    @staticmethod
    def _check(what: str, status: int, body: bytes) -> None:
        if status == 202:
            return
        detail = body.decode("utf-8", "replace")
        print(f"LAMBDA_RUNTIME {what}. Http response code: {status}. {detail}", flush=True)
        if status >= 500:
            raise RuntimeApiError(f"{what}: {status}")
