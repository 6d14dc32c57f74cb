"""The bus against a real nats-server: delivery, dedupe, retries, dead letters, broker restarts."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import nats
import pytest
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conv
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.waiting import eventually
from inbox_events import ConsumerSpec, Event, EventBus, Outgoing, PermanentError, Postponed, SubjectMoved, subject_for
from inbox_events.pull import BatchPuller
from inbox_events.streams import stream_for_subject
from prometheus_client import REGISTRY

OPENED = ConsumerSpec(
    durable="test-on-reopened",
    subjects=("conv.reopened",),
    event_type=conv.ConversationReopened,
    max_deliver=3,
    retry_delays_seconds=(0.1,),
)
DEAD = ConsumerSpec(durable="test-on-dead", subjects=("deadletter.>",), event_type=envelope_pb2.DeadLetter)


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[EventBus]:
    async with EventBus.connect(nats_server.url, service="test") as connected:
        await connected.ensure_streams()
        yield connected


def opened(conversation_id: str) -> conv.ConversationReopened:
    return conv.ConversationReopened(conversation_id=conversation_id, customer_id="cust", channel=1)


def handled(spec: ConsumerSpec[conv.ConversationReopened], outcome: str) -> float:
    value = REGISTRY.get_sample_value("inbox_events_handled_total", {"consumer": spec.durable, "outcome": outcome})
    return value or 0.0


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event[conv.ConversationReopened]] = []
        self.dead: list[envelope_pb2.DeadLetter] = []
        self.changed = asyncio.Event()

    async def on_opened(self, event: Event[conv.ConversationReopened]) -> None:
        self.events.append(event)
        self.changed.set()

    async def on_dead(self, event: Event[envelope_pb2.DeadLetter]) -> None:
        self.dead.append(event.payload)
        self.changed.set()

    async def until(self, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


async def test_events_round_trip_in_their_envelope(bus: EventBus) -> None:
    recorder = Recorder()
    async with bus.consume(OPENED, recorder.on_opened):
        await bus.publish(opened("c1"), event_id="e1", correlation_id="corr-1")
        await recorder.until(lambda: len(recorder.events) == 1)
    event = recorder.events[0]
    assert event.payload.conversation_id == "c1"
    assert event.envelope.event_id == "e1"
    assert event.envelope.type == "inbox.conversations.v1.ConversationReopened"
    assert event.envelope.correlation_id == "corr-1"
    assert event.envelope.tenant_id == "default"
    assert event.envelope.occurred_at.seconds > 0


async def test_a_republished_event_id_is_stored_once(bus: EventBus) -> None:
    recorder = Recorder()
    await bus.publish(opened("c1"), event_id="same")
    await bus.publish(opened("c1"), event_id="same")
    await bus.publish(opened("c2"), event_id="other")
    async with bus.consume(OPENED, recorder.on_opened):
        await recorder.until(lambda: len(recorder.events) == 2)

        async def settled() -> bool:
            return await bus.settled(OPENED)

        await eventually(settled, what="the consumer has nothing left")  # so a third would have come by now
    assert [e.payload.conversation_id for e in recorder.events] == ["c1", "c2"]


async def test_a_failing_handler_is_retried_then_dead_lettered(bus: EventBus) -> None:
    recorder = Recorder()
    attempts: list[int] = []

    async def always_fails(event: Event[conv.ConversationReopened]) -> None:
        attempts.append(event.deliveries)
        if event.payload.conversation_id == "poison":
            raise RuntimeError("store unavailable")
        await recorder.on_opened(event)

    before = {outcome: handled(OPENED, outcome) for outcome in ("acked", "retried", "dead_lettered")}
    async with bus.consume(OPENED, always_fails), bus.consume(DEAD, recorder.on_dead):
        await bus.publish(opened("poison"), event_id="p")
        await bus.publish(opened("fine"), event_id="f")
        await recorder.until(lambda: len(recorder.dead) == 1 and len(recorder.events) == 1)
    assert attempts.count(1) == 2 and max(attempts) == 3
    # The consumer has stopped: its counts are final (Prometheus's `inbox_events_handled_total`).
    counted = {outcome: handled(OPENED, outcome) - before[outcome] for outcome in before}
    assert counted == {"acked": 1, "retried": 2, "dead_lettered": 1}
    dead = recorder.dead[0]
    assert dead.consumer == "test-on-reopened"
    assert dead.deliveries == 3
    assert "store unavailable" in dead.reason
    assert dead.original_subject == "conv.reopened"


async def test_a_permanent_error_or_malformed_payload_is_dead_lettered_at_once(
    bus: EventBus, nats_server: NatsServer
) -> None:
    recorder = Recorder()

    async def rejects(event: Event[conv.ConversationReopened]) -> None:
        raise PermanentError("conversation id is not ours")

    nc = await nats.connect(nats_server.url)
    await nc.jetstream().publish("conv.reopened", b"\x00garbage", headers={"Nats-Msg-Id": "g"})
    await nc.close()
    await bus.publish(opened("rejected"), event_id="r")
    async with bus.consume(OPENED, rejects), bus.consume(DEAD, recorder.on_dead):
        await recorder.until(lambda: len(recorder.dead) == 2)
    reasons = sorted(d.reason for d in recorder.dead)
    assert reasons[0].startswith("malformed")
    assert reasons[1] == "rejected: conversation id is not ours"
    assert all(d.deliveries == 1 for d in recorder.dead)


async def test_consumers_carry_on_after_the_broker_restarts(bus: EventBus, nats_server: NatsServer) -> None:
    recorder = Recorder()
    async with bus.consume(OPENED, recorder.on_opened):
        await bus.publish(opened("before"), event_id="b")
        await recorder.until(lambda: len(recorder.events) == 1)
        await asyncio.to_thread(nats_server.restart)
        async with asyncio.timeout(20):
            while True:
                try:
                    await bus.publish(opened("after"), event_id="a")
                    break
                except Exception:
                    await asyncio.sleep(0.2)
        await recorder.until(lambda: len(recorder.events) == 2, timeout=30)
    assert [e.payload.conversation_id for e in recorder.events] == ["before", "after"]


BY_CUSTOMER = ConsumerSpec(
    durable="test-by-customer",
    subjects=("conv.reopened",),
    event_type=conv.ConversationReopened,
    max_deliver=3,
    retry_delays_seconds=(0.1,),
    lane=lambda event: event.customer_id,
)


async def _publish_for(bus: EventBus, *pairs: tuple[str, str]) -> None:
    for customer_id, conversation_id in pairs:
        event = conv.ConversationReopened(conversation_id=conversation_id, customer_id=customer_id, channel=1)
        await bus.publish(event, event_id=conversation_id)


async def _handled_while_a1_waits_for(
    bus: EventBus, spec: ConsumerSpec[conv.ConversationReopened], other: str, count: int
) -> list[str]:
    """The order `count` events were handled in, a1 waiting until `other` is handled."""
    handled: list[str] = []
    other_handled = asyncio.Event()
    done = asyncio.Event()

    async def handle(event: Event[conv.ConversationReopened]) -> None:
        conversation_id = event.payload.conversation_id
        if conversation_id == "a1":
            async with asyncio.timeout(10):
                await other_handled.wait()
        handled.append(conversation_id)
        if conversation_id == other:
            other_handled.set()
        if len(handled) == count:
            done.set()

    async with bus.consume(spec, handle):
        async with asyncio.timeout(10):
            await done.wait()
    return handled


async def test_lanes_of_a_batch_are_handled_side_by_side_each_in_order(bus: EventBus) -> None:
    await _publish_for(bus, ("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3"), ("b", "b2"))
    # Handled one at a time, a1 would wait for ever: b's lane runs beside a's.
    handled = await _handled_while_a1_waits_for(bus, BY_CUSTOMER, "b1", 5)
    assert [c for c in handled if c.startswith("a")] == ["a1", "a2", "a3"]
    assert [c for c in handled if c.startswith("b")] == ["b1", "b2"]


async def test_a_retried_event_holds_back_the_rest_of_its_lane_only(bus: EventBus) -> None:
    await _publish_for(bus, ("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3"))
    handled: list[str] = []
    failed_once: set[str] = set()
    done = asyncio.Event()

    async def handle(event: Event[conv.ConversationReopened]) -> None:
        conversation_id = event.payload.conversation_id
        if conversation_id == "a1" and conversation_id not in failed_once:
            failed_once.add(conversation_id)
            raise RuntimeError("store unavailable")
        handled.append(conversation_id)
        if len(handled) == 4:
            done.set()

    async with bus.consume(BY_CUSTOMER, handle):
        async with asyncio.timeout(10):
            await done.wait()
    assert handled[0] == "b1"  # the other lane did not wait for a1's retry
    assert handled[1:] == ["a1", "a2", "a3"]
    # The server applies acks on its own schedule: settled soon after, with nothing left to redeliver.
    await eventually(lambda: bus.settled(BY_CUSTOMER), what="every event acked")


# Two events a batch: a full batch leaves room for the next beside it.
IN_PAIRS = dataclasses.replace(BY_CUSTOMER, durable="test-in-pairs", batch=2)


async def test_a_lane_waits_for_its_events_of_the_batch_before_while_the_other_lanes_go_on(bus: EventBus) -> None:
    # Fetched as [a1, b1] then [a2, c1]: the second batch is handled while a1 is still in hand.
    await _publish_for(bus, ("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1"))
    handled = await _handled_while_a1_waits_for(bus, IN_PAIRS, "c1", 4)
    assert handled.index("c1") < handled.index("a1") < handled.index("a2")


async def test_a_lanes_events_of_a_later_batch_are_put_back_behind_its_retried_one(bus: EventBus) -> None:
    await _publish_for(bus, ("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1"))
    handled: list[tuple[str, int]] = []
    c1_handled = asyncio.Event()
    done = asyncio.Event()

    async def handle(event: Event[conv.ConversationReopened]) -> None:
        conversation_id = event.payload.conversation_id
        if conversation_id == "a1" and event.deliveries == 1:
            async with asyncio.timeout(10):
                await c1_handled.wait()  # a2 is in hand by now, waiting for a1
            raise RuntimeError("store unavailable")
        handled.append((conversation_id, event.deliveries))
        if conversation_id == "c1":
            c1_handled.set()
        if len(handled) == 4:
            done.set()

    async with bus.consume(IN_PAIRS, handle):
        async with asyncio.timeout(10):
            await done.wait()
    # a2 never overtook a1: put back when a1 was, then handled after it.
    assert [entry for entry in handled if entry[0].startswith("a")] == [("a1", 2), ("a2", 2)]
    await eventually(lambda: bus.settled(IN_PAIRS), what="every event acked")


async def test_a_postponed_event_waits_with_its_lane_and_is_never_dead_lettered(bus: EventBus) -> None:
    await _publish_for(bus, ("a", "a1"), ("a", "a2"), ("b", "b1"))
    handled: list[tuple[str, int]] = []
    done = asyncio.Event()
    dead = Recorder()

    # A failure would be retried after 30 s: the postponement's own delay is what brings a1 back.
    postponing = dataclasses.replace(BY_CUSTOMER, durable="test-postponing", retry_delays_seconds=(30.0,))

    async def handle(event: Event[conv.ConversationReopened]) -> None:
        conversation_id = event.payload.conversation_id
        if conversation_id == "a1" and event.deliveries < postponing.max_deliver:
            raise Postponed(0.05, "waiting for an earlier event")
        handled.append((conversation_id, event.deliveries))
        if len(handled) == 3:
            done.set()

    async with bus.consume(DEAD, dead.on_dead), bus.consume(postponing, handle):
        async with asyncio.timeout(10):
            await done.wait()
        await eventually(lambda: bus.settled(postponing), what="every event acked")
        await eventually(lambda: bus.settled(DEAD), what="dead letters, if any, handled")
    assert handled[0] == ("b1", 1)  # the other lane did not wait
    assert handled[1:] == [("a1", postponing.max_deliver), ("a2", postponing.max_deliver)]
    assert dead.dead == []


async def test_live_only_events_reach_watchers_and_are_never_stored(bus: EventBus) -> None:
    seen: list[str] = []
    arrived = asyncio.Event()

    async def on_event(envelope: envelope_pb2.EventEnvelope) -> None:
        seen.append(envelope.event_id)
        arrived.set()

    updated = conv.MessageUpdated(message=conversation_pb2.Message(message_id="m1", conversation_id="c1"))
    async with bus.watch(["conv.message_updated"], on_event):
        await bus.publish_live([Outgoing(updated, "language:m1:de")])
        async with asyncio.timeout(10):
            await arrived.wait()
    assert seen == ["language:m1:de"]
    stream = stream_for_subject("conv.message_updated").name
    info = await bus._js.stream_info(stream, subjects_filter="conv.message_updated")
    assert not info.state.subjects  # nothing of it in the stream


async def test_a_consumer_made_with_other_settings_takes_the_specs_at_start(bus: EventBus) -> None:
    async def ignore(event: Event[conv.ConversationReopened]) -> None: ...

    older = dataclasses.replace(OPENED, ack_wait_seconds=30.0)
    async with bus.consume(older, ignore):
        pass
    async with bus.consume(OPENED, ignore):
        info = await bus._js.consumer_info(OPENED.stream_name(), OPENED.durable)
    # Short: what a killed process had fetched comes back within seconds, not half a minute.
    assert info.config.ack_wait == OPENED.ack_wait_seconds == 5.0


QUICK = ConsumerSpec(
    durable="test-quick",
    subjects=("conv.reopened",),
    event_type=conv.ConversationReopened,
    ack_wait_seconds=1.0,
    fetch_timeout_seconds=0.3,
)


async def test_a_pull_subscription_that_stopped_receiving_is_noticed_and_made_again(bus: EventBus) -> None:
    """The state a consumer was once found in after a broker restart: its fetches answered into an inbox
    the server no longer routes, each coming back empty. Made here by withdrawing the subscription on the
    server only (a raw UNSUB), so the client's side still waits on it."""
    recorder = Recorder()
    async with bus.consume(QUICK, recorder.on_opened):
        await bus.publish(opened("before"), event_id="before")
        await recorder.until(lambda: len(recorder.events) == 1)
        nc = bus._nc
        [sid] = [sid for sid, sub in nc._subs.items() if isinstance(getattr(sub._cb, "__self__", None), BatchPuller)]
        await nc._send_command(f"UNSUB {sid}\r\n".encode())
        await nc.flush()
        await bus.publish(opened("after"), event_id="after")
        await recorder.until(lambda: len(recorder.events) == 2, timeout=30)
    assert [e.payload.conversation_id for e in recorder.events] == ["before", "after"]


def inbound_from(phone: str, message_id: str) -> Outgoing:
    item = channel_events.InboundMessage(
        message_id=message_id,
        channel_name="sms",
        sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=phone),
        text="hello",
    )
    return Outgoing(item, f"inbound:{message_id}")


async def test_a_publish_expecting_the_subjects_last_event_is_refused_once_another_came_first(bus: EventBus) -> None:
    first, second, third = (inbound_from("+14155550101", m) for m in ("m1", "m2", "m3"))
    subject = subject_for(first.event)
    assert subject.startswith("inbound.sms.") and "+1415" not in subject  # the sender, as a digest
    assert await bus.last_on_subject(subject) is None

    await bus.publish_all([dataclasses.replace(first, expected_last_subject_sequence=0)])
    last = await bus.last_on_subject(subject)
    assert last is not None and last.envelope.event_id == "inbound:m1"
    # Two writers read m1 as the last; the first stores m2, the second is told to read again.
    await bus.publish_all([dataclasses.replace(second, expected_last_subject_sequence=last.sequence)])
    with pytest.raises(SubjectMoved):
        await bus.publish_all([dataclasses.replace(third, expected_last_subject_sequence=last.sequence)])
    moved = await bus.last_on_subject(subject)
    assert moved is not None and moved.envelope.event_id == "inbound:m2"
    await bus.publish_all([dataclasses.replace(third, expected_last_subject_sequence=moved.sequence)])
    # Another sender's subject is its own.
    other = inbound_from("+14155550102", "n1")
    assert subject_for(other.event) != subject
    await bus.publish_all([dataclasses.replace(other, expected_last_subject_sequence=0)])
    latest = await bus.last_on_subject(subject)
    assert latest is not None and latest.envelope.event_id == "inbound:m3"
