"""Routing knows channels by name, an added one (`telegram`) like the built-in ones: capacities, rules,
decisions and events; and a store written when channels were the v1 enum's numbers reads back by name
(SQLite's migration 11, MongoDB's `channels-by-name`), loads and slots included."""

from __future__ import annotations

from pathlib import Path

from inbox.routing.v1 import events_pb2 as routing_events
from inbox_devstack.events import stored_events
from inbox_devstack.migrations import written_by
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.plugin import StoreBackend
from inbox_events.channels import channel_of
from inbox_routing.changes import AssignmentRecord, Outcome, RoutingChange
from inbox_routing.domain import (
    ADDED_CHANNEL_CAPACITY,
    AssignmentState,
    Presence,
    RouteRequest,
    RoutingPolicy,
    choose_rule,
    parse_rules,
)
from inbox_routing.store import RoutingStore
from inbox_routing.store.mongo import MongoRoutingStore
from inbox_routing.store.mongo.documents import AGENTS, ASSIGNMENTS, SLOTS, VERSIONS, record_document
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_routing.store.sqlite.schema import MIGRATIONS
from inbox_runtime.mongo import close_database, connect_database

from .conftest import Routing

TELEGRAM = "telegram"


def held_by_ada(i: int) -> AssignmentRecord:
    """Conversation i on chat, given to ada."""
    return AssignmentRecord(
        request=RouteRequest(f"conv-{i}", f"cust-{i}", "chat", "web", 1),
        state=AssignmentState.ASSIGNED,
        agent_id="ada",
        since_us=4 + i,
        queued_at_us=4 + i,
        reason="",
        version=1,
    )


def on_telegram(i: int) -> RouteRequest:
    return RouteRequest(f"conv-{i}", f"cust-{i}", TELEGRAM, "bot", generation=1)


async def test_an_added_channel_takes_capacities_and_rules_and_is_routed_by_name(
    routing: Routing, nats_server: NatsServer
) -> None:
    actions = routing.actions(RoutingPolicy(offer_timeout_us=0))
    ada = await actions.upsert_agent("ada", "Ada", {TELEGRAM: 1}, ())
    assert ada.capacity_for(TELEGRAM) == 1 and ada.capacity_for("whatsapp") == ADDED_CHANNEL_CAPACITY
    await actions.set_presence("ada", Presence.AVAILABLE)
    first = await actions.route(on_telegram(1))
    assert (first.assignment.state, first.assignment.channel) == (AssignmentState.ASSIGNED, TELEGRAM)
    # Her one Telegram seat is taken: the next waits, while chat still has room.
    assert (await actions.route(on_telegram(2))).assignment.state == AssignmentState.QUEUED
    assert (await actions.route(RouteRequest("conv-3", "cust-3", "chat", "web", 1))).assignment.agent_id == "ada"
    assert await routing.store.load_of("ada") == {TELEGRAM: 1, "chat": 1}
    assigned = await stored_events(
        nats_server.url, "routing.conversation_assigned", routing_events.ConversationAssigned, at_least=2
    )
    assert [channel_of(e) for e in assigned] == [TELEGRAM, "chat"]

    rules = parse_rules({"rules": [{"id": "bots", "match": {"channels": [TELEGRAM]}, "team": "messaging"}]})
    assert choose_rule(rules, on_telegram(4)) == ("bots", rules.rules[0].target)


async def test_a_store_written_with_enum_numbers_reads_back_by_name(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    store: RoutingStore
    if store_backend.mongo is None:
        path = tmp_path / "older.sqlite3"
        older = written_by(path, MIGRATIONS[:10])
        older.execute(
            "INSERT INTO agents (agent_id, display_name, presence, capacities, languages) "
            """VALUES ('ada', 'Ada', 1, '{"1": 2, "3": 4}', '[]')"""
        )
        older.execute(
            "INSERT INTO assignments (conversation_id, customer_id, channel, inbox_id, state, agent_id, since_us, "
            "queued_at_us) VALUES ('conv-1', 'cust-1', 1, 'web', 2, 'ada', 5, 5)"
        )
        older.commit()
        older.close()
        store = await SqliteRoutingStore.open(path)
    else:
        database = connect_database(store_backend.mongo)
        await database[AGENTS].insert_one(
            {"_id": "ada", "display_name": "Ada", "presence": 1, "capacities": [{"k": 1, "v": 2}, {"k": 3, "v": 4}]}
        )
        record = {**record_document(held_by_ada(1)), "channel": 1}  # as written before channels had names
        await database[VERSIONS].insert_one({"_id": "conv-1#000000000001", **record})
        await database[ASSIGNMENTS].insert_one({"_id": "conv-1", **record})
        await database[SLOTS].insert_one(
            {"_id": "ada|1|0", "agent_id": "ada", "channel": 1, "conversation_id": "conv-1", "taken_at_us": 5}
        )
        await close_database(database)
        store = await MongoRoutingStore.open(store_backend.mongo)
    try:
        ada = await store.get_agent("ada")
        assert ada is not None and ada.capacities == {"chat": 2, "sms": 4}
        stored = await store.record("conv-1")
        assert stored is not None and stored.request.channel == "chat"
        assert await store.load_of("ada") == {"chat": 1}
        # Her second chat seat is free, her first still held: capacity counts what was held before.
        assert await store.commit([RoutingChange(held_by_ada(2), capacity=2)]) == [Outcome.APPLIED]
        assert await store.commit([RoutingChange(held_by_ada(3), capacity=2)]) == [Outcome.FULL]
    finally:
        await store.close()
