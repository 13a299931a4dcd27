"""boto3 SQS clients of the configured AWS endpoint, run off the event loop.

boto3 blocks, so every call runs in a thread. Long polls hold their thread for
up to 20 s, so they get an executor of their own: deletes and visibility
changes never queue behind a wall of waiting receives, and neither ever takes
the event loop's default executor from the rest of the node.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import boto3
from botocore.config import Config

# ReceiveMessage waits up to 20 s; the read timeout must outlast it.
LONG_POLL_READ_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 2.0
CALL_READ_TIMEOUT_S = 10.0


class SqsClients:
    """One boto3 SQS client per region, and the threads their calls run in.

    ``endpoint_url`` is Roost's ``aws_endpoint_url`` (moto's server in tests,
    None for AWS itself); credentials come from boto3's default chain.
    ``receive_threads`` bounds the long polls in flight at once (a batch loop
    beyond it waits for a thread); ``call_threads`` the other calls.
    """

    def __init__(
        self,
        endpoint_url: str | None,
        *,
        session: Any = None,
        receive_threads: int = 64,
        call_threads: int = 8,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._session = session if session is not None else boto3.session.Session()
        self._config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=LONG_POLL_READ_TIMEOUT_S,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=receive_threads + call_threads,
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._receives = concurrent.futures.ThreadPoolExecutor(
            receive_threads, thread_name_prefix="esm-sqs-receive"
        )
        self._calls = concurrent.futures.ThreadPoolExecutor(
            call_threads, thread_name_prefix="esm-sqs-call"
        )

    def client(self, region: str) -> Any:
        """The region's client (made on first use; blocking: call it in a thread)."""
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._session.client(
                    "sqs", region_name=region, endpoint_url=self.endpoint_url, config=self._config
                )
                self._clients[region] = client
            return client

    async def call(self, region: str, operation: str, **params: Any) -> Any:
        """One short API call (snake_case ``operation``) in a worker thread."""
        return await self._run(self._calls, region, operation, params)

    async def receive(self, region: str, **params: Any) -> Any:
        """``ReceiveMessage`` (a long poll) in one of the receive threads."""
        return await self._run(self._receives, region, "receive_message", params)

    async def _run(
        self,
        executor: concurrent.futures.ThreadPoolExecutor,
        region: str,
        operation: str,
        params: dict[str, Any],
    ) -> Any:
        def run() -> Any:
            return getattr(self.client(region), operation)(**params)

        return await asyncio.get_running_loop().run_in_executor(executor, run)

    def close(self) -> None:
        """Stop the threads (a long poll in flight ends on its own) and close the clients."""
        self._receives.shutdown(wait=False, cancel_futures=True)
        self._calls.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
