"""inbox-web's pure rules: which event a page hears of, and whose pages."""

from __future__ import annotations

import json

import pytest
from google.protobuf.message import Message
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events.codec import encode
from inbox_events.customers import first_name_of
from inbox_web.domain import (
    LIST_LENGTH,
    VIEWS,
    CannedResponse,
    InvalidInput,
    ListFilter,
    LoginThrottle,
    Notice,
    WebSession,
    filled,
    floor_order,
    list_filter,
    list_view,
    load_summary,
    local_path,
    may_use_canned,
    may_view,
    mentions_in,
    merged_list,
    notice_of,
    notified_agents,
    opening_seen_late,
    pinned_summary,
    reply_channel,
    session_key,
    session_valid,
    status_request,
    summary_view,
    tags_in,
    typing_of,
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
    first = conversation_pb2.Message(message_id="m2", conversation_id="c2", text="hello")
    opened = conversation_events.MessageAdded(message=first, opened=conversation_events.ConversationOpened())
    assert notice_of(envelope(opened)) == Notice("c2", "opened", "", opened_in="")
    in_team = conversation_events.ConversationOpened(conversation_id="c2", team="tier1")
    opened_in_team = conversation_events.MessageAdded(message=first, opened=in_team)
    assert notice_of(envelope(opened_in_team)) == Notice("c2", "opened", "", opened_in="tier1")
    assert notice_of(envelope(conversation_events.MessageAdded())) is None  # no conversation: nothing to tell


def test_an_opening_that_comes_after_the_assignment_does_not_take_the_conversation_back() -> None:
    opening = Notice("c1", "opened", "", opened_in="tier1")
    assert opening_seen_late(opening, known=False) == opening  # first news of it: nobody has it yet
    late = opening_seen_late(opening, known=True)  # the live-only assignment came first
    assert late == Notice("c1", "opened", None)
    assert notified_agents("ada", late) == {"ada"}  # ada keeps it
    message = Notice("c1", "message", None)
    assert opening_seen_late(message, known=True) == message


def test_the_agent_who_has_it_the_one_who_had_it_and_its_team_are_told() -> None:
    assert notified_agents("ada", Notice("c1", "message", None)) == {"ada"}
    assert notified_agents("ada", Notice("c1", "assignment", "bob")) == {"ada", "bob"}
    assert notified_agents("", Notice("c1", "assignment", "")) == frozenset()
    connected = {"cy": ("tier1",), "di": ("tier2",), "ada": ("tier1",)}
    assert notified_agents("", Notice("c1", "opened", ""), "tier1", connected) == {"cy", "ada"}
    # Supervisors hear of every conversation, and alone of the floor (presence).
    sam = frozenset({"sam"})
    assert notified_agents("ada", Notice("c1", "message", None), supervisors=sam) == {"ada", "sam"}
    assert notified_agents("ada", Notice("", "presence", None), "tier1", connected, sam) == {"sam"}


def test_queue_and_floor_changes_become_notices_and_an_offer_tells_its_agent() -> None:
    queued = routing_events.ConversationQueued(conversation_id="c1", customer_id="cust-1")
    assert notice_of(envelope(queued)) == Notice("c1", "queued", None)
    offered = routing_events.ConversationOffered(conversation_id="c1", agent_id="bob")
    assert notice_of(envelope(offered)) == Notice("c1", "offered", None, also="bob")
    assert notified_agents("", Notice("c1", "offered", None, also="bob")) == {"bob"}
    breached = routing_events.SlaBreached(conversation_id="c1", kind="first_response")
    assert notice_of(envelope(breached)) == Notice("c1", "sla", None)
    presence = routing_events.AgentPresenceChanged(agent_id="ada", presence="away")
    assert notice_of(envelope(presence)) == Notice("", "presence", None)


def test_an_activity_may_change_who_shares_a_conversation_and_those_who_share_it_are_told() -> None:
    joined = conversation_events.MessageAdded(
        message=conversation_pb2.Message(conversation_id="c1", kind=message_pb2.MESSAGE_KIND_ACTIVITY)
    )
    assert notice_of(envelope(joined)) == Notice("c1", "message", None, shares_changed=True)
    note = conversation_events.MessageAdded(
        message=conversation_pb2.Message(conversation_id="c1", kind=message_pb2.MESSAGE_KIND_NOTE)
    )
    assert notice_of(envelope(note)) == Notice("c1", "message", None)
    assert notified_agents("ada", Notice("c1", "message", None), participants=("bob",)) == {"ada", "bob"}


def test_a_note_mentions_known_agents_once_each_whatever_the_case() -> None:
    agents = ["ada", "bob", "cy.lee"]
    text = "@Bob and @cy.lee, see this. Also @bob again, @nobody, mail@bob.example and @ada."
    assert mentions_in(text, agents, author="ada") == ["bob", "cy.lee"]
    assert mentions_in("@cy.lee.", agents, author="ada") == ["cy.lee"]
    assert mentions_in("no mentions here", agents, author="ada") == []
    assert mentions_in(text, agents, author="ada", sharing=("bob",)) == ["cy.lee"]  # bob has it already


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

    assert reply_channel("email") == "email" and reply_channel("telegram") == "telegram"
    assert reply_channel("") == "" and reply_channel("<b>") == ""


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


def test_a_list_filter_takes_one_channel_tag_and_language_and_says_what_is_wrong() -> None:
    run = ("chat", "email", "sms", "voice", "api", "telegram")
    chosen = list_filter({"channel": "Email", "tag": " VIP ", "language": "ES"}, run)
    assert chosen == ListFilter("email", "vip", "es") and chosen.channels() == ["email"]
    assert chosen.query() == "channel=email&tag=vip&language=es"
    assert list_filter({"channel": "telegram"}, run).channels() == ["telegram"]  # one this deployment added
    assert list_filter({}, run) == ListFilter() and ListFilter().query() == "" and ListFilter().channels() == []
    for bad, says in (
        ({"channel": "fax"}, "no channel"),
        ({"tag": "a b"}, "one tag"),
        ({"language": "english"}, "two- or three-letter"),
    ):
        with pytest.raises(InvalidInput, match=says):
            list_filter(bad, run)


def conversation(cid: str, active: int, assignee: str = "", waiting: int = 0) -> conversation_pb2.Conversation:
    c = conversation_pb2.Conversation(conversation_id=cid, assignee_agent_id=assignee)
    c.last_activity_at.FromSeconds(active)
    if waiting:
        c.waiting_since.FromSeconds(waiting)
    return c


def test_lists_from_several_queries_merge_once_each_newest_first() -> None:
    mine = [conversation("c1", 10, "ada"), conversation("c2", 30, "ada")]
    team = [conversation("c2", 30, "ada"), conversation("c3", 20), conversation("c4", 5)]
    assert [c.conversation_id for c in merged_list([mine, team])] == ["c2", "c3", "c1", "c4"]
    assert [c.conversation_id for c in merged_list([team], unassigned_only=True)] == ["c3", "c4"]
    many = [conversation(f"c{i}", i) for i in range(LIST_LENGTH + 5)]
    assert len(merged_list([many])) == LIST_LENGTH


def test_the_supervisor_sees_the_queue_first_then_who_waits_longest() -> None:
    floor = [
        conversation("answered", 50, "ada"),
        conversation("waits-short", 40, "bob", waiting=35),
        conversation("queued-late", 30, waiting=30),
        conversation("waits-long", 20, "ada", waiting=10),
        conversation("queued-early", 15, waiting=12),
    ]
    order = [c.conversation_id for c in floor_order(floor)]
    assert order == ["queued-early", "queued-late", "waits-long", "waits-short", "answered"]


def test_an_agent_s_load_shows_the_channels_they_work_or_are_set_up_for() -> None:
    in_force = {"chat": 3, "email": 10, "sms": 5, "voice": 1}
    assert load_summary({"chat": 2}, in_force, {}) == [("chat", 2, 3)]
    assert load_summary({"email": 1}, in_force, {"chat": 4}) == [("chat", 0, 3), ("email", 1, 10)]
    assert load_summary({}, in_force, {}) == []


def test_a_form_sends_the_agent_back_only_to_a_page_of_this_site() -> None:
    assert local_path("/supervisor") == "/supervisor"
    for foreign in ("//evil.example", "https://evil.example", "/\\evil.example", ""):
        assert local_path(foreign) == "/"


def test_a_typing_signal_names_a_visitor_and_whether_they_type() -> None:
    assert typing_of(b'{"visitor_id": "v-1", "active": true}') == ("v-1", True)
    assert typing_of(b'{"visitor_id": "v-1", "active": false}') == ("v-1", False)
    for bad in (b"not json", b"[]", b'{"visitor_id": "", "active": true}', b'{"visitor_id": "v", "active": "yes"}'):
        assert typing_of(bad) is None


MINUTE_US = 60 * 1_000_000


def test_five_failures_lock_an_account_for_what_is_left_of_fifteen_minutes() -> None:
    throttle = LoginThrottle()
    for minute in range(5):
        assert throttle.wait_seconds("Ada", "10.0.0.1", minute * MINUTE_US) == 0
        throttle.failed("ada", f"10.0.0.{minute}", minute * MINUTE_US)
    # Locked from any address, until the first failure is fifteen minutes old.
    assert throttle.wait_seconds("ada", "192.0.2.9", 5 * MINUTE_US) == 10 * 60
    assert throttle.wait_seconds("ada", "192.0.2.9", 15 * MINUTE_US) == 0
    assert throttle.wait_seconds("bob", "10.0.0.1", 5 * MINUTE_US) == 0  # other accounts are not


def test_one_address_trying_many_accounts_is_throttled_too() -> None:
    throttle = LoginThrottle(per_address=20)
    for n in range(20):
        throttle.failed(f"user-{n}", "203.0.113.7", n)
    assert throttle.wait_seconds("someone-else", "203.0.113.7", 20) > 0
    assert throttle.wait_seconds("someone-else", "203.0.113.8", 20) == 0


def test_a_success_clears_the_accounts_failures_and_tracking_is_bounded() -> None:
    throttle = LoginThrottle(tracked=4)
    for n in range(4):
        throttle.failed("ada", "10.0.0.1", n)
    throttle.succeeded("ada")
    throttle.failed("ada", "10.0.0.1", 5)
    assert throttle.wait_seconds("ada", "10.0.0.2", 6) == 0
    for n in range(10):
        throttle.failed(f"user-{n}", f"10.1.0.{n}", 10 + n)
    assert len(throttle._failures) == 4


def test_a_session_holds_for_its_agent_until_it_expires() -> None:
    session = WebSession(session_key("token"), "ada", "ada", "agent", 100)
    assert session.key == session_key("token") != "token"
    assert session_valid(session, "ada", 99)
    assert not session_valid(session, "ada", 100) and not session_valid(session, "bob", 1)
    assert not session_valid(None, "ada", 1)


def test_bidi_controls_from_customers_are_shown_not_obeyed() -> None:
    from inbox_web.domain import shown_inert
    from markupsafe import Markup

    # "refund denied" with an override that would make it read backwards, and an isolate left open.
    tricky = "invoice \u202edeined dnufer\u202c ok \u2067x"
    assert shown_inert(tricky) == "invoice [U+202E]deined dnufer[U+202C] ok [U+2067]x"
    assert shown_inert("שלום \u200f world") == "שלום \u200f world"  # marks stay: ordinary right-to-left text
    assert shown_inert(3) == 3
    already_safe = Markup("<b>\u202e</b>")
    assert shown_inert(already_safe) is already_safe


def test_the_latest_summary_note_is_pinned_with_checked_links() -> None:
    points = [
        {"part": "wants", "text": "My kettle leaks.", "message_ids": ["m1"]},
        {"part": "open_questions", "text": "Refund?", "message_ids": ["m3", 'bad id"><script>']},
    ]
    older = conversation_pb2.Message(message_id="n1", kind=message_pb2.MESSAGE_KIND_NOTE, metadata={"summary": "x"})
    latest = conversation_pb2.Message(
        message_id="n2",
        kind=message_pb2.MESSAGE_KIND_NOTE,
        metadata={"summary": "transferred to bob", "who": "Grace", "points": json.dumps(points)},
    )
    note = conversation_pb2.Message(message_id="n3", kind=message_pb2.MESSAGE_KIND_NOTE, text="just a note")
    pinned = pinned_summary([older, latest, note])
    assert pinned is not None and (pinned["note_id"], pinned["reason"], pinned["who"]) == (
        "n2",
        "transferred to bob",
        "Grace",
    )
    wants, done, questions = pinned["parts"]
    assert wants["points"] == [{"text": "My kettle leaks.", "message_ids": ["m1"]}]
    assert done["points"] == [] and done["empty"] == "Nothing yet."
    assert questions["points"] == [{"text": "Refund?", "message_ids": ["m3"]}]  # an id that is not one is dropped
    garbled = conversation_pb2.Message(kind=message_pb2.MESSAGE_KIND_NOTE, metadata={"summary": "x", "points": "{"})
    assert all(not part["points"] for part in pinned_summary([garbled])["parts"])  # type: ignore[index]
    assert pinned_summary([note]) is None


def test_a_summary_asked_for_now_reads_like_a_pinned_one() -> None:
    summary = conversation_pb2.ConversationSummary(
        who="Grace", wants=[conversation_pb2.SummaryPoint(text="A refund.", message_ids=["m1"])]
    )
    view = summary_view(summary)
    assert (view["reason"], view["parts"][0]["points"]) == (
        "as it stands now",
        [{"text": "A refund.", "message_ids": ["m1"]}],
    )
