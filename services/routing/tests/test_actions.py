"""Routing use cases against a real nats-server and the SQLite store: service levels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_devstack.events import stored_events
from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_routing.actions import RoutingActions
from inbox_routing.domain import CHAT, FIRST_RESPONSE, NEXT_RESPONSE, RouteRequest, RoutingPolicy
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_runtime.timestamps import now_us

POLICY = RoutingPolicy(offer_timeout_us=0, first_response_us=50_000, next_response_us=50_000, breach_priority_boost=7)


@pytest.fixture
async def routing(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[tuple[RoutingActions, SqliteRoutingStore]]:
    store = await SqliteRoutingStore.open(tmp_path / "routing.sqlite3")
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        yield RoutingActions(store, bus, POLICY), store
    await store.close()


async def test_overdue_responses_raise_one_breach_each_and_move_waiting_ones_up(
    routing: tuple[RoutingActions, SqliteRoutingStore], nats_server: NatsServer
) -> None:
    actions, store = routing
    await actions.conversation_opened(RouteRequest("c1", "cust-1", CHAT, "chat", 1), now_us(), "")
    assert (await store.sla_timer("c1"))[0] == FIRST_RESPONSE  # type: ignore[index]
    await asyncio.sleep(0.06)
    assert await actions.check_slas() == 1
    assert await actions.check_slas() == 0  # once
    assert (await store.get_assignment("c1")).priority == 7  # type: ignore[union-attr]
    [breach] = await stored_events(nats_server.url, "routing.sla_breached", routing_events.SlaBreached, at_least=1)
    assert (breach.conversation_id, breach.kind, breach.agent_id) == ("c1", FIRST_RESPONSE, "")

    await actions.message_added("c1", inbound=False, by_agent=True, at_us=now_us())  # an agent answered
    assert await store.sla_timer("c1") is None
    await actions.message_added("c1", inbound=True, by_agent=False, at_us=now_us())  # the customer again
    assert (await store.sla_timer("c1"))[:2] == (NEXT_RESPONSE, (await store.sla_timer("c1"))[1])  # type: ignore[index]
    await actions.waiting_on_customer("c1")
    assert await store.sla_timer("c1") is None
    await actions.message_added("c1", inbound=True, by_agent=False, at_us=now_us())
    await actions.end("c1")
    assert await store.sla_timer("c1") is None
