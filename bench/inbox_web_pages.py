"""Page render times with a big inbox: `make bench` (or `python bench/inbox_web_pages.py [conversations]`).

Seeds threading's SQLite store (the service's own schema, through the bulk path of `threading_store.py`)
with N conversations (default 10,000, ten messages each), all open, assigned to one agent and in that
agent's team, so every one is visible to them. Then starts the suite as processes, logs the agent in over
HTTP and times what a browser asks for: the inbox (its views and the live list part), a conversation page
and its live timeline part, measured at the client from request to the last byte. Prints percentiles only.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.logging import configure
from inbox_threading.store.sqlite import SqliteConversationStore
from inbox_web_live import PASSWORD, bench_suite, log_in
from threading_store import dataset, seed_sqlite

AGENT, TEAM = "agent-0", "team-0"
REQUESTS = 300


async def seed(db_path: Path, conversations: int) -> list[str]:
    """N open conversations, all the agent's, in the service's own schema; returns their ids."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    store = await SqliteConversationStore.open(db_path)  # creates the schema, as the service would
    await store.close()
    seeded = dataset(conversations * 10)
    with sqlite3.connect(db_path) as conn:
        seed_sqlite(conn, seeded)
        conn.execute(
            "UPDATE conversations SET assignee_agent_id = ?, team = ?, status = 1, preview = 'Where is my parcel?'",
            (AGENT, TEAM),
        )
        conn.execute(
            "UPDATE customers SET active_conversation_id = (SELECT conversation_id FROM conversations "
            "WHERE conversations.customer_id = customers.customer_id)"
        )
    return [s.conversation.conversation_id for s in seeded]


async def timed(client: httpx.AsyncClient, paths: Callable[[], str], count: int) -> list[float]:
    for _ in range(10):  # warm up
        (await client.get(paths())).raise_for_status()
    samples = []
    for _ in range(count):
        path = paths()
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return sorted(samples)


async def main(conversations: int) -> None:
    configure("bench", json=False, level="WARNING")
    with tempfile.TemporaryDirectory() as folder:
        suite = bench_suite(folder)
        ids = await seed(Path(folder) / "data" / "threading.sqlite3", conversations)
        await asyncio.to_thread(suite.start)
        try:
            async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", suite.api_key) as channel:
                await routing_service_pb2_grpc.RoutingServiceStub(channel).UpsertAgent(
                    routing_service_pb2.UpsertAgentRequest(agent_id=AGENT, display_name="Agent", teams=[TEAM])
                )
            await asyncio.to_thread(suite.set_web_login, AGENT, AGENT, PASSWORD)
            client = await log_in(f"http://127.0.0.1:{suite.ports.web_http}", AGENT)
            rng = random.Random(3)
            pages: dict[str, Callable[[], str]] = {
                "inbox, open view (100 newest of N)": lambda: "/?view=open",
                "inbox, all I may see (mine + my team's)": lambda: "/?view=all",
                "inbox, filtered by channel": lambda: "/?view=open&channel=sms",
                "live list part": lambda: "/partials/conversations?view=open",
                "conversation page (10 messages)": lambda: f"/conversations/{rng.choice(ids)}",
                "live timeline part": lambda: f"/conversations/{rng.choice(ids)}/partials/timeline",
            }
            print(f"inbox-web page renders, {conversations:,} open conversations visible to the agent, SQLite:")
            for name, path in pages.items():
                samples = await timed(client, path, REQUESTS)
                p99 = samples[int(len(samples) * 0.99) - 1]
                print(f"  {name:<42} p50 {statistics.median(samples):6.1f} ms   p99 {p99:6.1f} ms")
            await client.aclose()
            await asyncio.to_thread(suite.set_web_login, "lead", "lead", PASSWORD, supervisor=True)
            lead = await log_in(f"http://127.0.0.1:{suite.ports.web_http}", "lead")
            samples = await timed(lead, lambda: "/supervisor", REQUESTS)
            p99 = samples[int(len(samples) * 0.99) - 1]
            name = "supervisor view (queues, agents, 100 open)"
            print(f"  {name:<42} p50 {statistics.median(samples):6.1f} ms   p99 {p99:6.1f} ms")
            await lead.aclose()
        finally:
            await asyncio.to_thread(suite.stop)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
