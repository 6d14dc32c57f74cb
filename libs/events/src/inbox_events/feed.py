"""Several streams read as one feed, in the order the broker stored their events, resumable from a cursor.

Each stream is read by an ordered, ephemeral consumer of this reader alone (nothing is acked or shared).
The feed hands out the stored event with the earliest broker timestamp among what the streams have
delivered, but only once every other stream is known to hold nothing earlier: a stream with nothing in
hand is asked (its consumer's pending count) after that event arrived, and anything it had stored before
would show there. So causes come before effects across streams (a message stored, then routing's
assignment of its conversation, then the reply's delivery report), however far behind the reader starts.
On a single nats-server the timestamps come from one clock; in a cluster each stream's leader stamps its
own, so events of different streams within the leaders' clock skew may come in either order.

The cursor holds, per stream, the sequence of the last event handed out: resuming from it misses and
repeats nothing (events erased from a stream since are gone from it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from inbox.events.v1 import envelope_pb2
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from inbox_events.streams import stream_for_subject

CURSOR_VERSION = "f1"
_POSITION = re.compile(r"^([A-Z]{1,32})=(\d{1,19})$")
# Events held per stream before the reader is made to wait (the client reading the feed is slow).
BUFFERED_PER_STREAM = 1000


class BadCursor(ValueError):
    """A cursor this feed did not issue (or for other streams)."""


@dataclass(frozen=True)
class FeedCursor:
    """Per stream, the sequence of the last event handed out."""

    positions: tuple[tuple[str, int], ...]

    def encode(self) -> str:
        text = ",".join(f"{stream}={sequence}" for stream, sequence in self.positions)
        return f"{CURSOR_VERSION}.{base64.urlsafe_b64encode(text.encode()).decode().rstrip('=')}"

    @classmethod
    def decode(cls, token: str, streams: Sequence[str]) -> FeedCursor:
        version, _, body = token.partition(".")
        try:
            if version != CURSOR_VERSION:
                raise ValueError
            text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            found = {}
            for part in text.split(","):
                matched = _POSITION.match(part)
                if matched is None:
                    raise ValueError
                found[matched.group(1)] = int(matched.group(2))
        except ValueError:
            raise BadCursor("cursor is not one this feed issued") from None
        if set(found) != set(streams):
            raise BadCursor("cursor is for other streams")
        return cls(tuple((stream, found[stream]) for stream in streams))

    def after(self, stream: str, sequence: int) -> FeedCursor:
        return FeedCursor(tuple((s, sequence if s == stream else q) for s, q in self.positions))


@dataclass(frozen=True)
class FeedEvent:
    stream: str
    sequence: int
    subject: str
    stored_at: datetime
    envelope: envelope_pb2.EventEnvelope
    # Where to resume to get what comes after this event.
    cursor: FeedCursor


@dataclass
class _Source:
    stream: str
    subjects: str
    queue: asyncio.Queue[Msg] = field(default_factory=lambda: asyncio.Queue(BUFFERED_PER_STREAM))
    subscription: JetStreamContext.PushSubscription | None = None
    # The last stream sequence put in `queue`.
    received: int = 0
    # Nothing was pending at a check started after this many events had arrived (any stream).
    clear_after_arrivals: int = -1


class Feed:
    """Iterate over it; close it (or leave `follow`) to end the consumers."""

    def __init__(self, js: JetStreamContext, sources: list[_Source], cursor: FeedCursor) -> None:
        self._js = js
        self._sources = sources
        self._cursor = cursor
        self._arrived = asyncio.Event()
        self._arrivals = 0
        # For each buffered message, how many events had arrived when it did.
        self._arrival_of: dict[tuple[str, int], int] = {}

    async def _start(self) -> None:
        for source in self._sources:
            start = dict(self._cursor.positions)[source.stream] + 1
            source.received = start - 1  # what the consumer counts as delivered before its first message

            async def deliver(msg: Msg, source: _Source = source) -> None:
                source.received = msg.metadata.sequence.stream
                self._arrivals += 1
                self._arrival_of[(source.stream, source.received)] = self._arrivals
                await source.queue.put(msg)
                self._arrived.set()

            source.subscription = await self._js.subscribe(
                source.subjects,
                stream=source.stream,
                cb=deliver,
                ordered_consumer=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start),
            )

    @property
    def cursor(self) -> FeedCursor:
        """After the last event handed out (where it started, before the first)."""
        return self._cursor

    async def close(self) -> None:
        for source in self._sources:
            if source.subscription is not None:
                with contextlib.suppress(Exception):
                    await source.subscription.unsubscribe()

    def __aiter__(self) -> AsyncIterator[FeedEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[FeedEvent]:
        while True:
            held = [s for s in self._sources if not s.queue.empty()]
            if not held:
                self._arrived.clear()
                if all(s.queue.empty() for s in self._sources):
                    await self._arrived.wait()
                continue
            first = min(held, key=lambda s: _stamp(_peek(s.queue)))
            head = _peek(first.queue)
            arrived_by = self._arrival_of[(first.stream, head.metadata.sequence.stream)]
            empty = [s for s in self._sources if s.queue.empty() and s.clear_after_arrivals < arrived_by]
            if empty and not await self._all_clear(empty):
                # One of them has something on its way: wait for it, then choose again.
                self._arrived.clear()
                if any(s.queue.empty() for s in empty):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._arrived.wait(), 0.05)
                continue
            msg = first.queue.get_nowait()
            sequence = msg.metadata.sequence.stream
            self._arrival_of.pop((first.stream, sequence), None)
            self._cursor = self._cursor.after(first.stream, sequence)
            envelope = envelope_pb2.EventEnvelope()
            try:
                envelope.ParseFromString(msg.data)
            except DecodeError:
                continue  # a malformed event is passed over, as every consumer passes it over
            yield FeedEvent(first.stream, sequence, msg.subject, _stamp(msg), envelope, self._cursor)

    async def _all_clear(self, sources: list[_Source]) -> bool:
        """Whether none of these streams has anything stored that this reader has not received: each
        asked now, so what was stored before an event in hand arrived would show."""
        arrivals = self._arrivals

        async def clear(source: _Source) -> bool:
            assert source.subscription is not None
            info = await source.subscription.consumer_info()
            delivered = info.delivered.stream_seq if info.delivered is not None else 0
            caught_up = info.num_pending == 0 and (delivered or 0) <= source.received
            if caught_up:
                source.clear_after_arrivals = arrivals
            return caught_up

        return all(await asyncio.gather(*(clear(source) for source in sources)))


def payload_of(envelope: envelope_pb2.EventEnvelope) -> Message | None:
    """The event inside an envelope, as its own type (None when this process does not know the type)."""
    name = envelope.payload.TypeName()
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return None
    event = message_factory.GetMessageClass(descriptor)()
    return event if envelope.payload.Unpack(event) else None


def conversation_of(event: Message | None) -> str:
    """The conversation an event is about: its `conversation_id`, or its message's (MessageAdded), or its
    outbound message's; "" for events about a customer or an agent."""
    if event is None:
        return ""
    fields = event.DESCRIPTOR.fields_by_name
    for name in ("conversation_id",):  # a field of some event types only
        if name in fields:
            return str(getattr(event, name))
    for name in ("message", "outbound"):
        if name in fields and fields[name].message_type is not None and event.HasField(name):
            return conversation_of(getattr(event, name))
    return ""


def _peek(queue: asyncio.Queue[Msg]) -> Msg:
    return queue._queue[0]  # type: ignore[attr-defined,no-any-return]  # asyncio.Queue has no peek


def _stamp(msg: Msg) -> datetime:
    stamp = msg.metadata.timestamp
    assert stamp is not None
    return stamp


async def start_positions(js: JetStreamContext, streams: Sequence[str]) -> FeedCursor:
    """A cursor at the end of each stream now: a feed from it has only what comes next."""
    positions = []
    for stream in streams:
        info = await js.stream_info(stream)
        positions.append((stream, int(info.state.last_seq)))
    return FeedCursor(tuple(positions))


@contextlib.asynccontextmanager
async def follow(
    js: JetStreamContext, subjects: Mapping[str, str], cursor: FeedCursor | None = None
) -> AsyncIterator[Feed]:
    """A feed of `subjects` (one filter per stream, e.g. {"CONVERSATIONS": "conv.>"}), from `cursor`, or
    from now when there is none."""
    for stream, subject in subjects.items():
        if stream_for_subject(subject).name != stream:
            raise ValueError(f"{subject} is not stored in {stream}")
    streams = list(subjects)
    start = cursor or await start_positions(js, streams)
    feed = Feed(js, [_Source(stream, subject) for stream, subject in subjects.items()], start)
    try:
        await feed._start()
        yield feed
    finally:
        await feed.close()
