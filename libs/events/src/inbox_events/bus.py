"""Connect, declare streams, publish with Nats-Msg-Id, consume durably in batches with dead-lettering.

Delivery rules (see the architecture's NATS settings):
- a message is acked only after its handler returned, i.e. after the handler's durable write;
- `ack_wait` is short (a batch takes well under a second), so what a killed process had fetched comes
  back within seconds; while a batch is being handled its unsettled messages are marked in progress
  every half `ack_wait`, so slow work (a translation engine) is never redelivered behind its handler;
- a handler that must wait for another event raises `Postponed`: put back for the time it names;
- a handler error naks with a growing delay; after `max_deliver` tries, or at once for a payload that
  can never succeed (`PermanentError`, a malformed envelope), the message goes to `deadletter.<durable>`
  with the reason and is terminated, so one poison event never blocks a consumer;
- the client reconnects forever, and a pull subscription lost with a server restart is re-created.

Batches: a consumer whose spec names a `lane` handles a fetched batch's lanes side by side and each lane's
events one after another, in stream order; when an event of a lane fails, the lane's later events are
put back with it, so a retry never lets a later event of the same customer overtake an earlier one.
Side by side is what lets a batch share its costs: the store commits the writes that arrive together in
one transaction, and the events they publish are in flight together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
import structlog
from google.protobuf.message import DecodeError, Message
from inbox.events.v1 import envelope_pb2
from inbox_runtime import tracing
from inbox_runtime.metrics import counter, gauge, histogram
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, KeyValueConfig, StorageType, StreamConfig
from nats.js.kv import KeyValue

from inbox_events.codec import DEFAULT_TENANT, MalformedEvent, decode, encode
from inbox_events.confirmations import Confirmations
from inbox_events.feed import Feed, FeedCursor, follow, start_positions
from inbox_events.permissions import inbox_prefix
from inbox_events.pull import BatchPuller, delivery_of
from inbox_events.streams import API_KEYS_BUCKET, API_KEYS_HISTORY, STREAMS, StreamSpec, stream_for_subject
from inbox_events.subjects import subject_for, subject_matches

if TYPE_CHECKING:
    from inbox_events.api_keys import ApiKeyStore

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=Message)

# Idle fetches in a row (5 s each by default) after which a consumer asks the server whether events are
# waiting for it, or went elsewhere.
STALL_CHECK_AFTER_IDLE_FETCHES = 3
# JetStream's error code for a sequence that holds no message (any more).
NO_MESSAGE_FOUND = 10057
# Core NATS subjects for signals and live-only events; no stream captures them.
SIGNAL_PREFIX = "signal"
LIVE_PREFIX = "live"

EVENTS_HANDLED = counter(
    "inbox_events_handled_total",
    "Events a consumer settled, by outcome: acked, retried (nak after a failure), postponed, dead_lettered",
    ["consumer", "outcome"],
)
HANDLER_SECONDS = histogram("inbox_event_handler_seconds", "Time a consumer's handler took for one event", ["consumer"])
CONSUMER_LAG = gauge(
    "inbox_consumer_lag_events",
    "Events in the stream not yet delivered to the consumer, as of its last fetch (0 after an idle one)",
    ["consumer"],
)


def without_password(url: str) -> str:
    """A NATS URL fit for a log line: the user stays, the password goes."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class NotStored(Exception):
    """A publish the broker did not confirm: unreachable, or no answer within the timeout."""


class SubjectMoved(Exception):
    """An event with `expected_last_subject_sequence` was refused: another one was stored on its subject
    since that sequence was read. Read the subject again and decide anew."""


class PermanentError(Exception):
    """Raised by a handler for an event that can never be handled: dead-lettered at once, not retried."""


class Postponed(Exception):
    """Raised by a handler for an event that must wait for another one (the same customer's earlier
    message, still held by a killed replica): put back, with its lane, for `delay_seconds`. Not a failure:
    nothing is logged as one. Each postponement is a delivery, so a handler bounds how often it postpones
    well below the spec's `max_deliver`."""

    def __init__(self, delay_seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.delay_seconds = delay_seconds


@dataclass(frozen=True)
class Event(Generic[M]):
    envelope: envelope_pb2.EventEnvelope
    payload: M
    subject: str
    deliveries: int
    # Where the stream holds it (what erasing it from the stream takes).
    stream_sequence: int = 0


@dataclass(frozen=True)
class Outgoing:
    """One event to publish; `event_id` must be derived from what the event is about, so that a
    republish after a crash is recognised as the same fact."""

    event: Message
    event_id: str
    correlation_id: str = ""
    tenant_id: str = DEFAULT_TENANT
    # Stored only if its subject's last event is still the one at this stream sequence (0: if the subject
    # holds none), else SubjectMoved: how a writer that read the subject's last event keeps another writer
    # from slipping in between.
    expected_last_subject_sequence: int | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as its stream holds it."""

    sequence: int
    envelope: envelope_pb2.EventEnvelope


@dataclass(frozen=True)
class ConsumerSpec(Generic[M]):
    durable: str
    subjects: tuple[str, ...]
    event_type: type[M]
    # Events fetched and handled as one unit. 256 rather than 64: a backlog of 30,000 drains in 47-48 s
    # instead of 52 (bench/pipeline.py), more writes sharing each commit, with no cost at low rates.
    batch: int = 256
    max_deliver: int = 6
    ack_wait_seconds: float = 5.0
    # Delay before the n-th redelivery after a handler error; the last value repeats.
    retry_delays_seconds: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 300.0)
    max_ack_pending: int = 1000
    # With lanes, while a full batch (more events are waiting) waits on its commits and confirmations, the next
    # is fetched and handled beside it; a lane's events still go in order, across batches too. A short batch
    # is handled alone: at low rates, smaller batches side by side would only cost more commits.
    batches_in_flight: int = 2
    # How long an idle fetch waits for events before it asks again.
    fetch_timeout_seconds: float = 5.0
    stream: str = field(default="")
    # What must stay in order (a customer, a conversation): events with different lanes are handled side
    # by side. None: one at a time, in stream order.
    lane: Callable[[M], str] | None = None

    def stream_name(self) -> str:
        return self.stream or stream_for_subject(self.subjects[0]).name

    def retry_delay(self, deliveries: int) -> float:
        index = min(max(deliveries - 1, 0), len(self.retry_delays_seconds) - 1)
        return self.retry_delays_seconds[index]


Handler = Callable[[Event[M]], Awaitable[None]]


# A cluster elects a stream's new leader in a few seconds: a publish that met an election (no answer, or
# "no responders") is tried again, under the same ids, until this deadline, then given up (NotStored).
PUBLISH_DEADLINE_SECONDS = 12.0
# How long setting up streams, buckets and consumers waits for a cluster that is still electing leaders.
STREAM_SETUP_SECONDS = 60.0
# How long one try waits for the broker's confirmations, and the pauses between tries (doubling).
PUBLISH_WAIT_SECONDS = 4.0
PUBLISH_FIRST_PAUSE_SECONDS = 0.25
PUBLISH_MAX_PAUSE_SECONDS = 2.0


# JetStream's "wrong last sequence" refusals of an expected-last-subject-sequence publish.
WRONG_LAST_SEQUENCE_CODES = (10071, 10164)


def _subject_moved(future: asyncio.Future[Any]) -> bool:
    if not future.done() or future.cancelled():
        return False
    error = future.exception()
    return isinstance(error, nats.js.errors.BadRequestError) and error.err_code in WRONG_LAST_SEQUENCE_CODES


@dataclass
class _Pauses:
    """The pauses between tries of a call that met a leader election: doubling, until `deadline` (the
    event loop's clock)."""

    deadline: float
    pause: float = PUBLISH_FIRST_PAUSE_SECONDS

    def room_for_another(self) -> bool:
        """Whether a pause and another try still end before the deadline."""
        return asyncio.get_running_loop().time() + self.pause < self.deadline

    async def wait(self) -> None:
        await asyncio.sleep(self.pause)
        self.pause = min(self.pause * 2, PUBLISH_MAX_PAUSE_SECONDS)


T = TypeVar("T")


async def while_electing(action: Callable[[], Awaitable[T]], **what: str) -> T:
    """Run a setup step (a stream, a bucket, a consumer); a cluster that is still electing leaders (every
    replica of every service sets up as the cluster starts, or after a node died) answers it late or
    "unavailable": asked again, for up to STREAM_SETUP_SECONDS."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_SETUP_SECONDS
    while True:
        try:
            return await action()
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError) as exc:
            if loop.time() > deadline:
                raise
            log.warning("jetstream_setup_retried", error=repr(exc), **what)
            await asyncio.sleep(1.0)


class EventBus:
    def __init__(self, nc: NatsClient, service: str, replicas: int = 1) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._service = service
        # Copies of each stream and bucket this service creates (consumers take their stream's).
        self._replicas = replicas
        self._api_keys: ApiKeyStore | None = None
        self._confirmations = Confirmations(nc)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, *, service: str, replicas: int = 1) -> AsyncIterator[EventBus]:
        """Connect (retrying forever after the first success) and drain on exit. The URL carries the
        service's NATS user (`nats://threading:<password>@nats:4222`); a cluster is a comma-separated list
        of its nodes' URLs, any of which will do (the client moves to another when one goes). Replies come
        to the service's own inbox prefix, the only one its user may subscribe to. `replicas`: the copies
        JetStream keeps of every stream and bucket (NATS_STREAM_REPLICAS)."""

        async def on_error(exc: Exception) -> None:
            log.warning("nats_error", error=str(exc))

        async def on_disconnected() -> None:
            log.warning("nats_disconnected")

        async def on_reconnected() -> None:
            log.info("nats_reconnected")

        servers = [server.strip() for server in url.split(",") if server.strip()]
        nc = await nats.connect(
            servers=servers,
            name=service,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=5,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            inbox_prefix=inbox_prefix(service).encode(),
        )
        log.info("nats_connected", url=",".join(without_password(server) for server in servers), replicas=replicas)
        try:
            bus = cls(nc, service, replicas)
            await bus._confirmations.start()
            yield bus
        finally:
            with contextlib.suppress(Exception):
                await nc.drain()
            log.info("nats_drained")

    async def api_keys(self) -> ApiKeyStore:
        """The API keys' bucket (created on first use), the gRPC bootstrap's key source."""
        # Imported here: `python -m inbox_events.api_keys` must not find its module already imported.
        from inbox_events.api_keys import ApiKeyStore

        if self._api_keys is None:
            self._api_keys = ApiKeyStore(await self.key_value(API_KEYS_BUCKET, history=API_KEYS_HISTORY))
        return self._api_keys

    async def key_value(self, bucket: str, history: int = 1) -> KeyValue:
        """A key-value bucket on the broker, created on first use, with this bus's replicas (a bucket made
        with fewer, by a single-server deployment or a tool, gets them as a stream does); safe from every
        replica at every start."""

        async def open_or_create() -> KeyValue:
            try:
                kv = await self._js.key_value(bucket)
            except (nats.js.errors.BucketNotFoundError, nats.js.errors.NotFoundError):
                return await self._js.create_key_value(
                    KeyValueConfig(bucket=bucket, history=history, storage=StorageType.FILE, replicas=self._replicas)
                )
            config = (await self._js.stream_info(f"KV_{bucket}")).config
            if config.num_replicas != self._replicas:
                config.num_replicas = self._replicas
                await self._js.update_stream(config)
                log.info("bucket_replicas_changed", bucket=bucket, replicas=self._replicas)
            return kv

        return await while_electing(open_or_create, bucket=bucket)

    @property
    def is_connected(self) -> bool:
        return bool(self._nc.is_connected)

    async def ensure_streams(self, streams: Sequence[StreamSpec] = STREAMS) -> None:
        """Create or update every stream, with this bus's replicas (a stream made R1 becomes R3 when the
        setting says so); safe to run from every replica at every start."""
        for spec in streams:
            config = StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=StorageType.FILE,
                max_age=spec.max_age_seconds,
                duplicate_window=spec.duplicate_window_seconds,
                num_replicas=self._replicas,
            )
            await self._apply_stream(config)

    async def _apply_stream(self, config: StreamConfig) -> None:
        """Create or update one stream."""

        async def apply() -> None:
            try:
                await self._js.stream_info(config.name or "")
            except nats.js.errors.NotFoundError:
                with contextlib.suppress(nats.js.errors.BadRequestError):
                    await self._js.add_stream(config)
                    return
            await self._js.update_stream(config)

        await while_electing(apply, stream=config.name or "")

    def _message(self, item: Outgoing) -> tuple[str, bytes]:
        envelope = encode(
            item.event,
            event_id=item.event_id,
            tenant_id=item.tenant_id,
            correlation_id=item.correlation_id,
            trace=tracing.current_trace_context(),
        )
        return subject_for(item.event), envelope.SerializeToString()

    async def publish(self, event: Message, *, event_id: str, correlation_id: str = "") -> None:
        """Publish one event and wait until JetStream has stored it."""
        await self.publish_all([Outgoing(event, event_id, correlation_id)])

    async def publish_all(self, items: Sequence[Outgoing], *, within: float = PUBLISH_DEADLINE_SECONDS) -> list[int]:
        """Publish several events pipelined (not one round-trip each); return when all are stored, with the
        stream sequence each is stored at (the first copy's, for one stored before under its id), or raise
        NotStored when the broker is unreachable or did not confirm them `within` seconds (some may be
        stored: their ids make a retry safe)."""
        sequences: list[int | None] = [None] * len(items)
        unconfirmed = list(range(len(items)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        pauses = _Pauses(deadline)
        while True:
            futures: list[asyncio.Future[int]] = []
            try:
                for index in unconfirmed:
                    item = items[index]
                    subject, data = self._message(item)
                    # The event id is the only header: JetStream's de-duplication reads it; the type and the
                    # correlation id travel in the envelope (each header costs every reader a parse).
                    headers = {"Nats-Msg-Id": item.event_id}
                    if item.expected_last_subject_sequence is not None:
                        headers["Nats-Expected-Last-Subject-Sequence"] = str(item.expected_last_subject_sequence)
                    futures.append(await self._confirmations.publish(subject, data, headers))
                # One deadline for them all, without a task per event (wait_for makes one).
                async with asyncio.timeout(max(0.1, min(PUBLISH_WAIT_SECONDS, deadline - loop.time()))):
                    for index, future in zip(unconfirmed, futures, strict=False):
                        sequences[index] = await future
                return [sequence or 0 for sequence in sequences]
            except (TimeoutError, nats.errors.Error) as exc:
                for future in futures:
                    if not future.done():
                        future.cancel()  # its event goes again below, if it is to go at all
                if any(_subject_moved(future) for future in futures):
                    raise SubjectMoved(f"another event was stored on the subject first: {exc!r}") from exc
                # A stream's leader can be elected anew (a cluster node went): what was not confirmed goes
                # again under the same ids, which JetStream stores once whatever the first try did.
                for index, future in zip(unconfirmed, futures, strict=False):
                    if future.done() and not future.cancelled() and not future.exception():
                        sequences[index] = future.result()
                unconfirmed = [index for index in unconfirmed if sequences[index] is None]
                if not pauses.room_for_another():
                    raise NotStored(f"the broker did not confirm {len(unconfirmed)} event(s): {exc!r}") from exc
                log.warning("publish_retried", unconfirmed=len(unconfirmed), error=repr(exc))
                await pauses.wait()

    async def last_on_subject(self, subject: str, *, within: float = PUBLISH_DEADLINE_SECONDS) -> StoredEvent | None:
        """The last event stored on `subject` (no wildcards), as its stream's leader holds it, never a
        follower's copy that may lag; None when there is none. Asked again while the stream elects a leader,
        as a publish is, for `within` seconds; then the broker's error is raised."""
        stream = stream_for_subject(subject).name
        pauses = _Pauses(asyncio.get_running_loop().time() + within)
        while True:
            try:
                raw = await self._js.get_last_msg(stream, subject)
                return StoredEvent(raw.seq or 0, envelope_pb2.EventEnvelope.FromString(raw.data or b""))
            except nats.js.errors.NotFoundError:
                return None
            except (TimeoutError, nats.errors.Error) as exc:
                if not pauses.room_for_another():
                    raise
                log.warning("read_retried", stream=stream, error=repr(exc))
                await pauses.wait()

    async def publish_live(self, items: Sequence[Outgoing]) -> None:
        """Live-only events, on core NATS (`live.<subject>`): not stored, not replayed, no consumer acks them.
        For facts the sender's store already holds whose only readers are live views (`watch`), where a
        lost one costs a view a refresh, never data: they take no durable hop on the pipeline."""
        for item in items:
            subject, data = self._message(item)
            await self._nc.publish(f"{LIVE_PREFIX}.{subject}", data)

    async def signal(self, subject: str, data: bytes) -> None:
        """Fire-and-forget on core NATS (no stream): for live, replaceable facts such as typing, or a
        nudge to whichever replica holds a customer's socket. Never for anything that must not be lost."""
        await self._nc.publish(f"{SIGNAL_PREFIX}.{subject}", data)

    @contextlib.asynccontextmanager
    async def on_signal(self, subject: str, handler: Callable[[str, bytes], Awaitable[None]]) -> AsyncIterator[None]:
        """Receive signals on `subject` (wildcards allowed) until the context exits."""
        prefix = len(SIGNAL_PREFIX) + 1

        async def deliver(msg: Msg) -> None:
            try:
                await handler(msg.subject[prefix:], msg.data)
            except Exception as exc:
                log.warning("signal_handler_failed", subject=msg.subject, error=repr(exc))

        subscription = await self._nc.subscribe(f"{SIGNAL_PREFIX}.{subject}", cb=deliver)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    @contextlib.asynccontextmanager
    async def watch(
        self, subjects: Sequence[str], handler: Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]
    ) -> AsyncIterator[None]:
        """Every event stored from now on under `subjects`, in order, for this process alone (an ordered,
        ephemeral consumer per subject: each replica of a live view sees everything, nothing is shared or
        acked), and the live-only ones (`publish_live`) as they come. For live views only: what a process
        must not miss goes through `consume`."""

        async def deliver(msg: Msg) -> None:
            envelope = envelope_pb2.EventEnvelope()
            try:
                envelope.ParseFromString(msg.data)
                await handler(envelope)
            except Exception as exc:
                log.warning("watch_handler_failed", subject=msg.subject, error=repr(exc))

        subscriptions: list[Subscription] = [
            await self._js.subscribe(
                subject,
                stream=stream_for_subject(subject).name,
                cb=deliver,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
            )
            for subject in subjects
        ]
        for subject in subjects:
            subscriptions.append(await self._nc.subscribe(f"{LIVE_PREFIX}.{subject}", cb=deliver))
        try:
            yield
        finally:
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def feed_end(self, streams: Sequence[str]) -> FeedCursor:
        """A feed cursor at the end of each stream now: following it gives only what comes next."""
        return await start_positions(self._js, streams)

    def follow(
        self, subjects: Mapping[str, str], cursor: FeedCursor | None = None
    ) -> contextlib.AbstractAsyncContextManager[Feed]:
        """Several streams as one feed in the order they were stored, from `cursor` (see feed.py)."""
        return follow(self._js, subjects, cursor)

    @contextlib.asynccontextmanager
    async def consume(self, spec: ConsumerSpec[M], handler: Handler[M]) -> AsyncIterator[None]:
        """Run a durable pull consumer until the context exits; then finish the current batch."""
        consumer = _Consumer(self, spec, handler)
        await consumer.subscribe()
        task = asyncio.create_task(consumer.run(), name=f"consumer:{spec.durable}")
        try:
            yield
        finally:
            await consumer.stop(task)

    async def settled(self, spec: ConsumerSpec[M]) -> bool:
        """Whether the durable consumer has handled and acked everything published so far: a pending count
        to wait on instead of a pause (acks follow the handler's durable write)."""
        info = await self._js.consumer_info(spec.stream_name(), spec.durable)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    async def erase_events(
        self, is_erased: Callable[[envelope_pb2.EventEnvelope], bool], *, keep: Collection[tuple[str, int]] = ()
    ) -> int:
        """Delete from every stream each stored event `is_erased` picks, but those in `keep` (stream,
        sequence); JetStream overwrites a deleted message's bytes on disk. Each stream is read once, up to
        its last event at the start. What erasing a customer takes; how many events went."""
        erased = 0
        for spec in STREAMS:
            for sequence in await self._stored_matching(spec, is_erased):
                if (spec.name, sequence) not in keep and await self.erase_event(spec.name, sequence):
                    erased += 1
        return erased

    async def _stored_matching(
        self, spec: StreamSpec, is_erased: Callable[[envelope_pb2.EventEnvelope], bool]
    ) -> list[int]:
        info = await self._js.stream_info(spec.name)
        if not info.state.messages:
            return []
        last = info.state.last_seq
        # Ephemeral and unacknowledged: a reader of the stream that nothing else sees, gone when idle.
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0, mem_storage=True
        )
        subscription = await self._js.pull_subscribe(spec.subjects[0], stream=spec.name, config=config)
        found: list[int] = []
        try:
            while True:
                try:
                    batch = await subscription.fetch(256, timeout=2)
                except (nats.errors.TimeoutError, TimeoutError):
                    # Under load a fetch can time out with events still there: done only when none are left
                    # (the rest may have been deleted meanwhile).
                    if (await subscription.consumer_info()).num_pending:
                        continue
                    break
                for msg in batch:
                    envelope = envelope_pb2.EventEnvelope()
                    with contextlib.suppress(DecodeError):
                        envelope.ParseFromString(msg.data)
                        if is_erased(envelope):
                            found.append(msg.metadata.sequence.stream)
                if not batch or batch[-1].metadata.sequence.stream >= last:
                    break
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        return found

    async def erase_event(self, stream: str, sequence: int) -> bool:
        """Delete one stored event, overwriting its bytes; False when it was already gone (its age,
        another replica's erasure)."""
        try:
            return await self._js.delete_msg(stream, sequence)
        except nats.js.errors.APIError as exc:
            if exc.err_code == NO_MESSAGE_FOUND:
                return False
            raise

    async def not_yet_handled_by(self, spec: ConsumerSpec[M], subject: str, sequence: int) -> list[str]:
        """The other durable consumers of `spec`'s stream that take `subject` and have not yet settled the
        event at `sequence`: who still needs it before it may be erased."""
        waiting = []
        for info in await self._js.consumers_info(spec.stream_name()):
            config = info.config
            durable = config.durable_name
            if not durable or durable == spec.durable:
                continue
            filters = config.filter_subjects or [config.filter_subject or ">"]
            settled_up_to = (info.ack_floor.stream_seq or 0) if info.ack_floor else 0
            if settled_up_to < sequence and any(subject_matches(pattern, subject) for pattern in filters):
                waiting.append(durable)
        return sorted(waiting)

    async def _dead_letter(self, spec: ConsumerSpec[M], msg: Msg, reason: str) -> None:
        metadata = msg.metadata
        dead = envelope_pb2.DeadLetter(
            original_subject=msg.subject,
            consumer=spec.durable,
            stream_sequence=metadata.sequence.stream,
            deliveries=metadata.num_delivered,
            reason=reason,
            original_data=msg.data,
        )
        dead.dead_at.FromDatetime(datetime.now(UTC))
        await self.publish(dead, event_id=f"dead:{spec.durable}:{metadata.sequence.stream}")
        await msg.term()
        log.error(
            "event_dead_lettered",
            consumer=spec.durable,
            subject=msg.subject,
            stream_sequence=metadata.sequence.stream,
            deliveries=metadata.num_delivered,
            reason=reason,
        )


class _Consumer(Generic[M]):
    def __init__(self, bus: EventBus, spec: ConsumerSpec[M], handler: Handler[M]) -> None:
        self._bus = bus
        self._spec = spec
        self._handler = handler
        self._puller: BatchPuller | None = None
        self._stopping = asyncio.Event()
        self._batches: set[asyncio.Task[None]] = set()
        # Per lane, the turn of its latest events being handled: done, with the delay they were put back for
        # (None: handled), once they are settled.
        self._lane_turns: dict[str, asyncio.Future[float | None]] = {}
        # The server's count of deliveries to this consumer as of the last one this process received (or
        # of subscribing): a higher count while fetches come back empty means deliveries went elsewhere.
        self._deliveries_seen = 0
        durable = spec.durable
        self._outcomes = {
            outcome: EVENTS_HANDLED.labels(durable, outcome)
            for outcome in ("acked", "retried", "postponed", "dead_lettered")
        }
        self._handler_seconds = HANDLER_SECONDS.labels(durable)
        self._lag = CONSUMER_LAG.labels(durable)

    def _config(self) -> ConsumerConfig:
        spec = self._spec
        multiple = len(spec.subjects) > 1
        return ConsumerConfig(
            durable_name=spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=spec.ack_wait_seconds,
            max_deliver=spec.max_deliver,
            max_ack_pending=spec.max_ack_pending,
            filter_subject=None if multiple else spec.subjects[0],
            filter_subjects=list(spec.subjects) if multiple else None,
        )

    async def subscribe(self) -> None:
        js = self._bus._js
        stream = self._spec.stream_name()

        async def create_or_update() -> None:
            try:
                info = await js.consumer_info(stream, self._spec.durable)
            except nats.js.errors.NotFoundError:
                with contextlib.suppress(nats.js.errors.BadRequestError):
                    await js.add_consumer(stream, config=self._config())
                return
            if info.config.ack_wait != self._spec.ack_wait_seconds or info.config.max_deliver != self._spec.max_deliver:
                # A consumer made by an earlier release: creating it again with new settings updates it.
                await js.add_consumer(stream, config=self._config())
                log.info("consumer_updated", consumer=self._spec.durable, ack_wait_seconds=self._spec.ack_wait_seconds)

        await while_electing(create_or_update, consumer=self._spec.durable)
        puller = BatchPuller(self._bus._nc, stream, self._spec.durable)
        await puller.start()
        self._puller = puller
        with contextlib.suppress(Exception):  # a count only: stall checks start from it
            current = await js.consumer_info(stream, self._spec.durable)
            self._deliveries_seen = current.delivered.consumer_seq or 0

    async def stop(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._puller is not None:
            with contextlib.suppress(Exception):
                await self._puller.stop()

    async def _fetch(self) -> list[Msg]:
        """Fetch a batch, or nothing if the consumer is asked to stop while waiting."""
        assert self._puller is not None
        fetch = asyncio.ensure_future(self._puller.fetch(self._spec.batch, timeout=self._spec.fetch_timeout_seconds))
        stop = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        if fetch not in done:
            fetch.cancel()
            with contextlib.suppress(BaseException):
                await fetch
            return []
        stop.cancel()
        return fetch.result()

    async def run(self) -> None:
        try:
            await self._fetch_and_handle()
        finally:
            await asyncio.gather(*self._batches, return_exceptions=True)

    async def _fetch_and_handle(self) -> None:
        idle_fetches = 0
        overlap = 1
        while not self._stopping.is_set():
            while len(self._batches) >= overlap:
                await asyncio.wait(self._batches, return_when=asyncio.FIRST_COMPLETED)
            try:
                messages = await self._fetch()
            except (nats.errors.TimeoutError, TimeoutError):  # an idle fetch expires either way
                self._lag.set(0)
                idle_fetches += 1
                if idle_fetches % STALL_CHECK_AFTER_IDLE_FETCHES == 0 and await self._stalled():
                    # Info, not a warning: with several replicas, quiet here while another works looks alike.
                    log.info("consumer_resubscribing", consumer=self._spec.durable, reason="deliveries went elsewhere")
                    await self._resubscribe()
                continue
            except Exception as exc:  # connection lost, consumer gone after a server restart...
                log.warning("consumer_fetch_failed", consumer=self._spec.durable, error=repr(exc))
                await self._resubscribe()
                continue
            idle_fetches = 0
            if messages:
                last = delivery_of(messages[-1])
                self._deliveries_seen = max(self._deliveries_seen, last.consumer_sequence)
                self._lag.set(last.pending)
            full = len(messages) >= self._spec.batch and self._spec.lane is not None
            overlap = self._spec.batches_in_flight if full else 1
            batch = asyncio.create_task(self._handle_batch(messages))
            self._batches.add(batch)
            batch.add_done_callback(self._batch_done)

    def _batch_done(self, batch: asyncio.Task[None]) -> None:
        self._batches.discard(batch)
        if not batch.cancelled() and batch.exception() is not None:  # its unsettled events come back after ack_wait
            log.error("consumer_batch_failed", consumer=self._spec.durable, error=repr(batch.exception()))

    async def _stalled(self) -> bool:
        """Whether, while this process's fetches keep coming back empty, the server has events waiting for
        the consumer or has delivered some this process never received: a pull subscription that stopped
        receiving (seen once after a broker restart), which only subscribing again cures. With several
        replicas the deliveries may have been another's: resubscribing is then merely wasted."""
        try:
            info = await self._bus._js.consumer_info(self._spec.stream_name(), self._spec.durable)
        except Exception:  # the broker is away: the fetch failures will resubscribe
            return False
        return bool(info.num_pending) or (info.delivered.consumer_seq or 0) > self._deliveries_seen

    async def _resubscribe(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=1.0)
            if self._stopping.is_set():
                return
            try:
                if self._puller is not None:
                    with contextlib.suppress(Exception):
                        await self._puller.stop()
                await self.subscribe()
                log.info("consumer_resubscribed", consumer=self._spec.durable)
                return
            except Exception as exc:
                log.warning("consumer_resubscribe_failed", consumer=self._spec.durable, error=repr(exc))

    async def _handle_batch(self, messages: list[Msg]) -> None:
        unsettled = {id(msg): msg for msg in messages}
        heartbeat = asyncio.create_task(self._keep_in_progress(unsettled))
        try:
            await self._handle_fetched(messages, unsettled)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _keep_in_progress(self, unsettled: dict[int, Msg]) -> None:
        """Tell the server, every half ack_wait, that the batch's unsettled messages are still being worked on."""
        while True:
            await asyncio.sleep(self._spec.ack_wait_seconds / 2)
            for msg in list(unsettled.values()):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _handle_fetched(self, messages: list[Msg], unsettled: dict[int, Msg]) -> None:
        lane_of = self._spec.lane
        lanes: dict[str, list[tuple[Msg, Event[M]]]] = {}
        for msg in messages:
            event = await self._settled_or_decoded(msg)
            if event is None:
                unsettled.pop(id(msg), None)
                continue
            if lane_of is None:  # one at a time; a retried event does not hold back the others
                await self._handle_lane([(msg, event)], unsettled)
            else:
                lanes.setdefault(lane_of(event.payload), []).append((msg, event))
        await asyncio.gather(*(self._handle_lane_in_turn(key, lane, unsettled) for key, lane in lanes.items()))

    async def _handle_lane_in_turn(self, key: str, lane: list[tuple[Msg, Event[M]]], unsettled: dict[int, Msg]) -> None:
        """Handle a lane's events of this batch once its events of an earlier batch still in hand are settled;
        put them back behind those if those were put back."""
        earlier = self._lane_turns.get(key)
        turn: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._lane_turns[key] = turn
        retry_in: float | None = None
        try:
            retry_in = await earlier if earlier is not None else None
            if retry_in is None:
                retry_in = await self._handle_lane(lane, unsettled)
            else:
                await self._put_back(lane, retry_in, unsettled)
        finally:
            if not turn.done():
                turn.set_result(retry_in)
            if self._lane_turns.get(key) is turn:
                del self._lane_turns[key]

    async def _handle_lane(self, lane: list[tuple[Msg, Event[M]]], unsettled: dict[int, Msg]) -> float | None:
        """Handle a lane's events in order; the delay they were put back for when one was (None: all settled)."""
        for index, (msg, event) in enumerate(lane):
            try:
                retry_in = await self._handle(msg, event)
            except Exception as exc:  # e.g. the broker went away mid-ack; redelivered after ack_wait
                log.warning("event_settle_failed", consumer=self._spec.durable, error=repr(exc))
                continue
            finally:
                unsettled.pop(id(msg), None)
            if retry_in is not None:
                # Put the lane's later events back too, so none overtakes the one that failed.
                await self._put_back(lane[index + 1 :], retry_in, unsettled)
                return retry_in
        return None

    @staticmethod
    async def _put_back(events: list[tuple[Msg, Event[M]]], delay: float, unsettled: dict[int, Msg]) -> None:
        for msg, _ in events:
            unsettled.pop(id(msg), None)
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)

    async def _settled_or_decoded(self, msg: Msg) -> Event[M] | None:
        """The event, or None when it was malformed and is dead-lettered."""
        try:
            envelope, payload = decode(msg.data, self._spec.event_type)
        except MalformedEvent as exc:
            with structlog.contextvars.bound_contextvars(consumer=self._spec.durable, subject=msg.subject):
                try:
                    await self._bus._dead_letter(self._spec, msg, f"malformed: {exc}")
                    self._outcomes["dead_lettered"].inc()
                except Exception as error:
                    log.warning("event_settle_failed", consumer=self._spec.durable, error=repr(error))
            return None
        delivery = delivery_of(msg)
        return Event(
            envelope=envelope,
            payload=payload,
            subject=msg.subject,
            deliveries=delivery.deliveries or 1,
            stream_sequence=delivery.stream_sequence,
        )

    async def _handle(self, msg: Msg, event: Event[M]) -> float | None:
        """Handle, then ack, dead-letter or nak; the delay before a retry when it was nak'ed. The handler runs
        in a span that continues the publisher's trace."""
        carrier = None
        if tracing.tracing_enabled() and event.envelope.trace.traceparent:
            trace = event.envelope.trace
            carrier = {"traceparent": trace.traceparent, "tracestate": trace.tracestate}
        started = time.perf_counter()
        with tracing.span(
            self._spec.durable,
            kind="consumer",
            carrier=carrier,
            attributes={"messaging.system": "nats", "messaging.destination.name": msg.subject},
        ):
            outcome, retry_in = await self._settle(msg, event)
        self._handler_seconds.observe(time.perf_counter() - started)
        self._outcomes[outcome].inc()
        return retry_in

    async def _settle(self, msg: Msg, event: Event[M]) -> tuple[str, float | None]:
        spec = self._spec
        deliveries = event.deliveries
        # Bound in this lane's task for the handler's log lines (the lanes of a batch are tasks of their own);
        # the next event rebinds them. Cheaper than a scoped binding, which showed in the consumers' profiles.
        structlog.contextvars.bind_contextvars(
            consumer=spec.durable, subject=msg.subject, correlation_id=event.envelope.correlation_id
        )
        try:
            await self._handler(event)
        except PermanentError as exc:
            tracing.mark_span_failed(f"rejected: {exc}")
            await self._bus._dead_letter(spec, msg, f"rejected: {exc}")
            return "dead_lettered", None
        except Postponed as postponed:
            log.info(
                "event_postponed",
                event_id=event.envelope.event_id,
                deliveries=deliveries,
                retry_in_seconds=postponed.delay_seconds,
                reason=str(postponed),
            )
            await msg.nak(delay=postponed.delay_seconds)
            return "postponed", postponed.delay_seconds
        except Exception as exc:
            tracing.mark_span_failed(repr(exc))
            if deliveries >= spec.max_deliver:
                await self._bus._dead_letter(spec, msg, f"failed {deliveries} times: {exc!r}")
                return "dead_lettered", None
            delay = spec.retry_delay(deliveries)
            log.warning(
                "event_handler_failed",
                event_id=event.envelope.event_id,
                deliveries=deliveries,
                retry_in_seconds=delay,
                error=repr(exc),
            )
            await msg.nak(delay=delay)
            return "retried", delay
        await msg.ack()
        return "acked", None
