"""API keys in the real NATS key-value bucket: created, read through the short cache, revoked, listed,
kept or re-issued by `ensure_key`, and managed from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_events.api_keys import ApiKeyStore, ensure_key
from inbox_runtime.callers import parse_key


async def test_keys_are_created_read_revoked_and_listed(nats_server: NatsServer) -> None:
    async with (
        EventBus.connect(nats_server.url, service="test") as bus,
        EventBus.connect(nats_server.url, service="test-other") as other_bus,
    ):
        store, elsewhere = await bus.api_keys(), await other_bus.api_keys()
        issued = await store.create("crm-sync", ["conversations:read"], created_by="test")
        key_id, secret = parse_key(issued.text) or ("", "")
        found = await elsewhere.get(key_id)
        assert found is not None and found.matches(secret) and found.scopes == {"conversations:read"}
        assert await elsewhere.get("k0000000000000000") is None

        revoked = await store.revoke(key_id, revoked_by="key:admin")
        assert revoked.revoked and (await store.get(key_id)).revoked  # type: ignore[union-attr]
        # Elsewhere, the record read before the revocation is kept for at most CACHE_SECONDS.
        fresh = ApiKeyStore(elsewhere._kv)
        assert (await fresh.get(key_id)).revoked  # type: ignore[union-attr]
        assert [(r.name, r.revoked, r.revoked_by) for r in await store.list()] == [("crm-sync", True, "key:admin")]


async def test_ensure_key_keeps_a_working_key_and_replaces_one_that_changed(nats_server: NatsServer) -> None:
    async with EventBus.connect(nats_server.url, service="test") as bus:
        store = await bus.api_keys()
        first = await ensure_key(store, "", "inbox-web", ["routing:read"])
        assert first is not None
        assert await ensure_key(store, first, "inbox-web", ["routing:read"]) is None
        second = await ensure_key(store, first, "inbox-web", ["routing:read", "routing:write"])
        assert second is not None and second != first
        old = await store.get(parse_key(first)[0])  # type: ignore[index]
        assert old is not None and old.revoked


def test_the_command_creates_lists_and_revokes(nats_server: NatsServer) -> None:
    env = {**os.environ, "NATS_URL": nats_server.url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "inbox_events.api_keys", *args], env=env, capture_output=True, text=True, timeout=60
        )

    created = run("create", "crm", "--scope", "conversations:read", "--scope", "channels:read")
    assert created.returncode == 0, created.stderr
    key_id = parse_key(created.stdout.strip())[0]  # type: ignore[index]
    listed = run("list")
    assert key_id in listed.stdout and "active" in listed.stdout and created.stdout.strip() not in listed.stdout
    assert run("revoke", key_id).returncode == 0
    assert "revoked" in run("list").stdout
    refused = run("create", "crm", "--scope", "everything")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].startswith(
        "error: unknown scope(s) everything"
    )
