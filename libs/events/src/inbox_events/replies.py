"""Replies to requests made without nats-py's request machinery: one subscription under a fresh inbox of the
connection, each request answered on a subject of its own (`<inbox>.<n>`), all to one callback. A reply tells
which request it answers, even one its caller stopped waiting for. Used by the consumers' pulls
(`inbox_events.pull`) and the publishes' confirmations (`inbox_events.confirmations`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


class ReplyInbox:
    def __init__(self, nc: NatsClient, on_message: Callable[[Msg], Awaitable[None]]) -> None:
        self._nc = nc
        self._on_message = on_message
        self.prefix = nc.new_inbox()
        self._requests = 0
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self._nc.subscribe(f"{self.prefix}.*", cb=self._on_message)

    async def stop(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.unsubscribe()

    def next_reply(self) -> str:
        """A reply subject no request of this inbox had before."""
        self._requests += 1
        return f"{self.prefix}.{self._requests}"

    def answers(self, msg: Msg) -> bool:
        """Whether `msg` came on one of this inbox's reply subjects (not a delivery under a stream subject)."""
        return msg.subject.startswith(self.prefix)
