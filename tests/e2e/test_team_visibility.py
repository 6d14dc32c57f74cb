"""Who sees what in inbox-web, over the real suite: an agent sees their own conversations and those of
their teams (the team's unassigned queue, the page, live notices, search); another team's conversation
answers 404 and is never announced to them."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
import pytest
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel

from .conftest import PASSWORD, log_in
from .test_live_notices import customer_chat, frames, next_event


@pytest.fixture
def suite_env() -> dict[str, str]:
    return {"THREADING_INBOX_TEAMS": "chat=tier1"}  # the chat inbox's conversations belong to tier1


async def agent(suite: LocalSuite, token: str, agent_id: str, team: str, available: bool) -> None:
    async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", token) as channel:
        routing = routing_service_pb2_grpc.RoutingServiceStub(channel)
        await routing.UpsertAgent(
            routing_service_pb2.UpsertAgentRequest(agent_id=agent_id, display_name=agent_id, teams=[team])
        )
        if available:
            await routing.SetPresence(
                routing_service_pb2.SetPresenceRequest(
                    agent_id=agent_id, presence=routing_service_pb2.PRESENCE_AVAILABLE
                )
            )
    await asyncio.to_thread(suite.set_web_login, agent_id, agent_id, PASSWORD)


async def test_a_team_sees_its_conversations_and_no_other_team_does(local_suite: LocalSuite, api_key: str) -> None:
    await agent(local_suite, api_key, "cy", "tier1", available=False)  # a team-mate, not taking chats now
    await agent(local_suite, api_key, "di", "tier2", available=False)  # another team
    base = f"http://127.0.0.1:{local_suite.ports.web_http}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as cy,
        httpx.AsyncClient(base_url=base, timeout=30) as di,
        asynccontextmanager(customer_chat)(local_suite) as grace_says,
    ):
        for client, name in ((cy, "cy"), (di, "di")):
            assert (await log_in(client, name, PASSWORD)).status_code == 303
        async with cy.stream("GET", "/events") as cy_events:
            await grace_says("my invoice is wrong")  # nobody available: it waits in tier1's queue
            notice = json.loads((await next_event(frames(cy_events)))["data"])
        conversation_id = notice["conversation_id"]
        queue = await cy.get("/", params={"view": "queue"})
        assert conversation_id in queue.text  # waiting for tier1, nobody has it yet
        assert (await cy.get(f"/conversations/{conversation_id}")).status_code == 200
        assert "my invoice is wrong" in (await cy.get("/search", params={"q": "invoice"})).text
        # The other team: no page, nothing in search, nothing in its queue.
        assert (await di.get(f"/conversations/{conversation_id}")).status_code == 404
        assert "Nothing found" in (await di.get("/search", params={"q": "invoice"})).text
        assert conversation_id not in (await di.get("/", params={"view": "queue"})).text
