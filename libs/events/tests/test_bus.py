"""The bus against a real nats-server: delivery, dedupe, retries, dead letters, broker restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from inbox.conversations.v1 import events_pb2 as conv
from inbox.events.v1 import envelope_pb2
from inbox_devstack.nats_server import NatsServer
from inbox_events import ConsumerSpec, Event, EventBus, PermanentError

OPENED = ConsumerSpec(
    durable="test-on-opened",
    subjects=("conv.opened",),
    event_type=conv.ConversationOpened,
    max_deliver=3,
    retry_delays_seconds=(0.1,),
)
DEAD = ConsumerSpec(durable="test-on-dead", subjects=("deadletter.>",), event_type=envelope_pb2.DeadLetter)


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[EventBus]:
    async with EventBus.connect(nats_server.url, service="test") as connected:
        await connected.ensure_streams()
        yield connected


def opened(conversation_id: str) -> conv.ConversationOpened:
    return conv.ConversationOpened(conversation_id=conversation_id, customer_id="cust", channel=1)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event[conv.ConversationOpened]] = []
        self.dead: list[envelope_pb2.DeadLetter] = []
        self.changed = asyncio.Event()

    async def on_opened(self, event: Event[conv.ConversationOpened]) -> None:
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
    assert event.envelope.type == "inbox.conversations.v1.ConversationOpened"
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
        await asyncio.sleep(0.3)
    assert [e.payload.conversation_id for e in recorder.events] == ["c1", "c2"]


async def test_a_failing_handler_is_retried_then_dead_lettered(bus: EventBus) -> None:
    recorder = Recorder()
    attempts: list[int] = []

    async def always_fails(event: Event[conv.ConversationOpened]) -> None:
        attempts.append(event.deliveries)
        if event.payload.conversation_id == "poison":
            raise RuntimeError("store unavailable")
        await recorder.on_opened(event)

    async with bus.consume(OPENED, always_fails), bus.consume(DEAD, recorder.on_dead):
        await bus.publish(opened("poison"), event_id="p")
        await bus.publish(opened("fine"), event_id="f")
        await recorder.until(lambda: len(recorder.dead) == 1 and len(recorder.events) == 1)
    assert attempts.count(1) == 2 and max(attempts) == 3
    dead = recorder.dead[0]
    assert dead.consumer == "test-on-opened"
    assert dead.deliveries == 3
    assert "store unavailable" in dead.reason
    assert dead.original_subject == "conv.opened"


async def test_a_permanent_error_or_malformed_payload_is_dead_lettered_at_once(
    bus: EventBus, nats_server: NatsServer
) -> None:
    recorder = Recorder()

    async def rejects(event: Event[conv.ConversationOpened]) -> None:
        raise PermanentError("conversation id is not ours")

    nc = await nats.connect(nats_server.url)
    await nc.jetstream().publish("conv.opened", b"\x00garbage", headers={"Nats-Msg-Id": "g"})
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
