"""Erasing a customer from the streams: which events are theirs (pure), and the deletion against a real
nats-server, as the threading user with its real permissions, down to the bytes in the store folder."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.message import Message
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conv
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox.translation.v1 import events_pb2 as translation_events
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.waiting import eventually
from inbox_events import ConsumerSpec, Event, EventBus
from inbox_events.codec import encode
from inbox_events.erasure import NOTICE_WAIT_TRIES, ErasureScope, is_about, notice_wait_seconds
from inbox_events.subjects import subject_matches

ERASED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EMAIL = message_pb2.CONTACT_POINT_KIND_EMAIL


def erased_notice() -> conv.CustomerErased:
    notice = conv.CustomerErased(
        customer_id="cust-grace",
        contact_points=[message_pb2.ContactPoint(kind=EMAIL, value="grace@example.com")],
        conversation_ids=["conv-grace-1", "conv-grace-2"],
    )
    notice.erased_at.FromDatetime(ERASED_AT)
    return notice


SCOPE = ErasureScope.of(erased_notice())


def envelope(event: Message, at: datetime = ERASED_AT - timedelta(days=1)) -> envelope_pb2.EventEnvelope:
    return encode(event, event_id="e", occurred_at=at)


def inbound(sender: str, text: str = "hello") -> channel_events.InboundMessage:
    return channel_events.InboundMessage(
        message_id="m-in", channel=3, sender=message_pb2.ContactPoint(kind=EMAIL, value=sender), text=text
    )


def added(conversation_id: str, customer_id: str, text: str = "hello") -> conv.MessageAdded:
    message = conversation_pb2.Message(message_id="m1", conversation_id=conversation_id, customer_id=customer_id)
    message.text = text
    return conv.MessageAdded(message=message)


def test_an_event_naming_the_customer_or_one_of_their_conversations_is_theirs() -> None:
    assert is_about(envelope(added("conv-grace-2", "cust-grace")), SCOPE)
    assert is_about(envelope(added("conv-grace-1", "")), SCOPE)
    assert is_about(envelope(translation_events.MessageTranslated(conversation_id="conv-grace-1", text="x")), SCOPE)
    assert is_about(envelope(routing_events.ConversationQueued(customer_id="cust-grace")), SCOPE)
    # Nested: a reply travels inside ReplyTranslated.
    reply = translation_events.ReplyTranslated(outbound=channel_events.OutboundMessage(conversation_id="conv-grace-1"))
    assert is_about(envelope(reply), SCOPE)
    # Even an event published after the erasure (a reaction to it) names them by id.
    assert is_about(envelope(added("conv-grace-1", ""), at=ERASED_AT + timedelta(minutes=1)), SCOPE)


def test_another_customers_events_are_not_theirs_even_when_their_text_quotes_an_id() -> None:
    assert not is_about(envelope(added("conv-ada", "cust-ada")), SCOPE)
    assert not is_about(envelope(added("conv-ada", "cust-ada", text="ask grace@example.com")), SCOPE)
    assert not is_about(envelope(routing_events.AgentPresenceChanged(agent_id="agent-1")), SCOPE)


def test_a_contact_point_counts_up_to_the_erasure_in_any_case() -> None:
    assert is_about(envelope(inbound("Grace@Example.COM")), SCOPE)
    opt_out = channel_events.OptOutChanged(contact=message_pb2.ContactPoint(kind=EMAIL, value="grace@example.com"))
    assert is_about(envelope(opt_out), SCOPE)
    # The same address used after the erasure is someone new's.
    assert not is_about(envelope(inbound("grace@example.com"), at=ERASED_AT + timedelta(seconds=1)), SCOPE)
    # The same value as another kind of contact point is someone else's.
    phone = channel_events.InboundMessage(
        sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value="grace@example.com")
    )
    assert not is_about(envelope(phone), SCOPE)


def test_a_dead_letter_is_theirs_when_the_event_inside_is() -> None:
    def dead(inner: Message) -> envelope_pb2.DeadLetter:
        return envelope_pb2.DeadLetter(consumer="x", original_data=envelope(inner).SerializeToString())

    assert is_about(envelope(dead(inbound("grace@example.com"))), SCOPE)
    assert not is_about(envelope(dead(inbound("ada@example.com"))), SCOPE)
    assert not is_about(envelope(envelope_pb2.DeadLetter(original_data=b"\xff not an envelope")), SCOPE)


def test_an_unknown_event_type_is_left_alone() -> None:
    unknown = envelope_pb2.EventEnvelope(event_id="e", type="inbox.future.v9.Thing")
    unknown.payload.type_url = "type.googleapis.com/inbox.future.v9.Thing"
    unknown.payload.value = b"\x0a\x0acust-grace"
    assert not is_about(unknown, SCOPE)


def test_the_notice_waits_longer_each_time_then_gives_up() -> None:
    waits = [notice_wait_seconds(n) for n in range(1, NOTICE_WAIT_TRIES)]
    assert waits[:3] == [2.0, 4.0, 8.0]
    assert all(w is not None for w in waits)
    assert waits == sorted(waits, key=lambda w: w or 0) and max(w or 0 for w in waits) == 300.0
    assert 12 * 3600 < sum(w or 0 for w in waits) < 24 * 3600
    assert notice_wait_seconds(NOTICE_WAIT_TRIES) is None


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("conv.customer_erased", "conv.customer_erased", True),
        ("conv.>", "conv.customer_erased", True),
        ("conv.*", "conv.customer_erased", True),
        (">", "conv.customer_erased", True),
        ("conv.>", "conv", False),
        ("conv.message_added", "conv.customer_erased", False),
        ("conv.*", "conv.a.b", False),
        ("conv.customer_erased.x", "conv.customer_erased", False),
    ],
)
def test_subject_matching(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


# --- against a real nats-server --------------------------------------------------------------------------


@pytest.fixture
async def admin(nats_server: NatsServer) -> AsyncIterator[EventBus]:
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        yield bus


def store_holds(folder: Path, marker: bytes) -> bool:
    return any(marker in path.read_bytes() for path in folder.rglob("*") if path.is_file())


async def test_erasing_deletes_the_customers_events_from_every_stream_and_their_bytes_from_disk(
    nats_server: NatsServer, admin: EventBus
) -> None:
    store = nats_server.data_dir / "jetstream"
    graces = [
        inbound("grace@example.com", "grace-secret-one"),
        added("conv-grace-1", "cust-grace", "grace-secret-two"),
        translation_events.MessageTranslated(conversation_id="conv-grace-2", text="grace-secret-three"),
    ]
    adas = [inbound("ada@example.com", "ada-words-one"), added("conv-ada", "cust-ada", "ada-words-two")]
    for index, event in enumerate([*graces, *adas]):
        await admin.publish(event, event_id=f"event-{index}")
    assert store_holds(store, b"grace-secret-") and store_holds(store, b"ada-words-")
    erased_now = dataclasses.replace(SCOPE, erased_at_ns=time.time_ns())

    async with EventBus.connect(nats_server.url_for("threading"), service="threading") as threading:
        erased = await threading.erase_events(lambda e: is_about(e, erased_now))

    assert erased == len(graces)
    assert not store_holds(store, b"grace-secret-")
    assert store_holds(store, b"ada-words-one") and store_holds(store, b"ada-words-two")
    for name, left in (("INBOUND", 1), ("CONVERSATIONS", 1), ("TRANSLATION", 0)):
        assert (await admin._js.stream_info(name)).state.messages == left


async def test_erasing_keeps_what_it_is_told_to(nats_server: NatsServer, admin: EventBus) -> None:
    await admin.publish(added("conv-grace-1", "cust-grace"), event_id="one")
    await admin.publish(added("conv-grace-1", "cust-grace"), event_id="two")
    last = (await admin._js.stream_info("CONVERSATIONS")).state.last_seq
    async with EventBus.connect(nats_server.url_for("threading"), service="threading") as threading:
        assert await threading.erase_events(lambda e: is_about(e, SCOPE), keep={("CONVERSATIONS", last)}) == 1
        # Erasing one that is already gone is nothing.
        await threading.erase_event("CONVERSATIONS", last - 1)
    assert (await admin._js.stream_info("CONVERSATIONS")).state.messages == 1


NOTICE = ConsumerSpec(durable="erasing", subjects=("conv.customer_erased",), event_type=conv.CustomerErased)
OTHER = ConsumerSpec(durable="other-on-erased", subjects=("conv.customer_erased",), event_type=conv.CustomerErased)
UNRELATED = ConsumerSpec(durable="other-on-reopened", subjects=("conv.reopened",), event_type=conv.ConversationReopened)


async def test_the_notice_is_needed_until_every_other_consumer_of_it_has_settled_it(admin: EventBus) -> None:
    handled: list[int] = []

    async def handle(event: Event[conv.CustomerErased]) -> None:
        handled.append(event.stream_sequence)

    async def ignore(event: Event[conv.ConversationReopened]) -> None:
        pass

    # Both consumers exist, neither is running: the notice waits for the one that takes it.
    async with admin.consume(OTHER, handle), admin.consume(UNRELATED, ignore):
        pass
    await admin.publish(erased_notice(), event_id="erased")
    sequence = (await admin._js.stream_info("CONVERSATIONS")).state.last_seq
    assert await admin.not_yet_handled_by(NOTICE, "conv.customer_erased", sequence) == ["other-on-erased"]

    async with admin.consume(OTHER, handle):

        async def settled() -> bool:
            return await admin.settled(OTHER)

        await eventually(settled, what="the other consumer settled the notice")
    assert handled == [sequence]
    assert await admin.not_yet_handled_by(NOTICE, "conv.customer_erased", sequence) == []
