"""``VisibilityKeeper``: what a poller holds stays hidden, and only that."""

from __future__ import annotations

import asyncio

from roost.async_invoke.visibility import VisibilityKeeper
from roost.store.memory import MemoryQueueStore

Q = "async-000"
TIMEOUT_S = 0.3


def test_held_messages_stay_hidden_past_their_timeout_until_released() -> None:
    async def main() -> None:
        store = MemoryQueueStore()
        await store.send_batch(Q, [b"a", b"b"])
        received = await store.receive(Q, max_messages=2, visibility_timeout_s=TIMEOUT_S)
        keeper = VisibilityKeeper(store, TIMEOUT_S)
        keeper.hold(Q, received)
        keeper.start()
        try:
            await asyncio.sleep(3 * TIMEOUT_S)
            assert await store.receive(Q, visibility_timeout_s=TIMEOUT_S) == []

            keeper.release(received[0])
            await asyncio.sleep(1.5 * TIMEOUT_S)
            [back] = await store.receive(Q, visibility_timeout_s=TIMEOUT_S)
            assert back.message_id == received[0].message_id
        finally:
            await keeper.stop()

    asyncio.run(main())


def test_a_message_settled_elsewhere_is_dropped_from_the_beats() -> None:
    async def main() -> None:
        store = MemoryQueueStore()
        await store.send(Q, b"a")
        [message] = await store.receive(Q, visibility_timeout_s=TIMEOUT_S)
        keeper = VisibilityKeeper(store, TIMEOUT_S)
        keeper.hold(Q, [message])
        assert await store.delete(Q, message.receipt)

        await keeper.beat()  # The receipt no longer works: not kept any more.
        await keeper.beat()
        assert keeper._held == {}

    asyncio.run(main())


def test_a_message_released_during_a_beat_keeps_the_visibility_it_was_given() -> None:
    """A beat that began while the message was held must not extend it once the poller
    released it and gave it a visibility of its own (a backoff): the backoff stands."""

    async def main() -> None:
        store = MemoryQueueStore()
        await store.send(Q, b"a")
        [message] = await store.receive(Q, visibility_timeout_s=TIMEOUT_S)
        keeper = VisibilityKeeper(store, 30.0)
        keeper.hold(Q, [message])
        beat = asyncio.ensure_future(keeper.beat())
        await asyncio.sleep(0)  # the beat has begun: its calls are made on the next turn
        keeper.release(message)
        await store.change_visibility(Q, message.receipt, 0)  # back at once
        await beat
        [back] = await store.receive(Q, visibility_timeout_s=TIMEOUT_S)
        assert back.message_id == message.message_id

    asyncio.run(main())
