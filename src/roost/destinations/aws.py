"""boto3 clients of the AWS endpoint that destinations and dead-letter targets live on.

The endpoint is Roost's ``aws_endpoint_url`` setting (moto's server in tests, a
LocalStack, or None for real AWS). Credentials come from boto3's default chain
(environment, shared files, instance role); the region comes from each target's
ARN, so one node can deliver to queues of several regions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_READ_TIMEOUT_S = 10.0
# Deliveries in flight at once (each holds a thread while boto3 blocks).
DEFAULT_CALL_THREADS = 16


class AwsClients:
    """One boto3 client per (service, region), made on first use and then reused.

    boto3 is blocking, so every call runs in one of the wrapper's own worker
    threads (``call``) and the event loop never waits on the network. Clients
    are thread-safe once made; making them is not (it goes through one boto3
    session), hence the lock.
    """

    def __init__(
        self,
        endpoint_url: str | None,
        *,
        session: Any = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        call_threads: int = DEFAULT_CALL_THREADS,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._session = session if session is not None else boto3.session.Session()
        # botocore's own retries are off: delivery retries with its own backoff and
        # logs each failure, instead of one call silently taking a minute.
        self._config = Config(
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"max_attempts": 1, "mode": "standard"},
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        # Its own threads, not the event loop's default executor: the loop's
        # close waits for every call on those, so a delivery stuck on an
        # unreachable endpoint would hold a stopping node for its timeouts.
        self._calls = concurrent.futures.ThreadPoolExecutor(
            call_threads, thread_name_prefix="destination-call"
        )

    def client(self, service: str, region: str) -> Any:
        """The client of ``service`` in ``region`` (blocking the first time: call off the loop)."""
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=self._config,
                )
                self._clients[key] = client
            return client

    async def call(self, service: str, region: str, operation: str, **params: Any) -> Any:
        """Run one API call (boto3's snake_case ``operation``) in a worker thread."""

        def run() -> Any:
            return getattr(self.client(service, region), operation)(**params)

        return await asyncio.get_running_loop().run_in_executor(self._calls, run)

    def close(self) -> None:
        """Stop the threads (a call in flight ends on its own, or is left behind when
        the process exits) and close every client's connection pool."""
        self._calls.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
