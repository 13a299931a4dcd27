"""boto3 SQS clients of the configured AWS endpoint, run off the event loop.

Long polls hold their thread for up to 20 s, so they get an executor of their
own on top of ``AwsClients``' call threads: deletes and visibility changes
never queue behind a wall of waiting receives.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from roost.esm.aws_clients import AwsClients
from roost.store.faults import FaultHook

# ReceiveMessage waits up to 20 s; the read timeout must outlast it.
LONG_POLL_READ_TIMEOUT_S = 30.0


class SqsClients(AwsClients):
    """``AwsClients`` of SQS with a second pool of threads for long polls.

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
        faults: FaultHook | None = None,
    ) -> None:
        super().__init__(
            "sqs",
            endpoint_url,
            session=session,
            call_threads=call_threads,
            read_timeout_s=LONG_POLL_READ_TIMEOUT_S,
            pool_connections=receive_threads + call_threads,
            faults=faults,
        )
        self._receives = concurrent.futures.ThreadPoolExecutor(
            receive_threads, thread_name_prefix="esm-sqs-receive"
        )

    async def receive(self, region: str, **params: Any) -> Any:
        """``ReceiveMessage`` (a long poll) in one of the receive threads."""
        return await self._run(self._receives, region, "receive_message", params)

    def close(self) -> None:
        """Stop the threads (a long poll in flight ends on its own) and close the clients."""
        self._receives.shutdown(wait=False, cancel_futures=True)
        super().close()
