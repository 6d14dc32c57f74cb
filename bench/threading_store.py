"""Inbox queries on a store with a million messages: `make bench` (or `python bench/threading_store.py N`).

Seeds the real SQLite store (the threading service's own schema, indexes and full-text triggers), then
times the queries agents run all day. Prints percentiles; asserts nothing (figures go in the README).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from inbox_threading.domain import ContactPoint, ConversationStatus, NewInboundMessage, ThreadPolicy, Viewer, fts_query
from inbox_threading.store.sqlite import SqliteConversationStore

# A vocabulary with a long tail, as real text has: a few topic words everywhere, most words rare.
TOPICS = ["order", "parcel", "refund", "invoice", "late", "broken", "address", "delivery", "account", "payment"]
WORDS = TOPICS + [f"word{i}" for i in range(5000)]
AGENTS = [f"agent-{i}" for i in range(200)]
TEAMS = [f"team-{i}" for i in range(10)]


def seed(conn, messages: int) -> list[str]:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    conversations = messages // 10
    customers = []
    customer_rows, contact_rows, conversation_rows, message_rows, tag_rows = [], [], [], [], []
    for c in range(conversations):
        customer_id, conversation_id = str(uuid.uuid4()), str(uuid.uuid4())
        customers.append(customer_id)
        t0 = 1_700_000_000_000_000 + c * 1_000_000
        customer_rows.append((customer_id, f"Customer {c}", t0))
        contact_rows.append((2, f"+1{c:010d}", customer_id, t0))
        status = rng.choice([1, 1, 2, 3, 4, 4, 4])
        conversation_rows.append(
            (
                conversation_id,
                customer_id,
                status,
                rng.choice([1, 2, 3]),
                "support",
                rng.choice(AGENTS),
                t0,
                t0 + 10_000,
                10,
                10,
                rng.choice(TEAMS),
                rng.choice(["en", "es", "de"]),
            )
        )
        if rng.random() < 0.05:
            tag_rows.append((conversation_id, "vip"))
        for n in range(10):
            text = " ".join(WORDS[min(int(rng.paretovariate(0.6)) - 1, len(WORDS) - 1)] for _ in range(8))
            message_rows.append(
                (
                    str(uuid.uuid4()),
                    conversation_id,
                    customer_id,
                    1 + n % 2,
                    3,
                    "support",
                    "",
                    2,
                    f"+1{c:010d}",
                    text,
                    f"p-{c}-{n}",
                    t0 + n,
                    t0 + n,
                    n + 1,
                )
            )
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", customer_rows)
    conn.executemany("INSERT INTO contact_points VALUES (?, ?, ?, ?)", contact_rows)
    conn.executemany(
        "INSERT INTO conversations (conversation_id, customer_id, status, channel, inbox_id, assignee_agent_id, "
        "opened_at_us, last_activity_at_us, message_count, item_count, team, language) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        conversation_rows,
    )
    conn.executemany("INSERT INTO conversation_tags VALUES (?, ?)", tag_rows)
    conn.executemany(
        "INSERT INTO messages (message_id, conversation_id, customer_id, direction, channel, inbox_id, agent_id, "
        "contact_kind, contact_value, text, provider_message_id, sent_at_us, received_at_us, sequence) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        message_rows,
    )
    conn.execute("ANALYZE")
    return customers


async def timed(label: str, runs: int, call: Callable[[int], Awaitable[object]]) -> None:
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p50, p99 = statistics.median(samples), samples[int(len(samples) * 0.99) - 1]
    print(f"  {label:<48} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   ({runs} runs)")


async def main(messages: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteConversationStore.open(Path(folder) / "threading.sqlite3")
        started = time.perf_counter()
        customers = await store.database.write(lambda conn: seed(conn, messages))
        print(
            f"threading store: seeded {messages:,} messages in {len(customers):,} conversations "
            f"in {time.perf_counter() - started:.0f} s"
        )
        rng = random.Random(1)
        await timed(
            "my conversations (assignee, open)",
            300,
            lambda i: store.list_conversations(
                assignee_agent_id=rng.choice(AGENTS), statuses=(ConversationStatus.OPEN,), limit=50
            ),
        )
        await timed(
            "team queue (team, newest first)", 300, lambda i: store.list_conversations(team=rng.choice(TEAMS), limit=50)
        )
        await timed("tag filter (vip)", 300, lambda i: store.list_conversations(tag="vip", limit=50))
        await timed(
            "status filter (pending + snoozed)",
            300,
            lambda i: store.list_conversations(
                statuses=(ConversationStatus.PENDING, ConversationStatus.SNOOZED), limit=50
            ),
        )
        await timed(
            "customer timeline (first page)",
            300,
            lambda i: store.timeline(rng.choice(customers), 100, "", exclude_notes=True),
        )
        await timed(
            "search a common and a rarer word, as one agent",
            100,
            lambda i: store.search(
                fts_query(f"{rng.choice(TOPICS)} {rng.choice(WORDS[12:200])}"), Viewer(rng.choice(AGENTS)), 25, 0
            ),
        )
        await timed(
            "search one common word, as an integrator",
            100,
            lambda i: store.search(fts_query(rng.choice(TOPICS)), Viewer(), 25, 0),
        )
        policy = ThreadPolicy()

        async def ingest(i: int) -> object:
            return await store.record_inbound(
                NewInboundMessage(
                    str(uuid.uuid4()),
                    3,
                    "support",
                    f"bench-{i}",
                    ContactPoint(2, f"+1{i % 5000:010d}"),
                    "",
                    "where is my parcel",
                    time.time_ns() // 1000,
                    time.time_ns() // 1000,
                ),
                time.time_ns() // 1000,
                policy,
            )

        await timed("record an inbound message (one write)", 1000, ingest)
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
