"""inbox-web's store contract, against SQLite and MongoDB alike: logins, sessions and canned responses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inbox_devstack.plugin import StoreBackend
from inbox_web.domain import SUPERVISOR, CannedResponse, WebSession, WebUser
from inbox_web.store import WebStore
from inbox_web.store.mongo import MongoUserStore
from inbox_web.store.sqlite import SqliteUserStore


@pytest.fixture
async def store(store_backend: StoreBackend) -> AsyncIterator[WebStore]:
    async with store_backend.opened(MongoUserStore.open, SqliteUserStore.open, "web.sqlite3") as opened:
        yield opened


async def test_a_login_is_replaced_whole(store: WebStore) -> None:
    await store.put(WebUser("ada", "ada", "hash-1"))
    await store.put(WebUser("ada", "ada-2", "hash-2"))
    assert await store.get("ada") == WebUser("ada", "ada-2", "hash-2") and await store.get("bob") is None
    await store.put(WebUser("ada", "ada-2", "hash-2", SUPERVISOR))
    assert (await store.get("ada")) == WebUser("ada", "ada-2", "hash-2", SUPERVISOR)


async def test_sessions_end_one_by_one_per_login_with_the_login_and_when_expired(store: WebStore) -> None:
    await store.put(WebUser("ada", "ada", "hash-1"))
    await store.put(WebUser("bob", "bob", "hash-2"))
    phone, laptop = WebSession("k1", "ada", "ada", "agent", 100), WebSession("k2", "ada", "ada", "agent", 200)
    for session in (phone, laptop, WebSession("k3", "bob", "bob", "agent", 300)):
        await store.create_session(session, now_us=10)
    assert await store.session("k1") == phone and await store.session("nope") is None
    await store.end_session("k1")  # logging out on the phone
    assert await store.session("k1") is None and await store.session("k2") == laptop
    assert await store.end_sessions_of("ada") == 1  # a new password
    assert await store.session("k2") is None and await store.session("k3") is not None
    await store.create_session(WebSession("k4", "bob", "bob", "agent", 400), now_us=300)  # k3 expired: forgotten
    assert await store.session("k3") is None
    assert await store.remove("bob") and not await store.remove("bob")  # a login removed, with its sessions
    assert await store.get("bob") is None and await store.session("k4") is None


async def test_canned_responses_are_shared_per_team_or_with_everyone(store: WebStore) -> None:
    everyone = CannedResponse("c1", "", "Welcome", "Hi {first_name}!", "ada")
    tier1 = CannedResponse("c2", "tier1", "Refund", "Refund sent.", "ada")
    tier2 = CannedResponse("c3", "tier2", "Billing", "See your invoice.", "bob")
    for response in (tier1, everyone, tier2):
        await store.add_canned(response, 1)
    assert await store.canned_for(("tier1",)) == [tier1, everyone]  # by title
    assert await store.canned_for(()) == [everyone]
    assert await store.canned("c3") == tier2
    await store.delete_canned("c2")
    assert await store.canned("c2") is None and await store.canned_for(("tier1",)) == [everyone]


async def test_how_far_an_agent_has_read_only_moves_forward(store: WebStore) -> None:
    assert await store.read_counts("ada", ["conv-1"]) == {}
    await store.mark_read("ada", "conv-1", 3)
    await store.mark_read("ada", "conv-1", 2)  # an older page reporting late
    await store.mark_read("bob", "conv-1", 1)
    await store.mark_read("ada", "conv-2", 5)
    assert await store.read_counts("ada", ["conv-1", "conv-2", "conv-3"]) == {"conv-1": 3, "conv-2": 5}
    assert await store.read_counts("bob", ["conv-1", "conv-2"]) == {"conv-1": 1}
    assert await store.read_counts("ada", []) == {}
