"""The feed's cursor and what it reads off events, pure."""

from __future__ import annotations

import pytest
from google.protobuf.any_pb2 import Any
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events import BadCursor, FeedCursor, conversation_of, payload_of

STREAMS = ["CONVERSATIONS", "ROUTING"]


def test_a_cursor_comes_back_as_it_went_out_and_moves_one_stream_at_a_time() -> None:
    cursor = FeedCursor((("CONVERSATIONS", 12), ("ROUTING", 3))).after("ROUTING", 4)
    assert FeedCursor.decode(cursor.encode(), STREAMS) == FeedCursor((("CONVERSATIONS", 12), ("ROUTING", 4)))


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "f1.!!!", "f2.Q09OVkVSU0FUSU9OUz0x", FeedCursor((("CONVERSATIONS", 1),)).encode()],
)
def test_a_cursor_this_feed_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(BadCursor):
        FeedCursor.decode(token, STREAMS)


def test_each_event_names_its_conversation_where_it_has_one() -> None:
    added = conversation_events.MessageAdded(message=conversation_pb2.Message(conversation_id="c1"))
    assert conversation_of(added) == "c1"
    assert conversation_of(routing_events.ConversationAssigned(conversation_id="c2")) == "c2"
    assert conversation_of(channel_events.DeliveryStatusChanged(conversation_id="c3")) == "c3"
    assert conversation_of(routing_events.AgentPresenceChanged(agent_id="ada")) == ""
    assert conversation_of(None) == ""


def test_the_payload_comes_out_as_its_own_type_or_not_at_all() -> None:
    envelope = envelope_pb2.EventEnvelope()
    envelope.payload.Pack(routing_events.ConversationAssigned(conversation_id="c2"))
    assert payload_of(envelope) == routing_events.ConversationAssigned(conversation_id="c2")
    unknown = envelope_pb2.EventEnvelope(payload=Any(type_url="type.googleapis.com/acme.v1.Unknown"))
    assert payload_of(unknown) is None
