"""inbox-web's pure rules: which event a page hears of, and whose pages."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events.codec import encode
from inbox_web.domain import (
    VIEWS,
    CannedResponse,
    InvalidInput,
    Notice,
    filled,
    first_name_of,
    list_view,
    may_use_canned,
    may_view,
    notice_of,
    notified_agents,
    reply_channel,
    status_request,
    tags_in,
    validate_canned,
)


def envelope(event: Message):  # type: ignore[no-untyped-def]
    return encode(event, event_id="e1")


def test_conversation_events_become_notices_without_their_content() -> None:
    added = conversation_events.MessageAdded(
        message=conversation_pb2.Message(message_id="m1", conversation_id="c1", text="my card number is 4111")
    )
    assert notice_of(envelope(added)) == Notice("c1", "message", None)
    assigned = conversation_events.AssigneeChanged(conversation_id="c1", agent_id="ada")
    assert notice_of(envelope(assigned)) == Notice("c1", "assignment", "ada")
    opened = conversation_events.ConversationOpened(conversation_id="c2", text="hello")
    assert notice_of(envelope(opened)) == Notice("c2", "opened", "")
    assert notice_of(envelope(routing_events.ConversationQueued(conversation_id="c1"))) is None
    assert notice_of(envelope(conversation_events.MessageAdded())) is None  # no conversation: nothing to tell


def test_the_agent_who_has_it_the_one_who_had_it_and_its_team_are_told() -> None:
    assert notified_agents("ada", Notice("c1", "message", None)) == {"ada"}
    assert notified_agents("ada", Notice("c1", "assignment", "bob")) == {"ada", "bob"}
    assert notified_agents("", Notice("c1", "assignment", "")) == frozenset()
    connected = {"cy": ("tier1",), "di": ("tier2",), "ada": ("tier1",)}
    assert notified_agents("", Notice("c1", "opened", ""), "tier1", connected) == {"cy", "ada"}


def test_an_agent_sees_their_own_what_is_shared_with_them_and_their_teams() -> None:

    assert may_view("ada", (), "ada", "")
    assert may_view("ada", ("tier1",), "", "tier1")
    assert may_view("ada", (), "bob", "tier2", ("ada",))
    assert not may_view("ada", ("tier1",), "bob", "tier2")
    assert not may_view("ada", ("tier1",), "", "")  # no team: the assignee only
    assert not may_view("", ("tier1",), "", "tier1")


def test_a_status_chosen_on_the_page_and_how_long_a_snooze_lasts() -> None:

    assert status_request("resolved", "", 1000.0) == (conversation_pb2.CONVERSATION_STATUS_RESOLVED, 0)
    assert status_request("snoozed", "1.5", 1000.0) == (conversation_pb2.CONVERSATION_STATUS_SNOOZED, 6400)
    for status, hours, complaint in (
        ("gone", "", "choose"),
        ("snoozed", "soon", "how many"),
        ("snoozed", "0", "between"),
    ):
        with pytest.raises(InvalidInput, match=complaint):
            status_request(status, hours, 1000.0)


def test_the_list_s_views_default_to_what_is_open() -> None:

    assert list_view("pending") == "pending" and list_view("") == "open" and list_view("<script>") == "open"
    assert VIEWS["all"] == ()


def test_a_reply_goes_where_the_agent_picks_else_where_the_customer_last_wrote() -> None:

    assert reply_channel("email") == 2 and reply_channel("") == 0 and reply_channel("fax") == 0


def test_canned_responses_are_checked_and_filled_for_the_customer() -> None:

    assert validate_canned(" Refund ", " Hi {first_name}, {agent_name} here. ", "", ()) == (
        "Refund",
        "Hi {first_name}, {agent_name} here.",
    )
    for title, text, team, complaint in (
        ("", "x", "", "title"),
        ("t", "", "", "text"),
        ("t", "Hi {surname}", "", "unknown placeholder"),
        ("t", "x", "tier2", "one of your teams"),
    ):
        with pytest.raises(InvalidInput, match=complaint):
            validate_canned(title, text, team, ("tier1",))
    assert first_name_of("Grace Hopper") == "Grace"
    assert first_name_of("+14155550100") == first_name_of("Visitor a1b2c3") == first_name_of("g@example.org") == ""
    assert filled("Hi {first_name}, {agent_name} here. {odd}", "", "ada") == "Hi there, ada here. {odd}"


def test_a_canned_response_is_usable_by_everyone_or_by_its_team_only() -> None:
    shared = CannedResponse("r1", "", "Hello", "Hi", "ada")
    billing = CannedResponse("r2", "billing", "Refund", "Refunded", "ada")
    assert may_use_canned(shared, ())
    assert may_use_canned(billing, ("support", "billing"))
    assert not may_use_canned(billing, ("support",))


def test_tags_are_separated_by_spaces_or_commas() -> None:
    assert tags_in("damaged, refund  vip,") == ["damaged", "refund", "vip"]
    assert tags_in(" , ") == []
