"""Durable publishes, pipelined: JetStream confirms each on a reply subject of its own, under one subscription.

nats-py's `publish_async` spends on every event a token from `os.urandom`, a semaphore wait through
`wait_for`, and a `PubAck` built from the reply (2.6% of threading's event loop for the urandom alone), and
it loses the server's refusal: its reply handler raises the error instead of setting it on the future, which
then only times out. Its `publish`, which does report a refusal, is a request with a waiting task each. Here
a publish is a counter, a future, and the reply's JSON read once; a refusal fails its future at once.
"""

from __future__ import annotations

import asyncio
import json

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from inbox_events.replies import ReplyInbox

NO_RESPONDERS = "503"


class Confirmations:
    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._replies = ReplyInbox(nc, self._on_reply)
        self._waiting: dict[str, asyncio.Future[int]] = {}

    async def start(self) -> None:
        await self._replies.start()

    async def stop(self) -> None:
        await self._replies.stop()
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    async def publish(self, subject: str, data: bytes, headers: dict[str, str]) -> asyncio.Future[int]:
        """Publish to a stream; the future is the stream sequence the event is stored at (the first copy's,
        for a duplicate), or the server's refusal. A caller that stops waiting cancels it."""
        reply = self._replies.next_reply()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[reply] = future
        # A future the caller gave up on is not kept waiting for a reply that may never come.
        future.add_done_callback(lambda _: self._waiting.pop(reply, None))
        await self._nc.publish(subject, data, reply=reply, headers=headers)
        return future

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject, None)
        if future is None or future.done():
            return
        if not msg.data and msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            future.set_exception(nats.js.errors.NoStreamResponseError())  # no stream takes the subject (yet)
            return
        try:
            reply = json.loads(msg.data)
        except ValueError:
            future.set_exception(nats.errors.Error(f"unreadable confirmation: {msg.data[:200]!r}"))
            return
        error = reply.get("error")
        if error:
            try:
                nats.js.errors.APIError.from_error(error)  # raises the error's class (400, 404, 503...)
            except nats.errors.Error as refusal:
                future.set_exception(refusal)
            return
        future.set_result(int(reply.get("seq") or 0))
