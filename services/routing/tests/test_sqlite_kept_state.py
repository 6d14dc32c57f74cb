"""SQLite only: what the store keeps beside its rows by triggers (the agents' loads, each agent's revision)
always matches them, through every way a conversation is taken and given back and an agent changes."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_routing.actions import RoutingActions
from inbox_routing.domain import CHAT, Presence, RouteRequest, RoutingPolicy
from inbox_routing.store.sqlite import SqliteRoutingStore, queries

OFFERS = RoutingPolicy(offer_timeout_us=30_000_000)


@pytest.fixture
async def routed(tmp_path: Path, nats_server: NatsServer) -> AsyncIterator[tuple[RoutingActions, SqliteRoutingStore]]:
    store = await SqliteRoutingStore.open(tmp_path / "routing.sqlite3")
    async with EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        yield RoutingActions(store, bus, OFFERS, clock=Clock(1_000)), store
    await store.close()


def _kept_and_counted(conn: sqlite3.Connection) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    kept = conn.execute("SELECT agent_id, channel, held FROM agent_loads WHERE held != 0").fetchall()
    counted = conn.execute(
        "SELECT agent_id, channel, COUNT(*) FROM assignments WHERE state IN (2, 4) AND agent_id != '' "
        "GROUP BY agent_id, channel"
    ).fetchall()
    return {(a, c): n for a, c, n in kept}, {(a, c): n for a, c, n in counted}


async def test_kept_loads_equal_the_held_conversations_after_every_change(
    routed: tuple[RoutingActions, SqliteRoutingStore],
) -> None:
    actions, store = routed

    async def loads_agree() -> dict[tuple[str, int], int]:
        kept, counted = await store.database.read(_kept_and_counted)
        assert kept == counted
        return kept

    for name in ("ada", "bob"):
        await actions.upsert_agent(name, name.title(), {CHAT: 3}, ())
        await actions.set_presence(name, Presence.AVAILABLE)
    for i in range(4):  # offered: an offer holds a seat
        await actions.route(RouteRequest(f"conv-{i}", f"cust-{i}", CHAT, "main", generation=1))
    assert sum((await loads_agree()).values()) == 4

    first, _ = await actions.get_assignment("conv-0")
    assert first is not None
    await actions.accept_offer("conv-0", first.agent_id)  # offered -> assigned: same seat
    assert sum((await loads_agree()).values()) == 4
    second, _ = await actions.get_assignment("conv-1")
    assert second is not None
    await actions.decline_offer("conv-1", second.agent_id)  # to the other agent
    await loads_agree()
    await actions.end("conv-2")  # given back
    await actions.forget_customer("cust-3")  # erased
    assert sum((await loads_agree()).values()) == 2
    await actions.release_agent("ada")  # what ada held goes back to the queue
    await loads_agree()


async def test_a_decision_sees_an_agent_changed_since_the_last_one(
    routed: tuple[RoutingActions, SqliteRoutingStore],
) -> None:
    actions, _ = routed
    await actions.upsert_agent("ada", "Ada", {CHAT: 3}, ())
    await actions.set_presence("ada", Presence.AVAILABLE)
    await actions.route(RouteRequest("conv-1", "cust-1", CHAT, "main", generation=1))  # ada's row parsed

    await actions.upsert_agent("ada", "Ada", {CHAT: 3}, (), ("billing",))  # joins a team
    billing = await actions.route(RouteRequest("conv-2", "cust-2", CHAT, "main", generation=1, team="billing"))

    assert billing.assignment.agent_id == "ada"  # a stale parsed row would not have the team


def _depths_kept_and_counted(conn: sqlite3.Connection) -> tuple[dict[int, int], dict[int, int]]:
    kept = conn.execute("SELECT priority, waiting FROM queue_depths WHERE waiting != 0").fetchall()
    counted = conn.execute("SELECT priority, COUNT(*) FROM assignments WHERE state = 1 GROUP BY priority").fetchall()
    return dict(kept), dict(counted)


async def test_kept_queue_depths_equal_the_waiting_conversations_after_every_change(
    routed: tuple[RoutingActions, SqliteRoutingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    actions, store = routed

    async def depths_agree() -> dict[int, int]:
        kept, counted = await store.database.read(_depths_kept_and_counted)
        assert kept == counted
        return kept

    await actions.update_rules({"rules": [{"id": "vip", "match": {"tags": ["vip"]}, "target": {"priority": 5}}]}, "ada")
    for i in range(6):  # nobody is available: every conversation waits
        tags = ("vip",) if i % 3 == 0 else ()
        await actions.route(RouteRequest(f"conv-{i}", f"cust-{i}", CHAT, "main", generation=1, tags=tags))
    assert await depths_agree() == {0: 4, 5: 2}
    # Every place, counted from the back (the depths less those behind) and from the front, is the queue's
    # order: vip conv-0 and conv-3, then conv-1, conv-2, conv-4, conv-5.
    in_order = [record.conversation_id for record in await store.queued(10)]
    assert in_order == ["conv-0", "conv-3", "conv-1", "conv-2", "conv-4", "conv-5"]
    for counted_behind in (1000, 1):
        monkeypatch.setattr(queries, "_COUNTED_BEHIND", counted_behind)
        assert [await store.queue_position(c) for c in in_order] == [1, 2, 3, 4, 5, 6]

    await actions.end("conv-4")  # given up while waiting
    await actions.forget_customer("cust-5")  # erased while waiting
    assert await depths_agree() == {0: 2, 5: 2}
    await actions.upsert_agent("ada", "Ada", {CHAT: 2}, ())
    await actions.set_presence("ada", Presence.AVAILABLE)
    await actions.place_waiting()  # offered to ada: no longer waiting
    assert await depths_agree() == {0: 2}
    await actions.release_agent("ada")  # what ada held goes back to the queue
    await depths_agree()


async def test_explanations_written_as_objects_by_earlier_releases_still_read(
    routed: tuple[RoutingActions, SqliteRoutingStore], tmp_path: Path
) -> None:
    actions, store = routed
    await actions.upsert_agent("ada", "Ada", {CHAT: 2}, ())
    await actions.set_presence("ada", Presence.AVAILABLE)
    await actions.route(RouteRequest("conv-1", "cust-1", CHAT, "main", generation=1))
    written = await store.record("conv-1")
    assert written is not None and [v.agent_id for v in written.explanation if v.chosen] == ["ada"]
    with sqlite3.connect(tmp_path / "routing.sqlite3") as conn:
        conn.execute(
            "UPDATE assignments SET explanation = ? WHERE conversation_id = 'conv-1'",
            ('[{"agent_id": "ada", "chosen": true, "reason": "as an earlier release wrote it"}]',),
        )
    older = await store.record("conv-1")
    assert older is not None and [tuple(v) for v in older.explanation] == [
        ("ada", True, "as an earlier release wrote it")
    ]
