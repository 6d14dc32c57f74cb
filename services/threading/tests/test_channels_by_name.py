"""Threading knows channels by name, an added one (`telegram`) like the built-in ones: its conversations,
its customers' channel accounts (scoped by channel), replies and events; and a store written when channels
were the v1 enum's numbers reads back by name (SQLite's migration 11, MongoDB's `channels-by-name`)."""

from __future__ import annotations

from pathlib import Path

from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox_devstack.events import stored_events
from inbox_devstack.migrations import written_by
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.plugin import StoreBackend
from inbox_events.channels import channel_fields, channel_of
from inbox_runtime.mongo import close_database, connect_database
from inbox_threading.changes import ConversationQuery
from inbox_threading.domain import ContactPoint
from inbox_threading.protos import contact_from_proto, contact_to_proto, inbound_from_event
from inbox_threading.store import ConversationStore
from inbox_threading.store.mongo import MongoConversationStore
from inbox_threading.store.mongo.indexes import CONVERSATIONS, MESSAGES, OPT_OUTS, PROVIDER_KEYS
from inbox_threading.store.sqlite import SqliteConversationStore
from inbox_threading.store.sqlite.schema import MIGRATIONS

from .conftest import World

ACCOUNT = message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT
PHONE = message_pb2.CONTACT_POINT_KIND_PHONE


def from_telegram(message_id: str, chat_id: str, channel: str = "telegram") -> channel_events.InboundMessage:
    event = channel_events.InboundMessage(
        message_id=message_id,
        **channel_fields(channel),
        inbox_id="bot",
        provider_message_id=message_id,
        sender=message_pb2.ContactPoint(kind=ACCOUNT, value=chat_id, channel=channel),
        sender_name="Grace",
        text="Where is my parcel?",
    )
    event.sent_at.FromMicroseconds(1)
    event.received_at.FromMicroseconds(2)
    return event


def test_a_channel_account_is_kept_scoped_by_its_channel() -> None:
    telegram = message_pb2.ContactPoint(kind=ACCOUNT, value="5551234", channel="telegram")
    assert contact_from_proto(telegram) == ContactPoint(ACCOUNT, "telegram:5551234")
    assert contact_to_proto(contact_from_proto(telegram)) == telegram
    phone = message_pb2.ContactPoint(kind=PHONE, value="+14155550100")
    assert contact_to_proto(contact_from_proto(phone)) == phone


async def test_an_added_channel_opens_conversations_and_takes_replies_by_name(
    world: World, nats_server: NatsServer
) -> None:
    first = await world.at(10).record_inbound(inbound_from_event(from_telegram("t1", "5551234")))
    conversation = first.conversation
    assert first.opened and conversation.channel == "telegram"
    # The same chat id on another added channel is another customer.
    other = await world.at(11).record_inbound(inbound_from_event(from_telegram("w1", "5551234", "whatsapp")))
    assert other.conversation.customer_id != conversation.customer_id
    listed, _ = await world.actions.list_conversations(ConversationQuery(channels=("telegram",)))
    assert [c.conversation_id for c in listed] == [conversation.conversation_id]

    await world.at(20).send_reply(conversation.conversation_id, "ada", "It left today.", "r1")
    [outbound] = await stored_events(nats_server.url, "outbound.telegram", channel_events.OutboundMessage)
    assert (channel_of(outbound), outbound.channel) == ("telegram", message_pb2.CHANNEL_UNSPECIFIED)
    assert outbound.recipient == message_pb2.ContactPoint(kind=ACCOUNT, value="5551234", channel="telegram")
    opened = await stored_events(nats_server.url, "conv.message_added", conversation_events.MessageAdded)
    assert [channel_of(e.message) for e in opened][:2] == ["telegram", "whatsapp"]
    assert channel_of(opened[0].opened) == "telegram"


async def test_a_store_written_with_enum_numbers_reads_back_by_name(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    store: ConversationStore
    if store_backend.mongo is None:
        path = tmp_path / "older.sqlite3"
        older = written_by(path, MIGRATIONS[:10])
        older.execute("INSERT INTO customers (customer_id, created_at_us) VALUES ('c1', 1)")
        older.execute(
            "INSERT INTO conversations (conversation_id, customer_id, status, channel, inbox_id, opened_at_us, "
            "last_activity_at_us) VALUES ('conv-1', 'c1', 1, 3, 'main', 1, 1)"
        )
        older.execute(
            "INSERT INTO messages (message_id, conversation_id, customer_id, direction, channel, inbox_id, "
            "contact_kind, contact_value, text, sent_at_us, received_at_us, sequence, provider_message_id, "
            "provider_key) VALUES ('m1', 'conv-1', 'c1', 1, 3, 'main', 2, '+1555', 'hi', 1, 1, 1, 'SM1', '3:SM1')"
        )
        older.execute("INSERT INTO opt_outs (channel, kind, value) VALUES (3, 2, '+1555')")
        older.commit()
        older.close()
        store = await SqliteConversationStore.open(path)
    else:
        database = connect_database(store_backend.mongo)
        await database[CONVERSATIONS].insert_one({"_id": "conv-1", "channel": 3})
        await database[MESSAGES].insert_one({"_id": "m1", "channel": 3})
        await database[PROVIDER_KEYS].insert_one({"_id": "3:SM1", "message_id": "m1", "customer_id": "c1"})
        await database[OPT_OUTS].insert_one({"_id": "3:2:+1555", "channel": 3, "kind": 2, "value": "+1555"})
        await close_database(database)
        store = await MongoConversationStore.open(store_backend.mongo)
        database = connect_database(store_backend.mongo)
        try:
            assert (await database[CONVERSATIONS].find_one({"_id": "conv-1"}) or {}).get("channel") == "sms"
            assert (await database[MESSAGES].find_one({"_id": "m1"}) or {}).get("channel") == "sms"
        finally:
            await close_database(database)
    try:
        # A provider's retry of a message stored before the upgrade is still recognised.
        assert await store.message_id_for("sms:SM1") == "m1"
        assert await store.is_opted_out("sms", ContactPoint(PHONE, "+1555"))
        if store_backend.mongo is None:
            conversation = await store.get_conversation("conv-1")
            assert conversation is not None and conversation.channel == "sms"
    finally:
        await store.close()
