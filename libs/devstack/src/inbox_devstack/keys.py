"""API keys for a suite started here: the services' own keys, and the keys tests and demos call with."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path

import nats.js.errors
from inbox_events import EventBus
from inbox_events.api_keys import ensure_service_keys
from inbox_runtime.callers import SCOPES, IssuedKey, issue_key
from inbox_runtime.timestamps import now_us


def integrator_key(name: str = "test-integrator", scopes: Sequence[str] = tuple(SCOPES)) -> IssuedKey:
    """A key issued here and stored in a suite's bucket by `provision_keys` (every scope by default)."""
    return issue_key(name, scopes, created_by="devstack", now_us=now_us())


async def store_keys(nats_url: str, keys: Sequence[IssuedKey], service_keys_folder: Path | None = None) -> None:
    """Put `keys` in the bucket of the nats-server at `nats_url` (and the services' own keys, as files)."""
    async with EventBus.connect(nats_url, service="devstack-keys") as bus:
        store = await bus.api_keys()
        for key in keys:
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await store.add(key)
        if service_keys_folder is not None:
            await ensure_service_keys(store, service_keys_folder)


def provision_keys(nats_url: str, keys: Sequence[IssuedKey], service_keys_folder: Path) -> None:
    """`store_keys` from synchronous code, which may itself run inside an event loop (so in a thread)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(store_keys(nats_url, keys, service_keys_folder))
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name="provision-keys")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
