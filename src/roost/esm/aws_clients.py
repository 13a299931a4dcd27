"""boto3 clients of one AWS service on the configured endpoint, run off the event loop.

boto3 blocks, so every call runs in a worker thread of the wrapper's own
executor: a slow AWS call never takes the event loop's default executor from
the rest of the node. Sources whose reads hold a thread for long (SQS long
polls) add an executor of their own on top (see ``roost.esm.sqs.client``).
A fault hook (``FaultTarget.EVENT_SOURCES``, tests only) is awaited before
every call, so an injected outage looks like an unreachable endpoint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import boto3
from botocore.config import Config

from roost.store.faults import FaultHook

CONNECT_TIMEOUT_S = 2.0
CALL_READ_TIMEOUT_S = 10.0


class AwsClients:
    """One boto3 client of ``service`` per region, and the threads their calls run in.

    ``endpoint_url`` is Roost's ``aws_endpoint_url`` (moto's server in tests,
    None for AWS itself); credentials come from boto3's default chain.
    ``call_threads`` bounds the calls in flight at once. ``max_attempts`` is
    botocore's (1: no retry, for callers that back off themselves).
    """

    def __init__(
        self,
        service: str,
        endpoint_url: str | None,
        *,
        session: Any = None,
        call_threads: int = 8,
        read_timeout_s: float = CALL_READ_TIMEOUT_S,
        max_attempts: int = 2,
        pool_connections: int | None = None,
        faults: FaultHook | None = None,
    ) -> None:
        self.service = service
        self._faults = faults
        self.endpoint_url = endpoint_url
        self._session = session if session is not None else boto3.session.Session()
        self._config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=read_timeout_s,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=pool_connections or call_threads,
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._calls = concurrent.futures.ThreadPoolExecutor(
            call_threads, thread_name_prefix=f"esm-{service}-call"
        )

    def client(self, region: str) -> Any:
        """The region's client (made on first use; blocking: call it in a thread)."""
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._session.client(
                    self.service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=self._config,
                )
                self._clients[region] = client
            return client

    async def call(self, region: str, operation: str, **params: Any) -> Any:
        """One API call (snake_case ``operation``) in a worker thread."""
        return await self._run(self._calls, region, operation, params)

    async def _run(
        self,
        executor: concurrent.futures.ThreadPoolExecutor,
        region: str,
        operation: str,
        params: dict[str, Any],
    ) -> Any:
        if self._faults is not None:
            await self._faults()

        def run() -> Any:
            return getattr(self.client(region), operation)(**params)

        return await asyncio.get_running_loop().run_in_executor(executor, run)

    def close(self) -> None:
        """Stop the threads (a call in flight ends on its own) and close the clients."""
        self._calls.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
