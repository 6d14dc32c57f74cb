"""Every gRPC caller is someone, over the real suite: keys made and revoked with AccessService, scopes,
and the agent a call is made for deciding what it may read, search, reply to or export."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from inbox.access.v1 import access_pb2, access_pb2_grpc
from inbox.conversations.v1 import conversation_service_pb2 as conv
from inbox.conversations.v1 import conversation_service_pb2_grpc as conv_grpc
from inbox.routing.v1 import routing_service_pb2 as routing
from inbox.routing.v1 import routing_service_pb2_grpc as routing_grpc
from inbox_devstack.suite import LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel

from .test_live_notices import customer_chat


@pytest.fixture
def suite_env() -> dict[str, str]:
    return {"THREADING_INBOX_TEAMS": "chat=tier1"}  # the chat inbox's conversations belong to tier1


async def code_of(call: Awaitable[Any]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code()


async def test_agents_see_and_change_only_what_their_teams_may(local_suite: LocalSuite, api_key: str) -> None:
    threading_target = f"127.0.0.1:{local_suite.ports.conversations_grpc}"
    async with asynccontextmanager(customer_chat)(local_suite) as grace_says:
        await grace_says("my invoice 4471 is wrong")  # nobody is available: it waits in tier1's queue
    async with authenticated_channel(threading_target, api_key) as channel:
        conversations = conv_grpc.ConversationServiceStub(channel)

        async def waiting() -> conv.ListConversationsResponse | None:
            listed = await conversations.ListConversations(conv.ListConversationsRequest(team="tier1"))
            return listed if listed.conversations else None

        conversation = (await eventually(waiting)).conversations[0]
        cid, customer_id = conversation.conversation_id, conversation.customer_id

        with acting_for(Agent("di", ("tier2",))):  # another team: as if it were not there
            assert await code_of(conversations.GetConversation(conv.GetConversationRequest(conversation_id=cid))) == (
                grpc.StatusCode.NOT_FOUND
            )
            assert await code_of(conversations.ListMessages(conv.ListMessagesRequest(conversation_id=cid))) == (
                grpc.StatusCode.NOT_FOUND
            )
            reply = conv.SendReplyRequest(conversation_id=cid, text="hi", client_reply_id="di-1")
            assert await code_of(conversations.SendReply(reply)) == grpc.StatusCode.NOT_FOUND
            listed = await conversations.ListConversations(conv.ListConversationsRequest(team="tier1"))
            assert list(listed.conversations) == []
            # The search's viewer field cannot widen what the caller's identity sees.
            found = await conversations.SearchMessages(
                conv.SearchMessagesRequest(query="invoice", viewer=conv.Viewer(agent_id="cy", teams=["tier1"]))
            )
            assert list(found.messages) == []
            export = conv.ExportCustomerRequest(customer_id=customer_id)
            assert await code_of(conversations.ExportCustomer(export)) == grpc.StatusCode.NOT_FOUND
            timeline = conv.GetTimelineRequest(customer_id=customer_id)
            assert await code_of(conversations.GetTimeline(timeline)) == grpc.StatusCode.NOT_FOUND
            # Claiming to be someone else is refused, whatever the request says.
            as_cy = conv.SendReplyRequest(conversation_id=cid, agent_id="cy", text="hi", client_reply_id="di-2")
            assert await code_of(conversations.SendReply(as_cy)) == grpc.StatusCode.PERMISSION_DENIED

        with acting_for(Agent("cy", ("tier1",))):  # the conversation's team
            got = await conversations.GetConversation(conv.GetConversationRequest(conversation_id=cid))
            assert got.conversation.team == "tier1"
            found = await conversations.SearchMessages(conv.SearchMessagesRequest(query="invoice"))
            assert [m.conversation_id for m in found.messages] == [cid]
            sent = await conversations.SendReply(
                conv.SendReplyRequest(conversation_id=cid, text="Looking into it", client_reply_id="cy-1")
            )
            assert sent.message.agent_id == "cy"  # from the identity, never from a request field
            document = json.loads(
                (await conversations.ExportCustomer(conv.ExportCustomerRequest(customer_id=customer_id))).document
            )
            assert document["audit"][-1]["actor"] == "cy"

        # A key that calls for nobody cannot reply as an agent (it could name any, even one that does not exist).
        ghost = conv.SendReplyRequest(conversation_id=cid, agent_id="ghost", text="hi", client_reply_id="g-1")
        assert await code_of(conversations.SendReply(ghost)) == grpc.StatusCode.PERMISSION_DENIED


async def test_keys_are_made_scoped_and_revoked_over_access_service(local_suite: LocalSuite, api_key: str) -> None:
    threading_target = f"127.0.0.1:{local_suite.ports.conversations_grpc}"
    routing_target = f"127.0.0.1:{local_suite.ports.routing_grpc}"
    async with authenticated_channel(threading_target, api_key) as admin_channel:
        access = access_pb2_grpc.AccessServiceStub(admin_channel)
        made = await access.CreateApiKey(
            access_pb2.CreateApiKeyRequest(name="crm-sync", scopes=["conversations:read", "routing:read"])
        )
        assert made.api_key.startswith("ibx_") and made.key.secret_sha256 == b""
        assert await code_of(access.CreateApiKey(access_pb2.CreateApiKeyRequest(name="x", scopes=["all"]))) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        async with (
            authenticated_channel(threading_target, made.api_key) as crm_threading,
            authenticated_channel(routing_target, made.api_key) as crm_routing,
        ):
            conversations = conv_grpc.ConversationServiceStub(crm_threading)
            agents = routing_grpc.RoutingServiceStub(crm_routing)
            await conversations.ListConversations(conv.ListConversationsRequest())
            await agents.ListAgents(routing.ListAgentsRequest())
            # Scopes it was not given.
            reply = conv.SendReplyRequest(conversation_id="c", text="hi", client_reply_id="r")
            assert await code_of(conversations.SendReply(reply)) == grpc.StatusCode.PERMISSION_DENIED
            upsert = routing.UpsertAgentRequest(agent_id="eve", display_name="Eve")
            assert await code_of(agents.UpsertAgent(upsert)) == grpc.StatusCode.PERMISSION_DENIED
            crm_access = access_pb2_grpc.AccessServiceStub(crm_threading)
            assert await code_of(crm_access.ListApiKeys(access_pb2.ListApiKeysRequest())) == (
                grpc.StatusCode.PERMISSION_DENIED
            )

            revoked = await access.RevokeApiKey(access_pb2.RevokeApiKeyRequest(key_id=made.key.key_id))
            assert revoked.key.HasField("revoked_at") and revoked.key.revoked_by == "key:test-integrator"
            # At once where it was revoked; within the key cache's few seconds everywhere else.
            listing = conv.ListConversationsRequest()
            assert await code_of(conversations.ListConversations(listing)) == grpc.StatusCode.UNAUTHENTICATED

            async def refused_by_routing() -> bool | None:
                try:
                    await agents.ListAgents(routing.ListAgentsRequest())
                except grpc.aio.AioRpcError as exc:
                    return exc.code() == grpc.StatusCode.UNAUTHENTICATED or None
                return None

            assert await eventually(refused_by_routing, timeout=15)
        listed = await access.ListApiKeys(access_pb2.ListApiKeysRequest())
        crm = [k for k in listed.keys if k.name == "crm-sync"]
        assert len(crm) == 1 and crm[0].HasField("revoked_at") and all(k.secret_sha256 == b"" for k in listed.keys)
