"""ConversationService over a real gRPC server and a real nats-server: each RPC, and its errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import conversation_service_pb2 as pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as pb_grpc
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.status_codes import status_codes
from inbox_events import EventBus
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel
from inbox_runtime.grpc_server import grpc_server
from inbox_threading import grpc_api
from inbox_threading.actions import ThreadingActions
from inbox_threading.domain import ContactPoint, NewInboundMessage
from inbox_threading.store.sqlite import SqliteConversationStore

PHONE = message_pb2.CONTACT_POINT_KIND_PHONE


@pytest.fixture
async def api(
    nats_server: NatsServer, tmp_path: Path, nats_api_key: str
) -> AsyncIterator[tuple[pb_grpc.ConversationServiceAsyncStub, ThreadingActions]]:
    store = await SqliteConversationStore.open(tmp_path / "threading.sqlite3")
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        actions = ThreadingActions(store, bus)
        async with (
            grpc_server(
                host="127.0.0.1", port=0, keys=await bus.api_keys(), services=[grpc_api.registration(actions)]
            ) as server,
            authenticated_channel(f"127.0.0.1:{server.port}", nats_api_key) as channel,
        ):
            yield pb_grpc.ConversationServiceStub(channel), actions
    await store.close()


async def code_of(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code()


async def test_lifecycle_timeline_profile_search_export_and_erase(
    api: tuple[pb_grpc.ConversationServiceAsyncStub, ThreadingActions],
) -> None:
    stub, actions = api
    outcome = await actions.record_inbound(
        NewInboundMessage(
            "m1", "sms", "support", "SM1", ContactPoint(PHONE, "+14155550100"), "Grace", "Parcel lost", 1, 2
        )
    )
    conversation_id, customer_id = outcome.conversation.conversation_id, outcome.conversation.customer_id

    with acting_for(Agent("ada", supervisor=True)):
        tagged = await stub.UpdateTags(
            pb.UpdateTagsRequest(conversation_id=conversation_id, add=["VIP"], agent_id="ada")
        )
        assert list(tagged.conversation.tags) == ["vip"]
        note = await stub.AddNote(
            pb.AddNoteRequest(conversation_id=conversation_id, text="Refund approved", client_note_id="n1")
        )
        assert note.note.kind == message_pb2.MESSAGE_KIND_NOTE and note.note.agent_id == "ada"
        snoozed = await stub.SetStatus(
            pb.SetStatusRequest(
                conversation_id=conversation_id,
                status=conversation_pb2.CONVERSATION_STATUS_SNOOZED,
                snoozed_until={"seconds": 4_000_000_000},
            )
        )
        assert snoozed.conversation.snoozed_until.seconds == 4_000_000_000
        with_bob = await stub.AddParticipant(
            pb.AddParticipantRequest(conversation_id=conversation_id, participant_agent_id="bob")
        )
        assert list(with_bob.conversation.participant_agent_ids) == ["bob"]

    timeline = await stub.GetTimeline(pb.GetTimelineRequest(customer_id=customer_id, page_size=2))
    rest = await stub.GetTimeline(pb.GetTimelineRequest(customer_id=customer_id, page_token=timeline.next_page_token))
    kinds = [i.kind for i in [*timeline.items, *rest.items]]
    assert kinds[0] == message_pb2.MESSAGE_KIND_TEXT and message_pb2.MESSAGE_KIND_NOTE in kinds
    profile = await stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id=customer_id))
    assert profile.profile.display_name == "Grace" and list(profile.profile.channels_used) == [message_pb2.CHANNEL_SMS]

    hits = await stub.SearchMessages(pb.SearchMessagesRequest(query="refund", viewer=pb.Viewer(agent_id="bob")))
    assert [m.text for m in hits.messages] == ["Refund approved"]  # bob takes part in it
    none = await stub.SearchMessages(pb.SearchMessagesRequest(query="refund", viewer=pb.Viewer(agent_id="carol")))
    assert list(none.messages) == []

    with acting_for(Agent("dpo", supervisor=True)):
        exported = await stub.ExportCustomer(pb.ExportCustomerRequest(customer_id=customer_id))
    document = json.loads(exported.document)
    assert document["customer"]["contact_points"] == [{"kind": PHONE, "value": "+14155550100"}]
    assert {i["text"] for i in document["items"]} >= {"Parcel lost", "Refund approved"}
    # The audit names the agent the call was made for, and the integrator's key when it calls for nobody.
    assert [(a["actor"], a["action"]) for a in document["audit"]][-1] == ("dpo", "exported")
    erased = await stub.EraseCustomer(pb.EraseCustomerRequest(customer_id=customer_id, reason="request"))
    assert erased.conversations_erased == 1
    assert await code_of(stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id=customer_id))) == (
        grpc.StatusCode.NOT_FOUND
    )


async def test_bad_requests_get_clear_errors(
    api: tuple[pb_grpc.ConversationServiceAsyncStub, ThreadingActions],
) -> None:
    stub, _ = api
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(stub.GetConversation(pb.GetConversationRequest())) == invalid
    assert await code_of(stub.GetConversation(pb.GetConversationRequest(conversation_id="nope"))) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert await code_of(stub.ListConversations(pb.ListConversationsRequest(page_token="garbage"))) == invalid
    assert await code_of(stub.ListConversations(pb.ListConversationsRequest(page_size=-1))) == invalid
    with acting_for(Agent("a", supervisor=True)):
        assert await code_of(stub.SendReply(pb.SendReplyRequest(conversation_id="c", text=" "))) == invalid
    assert await code_of(stub.SearchMessages(pb.SearchMessagesRequest(query="  "))) == invalid
    assert await code_of(stub.EraseCustomer(pb.EraseCustomerRequest(customer_id="c"))) == invalid
    assert (
        await code_of(stub.MergeCustomers(pb.MergeCustomersRequest(customer_id="a", other_customer_id="a"))) == invalid
    )
    assert (
        await code_of(stub.DecideMergeSuggestion(pb.DecideMergeSuggestionRequest(suggestion_id="x")))
        == grpc.StatusCode.NOT_FOUND
    )


async def test_a_long_conversation_pages_whatever_page_size_is_asked(
    api: tuple[pb_grpc.ConversationServiceAsyncStub, ThreadingActions],
) -> None:
    stub, actions = api
    outcome = await actions.record_inbound(
        NewInboundMessage("m1", "sms", "support", "SM1", ContactPoint(PHONE, "+14155550199"), "Ada", "Hello", 1, 2)
    )
    conversation_id = outcome.conversation.conversation_id
    with acting_for(Agent("ada", supervisor=True)):
        for n in range(250):
            await stub.AddNote(pb.AddNoteRequest(conversation_id=conversation_id, text=f"n{n}", client_note_id=f"{n}"))
        seen: list[int] = []
        token, pages = "", 0
        while True:
            # More than the most a page holds (200): the reply is capped and says where to go on.
            page = await stub.ListMessages(
                pb.ListMessagesRequest(conversation_id=conversation_id, page_size=500, page_token=token)
            )
            seen += [m.sequence for m in page.messages]
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert pages == 2 and len(seen) == len(set(seen)) == 251 and seen == sorted(seen)
        # A page that ends exactly at the last item says it is the last.
        exact = await stub.ListMessages(pb.ListMessagesRequest(conversation_id=conversation_id, page_size=51))
        assert exact.next_page_token
        rest = await stub.ListMessages(
            pb.ListMessagesRequest(conversation_id=conversation_id, page_size=200, page_token=exact.next_page_token)
        )
        assert len(rest.messages) == 200 and rest.next_page_token == ""


async def test_every_call_naming_a_conversation_or_customer_that_does_not_exist_answers_not_found(
    api: tuple[pb_grpc.ConversationServiceAsyncStub, ThreadingActions],
) -> None:
    """One rule for every caller who sees everything (integrators, supervisors): an id that names nothing is
    NOT_FOUND, whether the call reads or changes (not OK and empty)."""
    stub, actions = api
    outcome = await actions.record_inbound(
        NewInboundMessage("m1", "sms", "support", "SM1", ContactPoint(PHONE, "+14155550123"), "Ada", "Hello", 1, 2)
    )
    known = outcome.conversation.customer_id
    contact = message_pb2.ContactPoint(kind=PHONE, value="+14155550123")
    # Made for a supervisor, who sees everything, as inbox-web makes them: not refused for want of rights.
    with acting_for(Agent("ada", supervisor=True)):
        codes = await codes_of(stub, known, contact)
    wrong = {name: code.name for name, code in codes.items() if code != grpc.StatusCode.NOT_FOUND}
    assert wrong == {}


async def codes_of(
    stub: pb_grpc.ConversationServiceAsyncStub, known: str, contact: message_pb2.ContactPoint
) -> dict[str, grpc.StatusCode]:
    calls = {
        "GetConversation": stub.GetConversation(pb.GetConversationRequest(conversation_id="nope")),
        "ListMessages": stub.ListMessages(pb.ListMessagesRequest(conversation_id="nope")),
        "SendReply": stub.SendReply(
            pb.SendReplyRequest(conversation_id="nope", agent_id="ada", text="Hi", client_reply_id="r1")
        ),
        "SetStatus": stub.SetStatus(
            pb.SetStatusRequest(
                conversation_id="nope", status=conversation_pb2.CONVERSATION_STATUS_RESOLVED, agent_id="ada"
            )
        ),
        "AddNote": stub.AddNote(
            pb.AddNoteRequest(conversation_id="nope", agent_id="ada", text="Hi", client_note_id="n1")
        ),
        "UpdateTags": stub.UpdateTags(pb.UpdateTagsRequest(conversation_id="nope", add=["vip"], agent_id="ada")),
        "AddParticipant": stub.AddParticipant(
            pb.AddParticipantRequest(conversation_id="nope", participant_agent_id="bob", agent_id="ada")
        ),
        "GetTimeline": stub.GetTimeline(pb.GetTimelineRequest(customer_id="nope")),
        "GetCustomerProfile": stub.GetCustomerProfile(pb.GetCustomerProfileRequest(customer_id="nope")),
        "UpdateCustomerAttributes": stub.UpdateCustomerAttributes(
            pb.UpdateCustomerAttributesRequest(customer_id="nope", attributes={"plan": "gold"}, agent_id="ada")
        ),
        "ListMergeSuggestions": stub.ListMergeSuggestions(pb.ListMergeSuggestionsRequest(customer_id="nope")),
        "ExportCustomer": stub.ExportCustomer(pb.ExportCustomerRequest(customer_id="nope", agent_id="ada")),
        "EraseCustomer": stub.EraseCustomer(
            pb.EraseCustomerRequest(customer_id="nope", agent_id="ada", reason="request")
        ),
        "MergeCustomers": stub.MergeCustomers(
            pb.MergeCustomersRequest(customer_id=known, other_customer_id="nope", agent_id="ada", reason="same")
        ),
        "SplitCustomer": stub.SplitCustomer(
            pb.SplitCustomerRequest(customer_id="nope", contact_points=[contact], agent_id="ada", reason="two people")
        ),
    }
    return await status_codes(calls)


async def feed_of(
    stub: pb_grpc.ConversationServiceAsyncStub, count: int, request: pb.WatchEventsRequest
) -> list[pb.WatchEventsResponse]:
    """The first `count` events of a WatchEvents stream, then hang up (as a client that disconnects)."""
    call = stub.WatchEvents(request)
    got: list[pb.WatchEventsResponse] = []
    async for event in call:
        got.append(event)
        if len(got) == count:
            break
    call.cancel()
    return got


async def test_the_event_feed_keeps_the_stored_order_across_streams_and_resumes_from_a_cursor(
    api: tuple[pb_grpc.ConversationServiceAsyncStub, ThreadingActions], nats_server: NatsServer
) -> None:
    stub, actions = api
    outcome = await actions.record_inbound(
        NewInboundMessage("m1", "sms", "support", "SM1", ContactPoint(PHONE, "+14155550188"), "Ada", "Hello", 1, 2)
    )
    conversation_id = outcome.conversation.conversation_id
    async with EventBus.connect(nats_server.url, service="test") as others:
        # Routing assigns, the reply goes out and its channel reports: three streams, interleaved.
        await others.publish(
            routing_events.ConversationAssigned(conversation_id=conversation_id, agent_id="ada"), event_id="a1"
        )
        await actions.record_inbound(
            NewInboundMessage("m2", "sms", "support", "SM2", ContactPoint(PHONE, "+14155550188"), "Ada", "Hi?", 3, 4)
        )
        await others.publish(
            channel_events.DeliveryStatusChanged(
                message_id="m0", conversation_id=conversation_id, status=channel_events.DELIVERY_STATUS_SENT
            ),
            event_id="d1",
        )
        await others.publish(
            routing_events.ConversationQueued(conversation_id=conversation_id, position=1), event_id="q1"
        )
    expected = [
        "conv.message_added",
        "routing.conversation_assigned",
        "conv.message_added",
        "delivery.status_changed",
        "routing.conversation_queued",
    ]
    everything = await feed_of(stub, 5, pb.WatchEventsRequest(from_oldest=True))
    assert [e.subject for e in everything] == expected
    assert {e.conversation_id for e in everything} == {conversation_id}
    assert [e.envelope.event_id for e in everything][1] == "a1"

    # Hang up after two, come back with the second's cursor: the other three, none twice.
    first_two = await feed_of(stub, 2, pb.WatchEventsRequest(from_oldest=True))
    rest = await feed_of(stub, 3, pb.WatchEventsRequest(cursor=first_two[-1].cursor))
    assert [e.envelope.event_id for e in first_two + rest] == [e.envelope.event_id for e in everything]

    # From now on: only what happens next.
    live = stub.WatchEvents(pb.WatchEventsRequest())
    started = dict(await live.initial_metadata())  # the feed is live once its headers arrive
    assert started["x-feed-start"]
    await actions.record_inbound(
        NewInboundMessage("m3", "sms", "support", "SM3", ContactPoint(PHONE, "+14155550188"), "Ada", "Again", 5, 6)
    )
    first_new = await live.read()
    live.cancel()
    assert first_new.subject == "conv.message_added" and first_new.conversation_id == conversation_id

    assert await code_of(feed_of(stub, 1, pb.WatchEventsRequest(cursor="not-a-cursor"))) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_an_agent_follows_only_the_conversations_they_may_see(
    api: tuple[pb_grpc.ConversationServiceAsyncStub, ThreadingActions],
) -> None:
    stub, actions = api
    theirs = await actions.record_inbound(
        NewInboundMessage("m1", "sms", "support", "SM1", ContactPoint(PHONE, "+14155550177"), "Ada", "Mine", 1, 2)
    )
    await actions.record_inbound(
        NewInboundMessage("m2", "sms", "support", "SM2", ContactPoint(PHONE, "+14155550166"), "Bo", "Not hers", 1, 2)
    )
    await actions.record_assignment(theirs.conversation.conversation_id, "grace", "assigned-1")
    with acting_for(Agent("grace")):
        seen = await feed_of(stub, 1, pb.WatchEventsRequest(from_oldest=True))
    assert [e.conversation_id for e in seen] == [theirs.conversation.conversation_id]
