"""A durable pull consumer's batches: one request each, its messages, and the status that ends it.

nats-py's `PullSubscription.fetch` waits for every message of a batch with `next_msg`, which makes a task, a
timer and a uuid per message: half of a do-nothing consumer's CPU (bench/event_hop.py). Here a batch is
one request with `no_wait` and `expires`: the server waits up to `expires` for a first message, then sends
what it has, up to the batch, and ends the request with a status when it sent fewer than the batch (404 after
messages, 408 when none came in time). The subscription's callback collects the messages; the fetch wakes
once, at the status or at the batch's last message.

Each request has a reply subject of its own, so a status that arrives after its fetch gave up (a broker that
was away) ends nothing but its own request. Messages are delivered under their stream subject, whatever the
request: any that come after their fetch gave up are the next fetch's, without a request.
"""

from __future__ import annotations

import asyncio
import json
from typing import NamedTuple

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from inbox_events.replies import ReplyInbox

# The JetStream API's subjects, as nats-py's JetStreamContext addresses them without a domain.
API_PREFIX = "$JS.API"
# Beyond the request's own expiry, how long a fetch waits for the server's closing status before it gives
# the request up (a broker that went away sends none).
STATUS_MARGIN_SECONDS = 1.0
NO_MESSAGES = "404"
REQUEST_TIMEOUT = "408"


class PullFailed(Exception):
    """The server ended a request with nothing delivered and a status other than "no messages yet"
    (e.g. 409 consumer deleted): the consumer needs subscribing again."""


class BatchPuller:
    def __init__(self, nc: NatsClient, stream: str, durable: str) -> None:
        self._nc = nc
        self._next_subject = f"{API_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._replies = ReplyInbox(nc, self._on_message)
        self._current_reply = ""
        self._ended: asyncio.Future[str] | None = None
        self._wanted = 0
        self._arrived: list[Msg] = []

    async def start(self) -> None:
        await self._replies.start()

    async def stop(self) -> None:
        await self._replies.stop()

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status", "") if msg.headers and not msg.data else ""
        if not status or not self._replies.answers(msg):
            self._arrived.append(msg)
            # A full batch ends the request without a status.
            if len(self._arrived) >= self._wanted and self._ended is not None and not self._ended.done():
                self._ended.set_result("")
            return
        # A status ends its own request only: one whose fetch gave up ended long ago.
        if msg.subject == self._current_reply and self._ended is not None and not self._ended.done():
            self._ended.set_result(status)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages, as soon as there is one; TimeoutError when none came within `timeout`."""
        status = ""
        if not self._arrived:
            self._current_reply = self._replies.next_reply()
            ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._ended = ended
            self._wanted = batch
            request = {"batch": batch, "expires": int(timeout * 1_000_000_000), "no_wait": True}
            await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._current_reply)
            try:
                async with asyncio.timeout(timeout + STATUS_MARGIN_SECONDS):
                    status = await ended
            except TimeoutError:
                status = REQUEST_TIMEOUT
        taken, self._arrived = self._arrived[:batch], self._arrived[batch:]
        if taken:
            return taken
        if status in ("", NO_MESSAGES, REQUEST_TIMEOUT):
            raise TimeoutError("no message within the fetch's time")
        raise PullFailed(f"pull request ended with status {status}")


class Delivery(NamedTuple):
    """What a delivered message's reply subject says of it."""

    deliveries: int
    stream_sequence: int
    consumer_sequence: int
    pending: int


# Where the counts start in an ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.
# <time>.<pending>` (nine tokens), or the form with a domain and an account hash before the stream (eleven or more).
_FIRST_COUNT = {9: 4}
_FIRST_COUNT_WITH_DOMAIN = 6


def delivery_of(msg: Msg) -> Delivery:
    """The delivery's counts, read from the reply subject without nats-py's `Msg.metadata`, which also makes
    a datetime and three objects per message (a tenth of a consumer's CPU)."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) < 9 or tokens[0] != "$JS" or tokens[1] != "ACK":
        raise ValueError(f"not a JetStream delivery: {msg.reply!r}")
    first = _FIRST_COUNT.get(len(tokens), _FIRST_COUNT_WITH_DOMAIN)
    return Delivery(int(tokens[first]), int(tokens[first + 1]), int(tokens[first + 2]), int(tokens[first + 4]))
