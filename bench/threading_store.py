"""Inbox queries on the threading stores: `make bench` (or `python bench/threading_store.py [N] [M]`).

Seeds each store with the same conversations through its own bulk path (the service's real schema,
indexes and search index), then times the queries agents run all day through the store interface, and
an inbound message through the use case (read, decide, write, publish to a real nats-server).

- SQLite with N messages (default 1,000,000);
- SQLite and MongoDB side by side with M messages (default 2,000): MongoDB is `BENCH_MONGODB_URI` when
  set (a real MongoDB 7+; use it with M = 1,000,000), else FerretDB 1.24 built by `make ferretdb`.
  FerretDB's SQLite backend pushes no filter, sort or index down (every find scans its collection), so
  its figures describe FerretDB, not MongoDB, and stop at small sizes.

Prints percentiles; asserts nothing (figures go in the README).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from inbox_devstack.ferretdb import FerretDb, ferretdb_binary
from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_runtime.logging import configure
from inbox_runtime.mongo import MongoTarget, mongo_target, with_database
from inbox_threading.actions import ThreadingActions
from inbox_threading.changes import ConversationQuery, NewConversation, NewItem, SearchQuery
from inbox_threading.domain import ContactPoint, ConversationStatus, Direction, NewInboundMessage, Viewer
from inbox_threading.store import ConversationStore
from inbox_threading.store.mongo import MongoConversationStore
from inbox_threading.store.mongo import documents as docs
from inbox_threading.store.mongo.indexes import CLAIMS, CONTACT_POINTS, CONVERSATIONS, CUSTOMERS, MESSAGES
from inbox_threading.store.sqlite import SqliteConversationStore

# A vocabulary with a long tail, as real text has: a few topic words everywhere, most words rare.
TOPICS = ["order", "parcel", "refund", "invoice", "late", "broken", "address", "delivery", "account", "payment"]
WORDS = TOPICS + [f"word{i}" for i in range(5000)]
AGENTS = [f"agent-{i}" for i in range(200)]
TEAMS = [f"team-{i}" for i in range(10)]
ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Seeded:
    customer_id: str
    contact: ContactPoint
    conversation: NewConversation
    status: int
    tagged: bool
    language: str
    items: tuple[NewItem, ...]


def dataset(messages: int) -> list[Seeded]:
    """Ten items per conversation, one conversation per customer, reproducibly."""
    rng = random.Random(7)
    seeded = []
    for c in range(messages // 10):
        customer_id, conversation_id = str(uuid.uuid4()), str(uuid.uuid4())
        contact = ContactPoint(2, f"+1{c:010d}")
        t0 = 1_700_000_000_000_000 + c * 1_000_000
        conversation = NewConversation(
            conversation_id,
            customer_id,
            rng.choice(["chat", "email", "sms"]),
            "support",
            t0,
            rng.choice(AGENTS),
            rng.choice(TEAMS),
        )
        items = tuple(
            NewItem(
                message_id=str(uuid.uuid4()),
                conversation_id=conversation_id,
                customer_id=customer_id,
                direction=Direction.INBOUND if n % 2 == 0 else Direction.OUTBOUND,
                channel="sms",
                inbox_id="support",
                agent_id="",
                contact=contact,
                text=" ".join(WORDS[min(int(rng.paretovariate(0.6)) - 1, len(WORDS) - 1)] for _ in range(8)),
                sent_at_us=t0 + n,
                received_at_us=t0 + n,
                at_us=t0 + n,
                provider_key=f"sms:p-{c}-{n}",
            )
            for n in range(10)
        )
        status = rng.choice([1, 1, 2, 3, 4, 4, 4])
        seeded.append(
            Seeded(
                customer_id, contact, conversation, status, rng.random() < 0.05, rng.choice(["en", "es", "de"]), items
            )
        )
    return seeded


def seed_sqlite(conn, seeded: list[Seeded]) -> None:  # type: ignore[no-untyped-def]
    for s in seeded:
        c = s.conversation
        active = c.conversation_id if s.status != ConversationStatus.RESOLVED else ""
        conn.execute(
            "INSERT INTO customers (customer_id, display_name, created_at_us, version, active_conversation_id) "
            "VALUES (?, '', ?, 1, ?)",
            (s.customer_id, c.opened_at_us, active),
        )
        conn.execute(
            "INSERT INTO contact_points VALUES (?, ?, ?, ?)", (2, s.contact.value, s.customer_id, c.opened_at_us)
        )
        conn.execute(
            "INSERT INTO conversations (conversation_id, customer_id, status, channel, inbox_id, assignee_agent_id, "
            "opened_at_us, last_activity_at_us, message_count, item_count, team, language) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 10, 10, ?, ?)",
            (
                c.conversation_id,
                s.customer_id,
                s.status,
                c.channel,
                "support",
                c.assignee_agent_id,
                c.opened_at_us,
                c.opened_at_us + 10_000,
                c.team,
                s.language,
            ),
        )
        if s.tagged:
            conn.execute("INSERT INTO conversation_tags VALUES (?, 'vip')", (c.conversation_id,))
        conn.executemany(
            "INSERT INTO messages (message_id, conversation_id, customer_id, direction, channel, inbox_id, agent_id, "
            "contact_kind, contact_value, text, provider_message_id, provider_key, sent_at_us, received_at_us, "
            "sequence) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i.message_id,
                    i.conversation_id,
                    i.customer_id,
                    int(i.direction),
                    3,
                    "support",
                    2,
                    s.contact.value,
                    i.text,
                    i.provider_key.partition(":")[2],
                    i.provider_key,
                    i.sent_at_us,
                    i.received_at_us,
                    n + 1,
                )
                for n, i in enumerate(s.items)
            ],
        )
    conn.execute("ANALYZE")


async def seed_mongo(store: MongoConversationStore, seeded: list[Seeded]) -> None:
    db = store._db  # the bench loads in bulk, as a migration would; the queries go through the interface
    batch: dict[str, list[dict[str, object]]] = {
        n: [] for n in (CUSTOMERS, CLAIMS, CONTACT_POINTS, CONVERSATIONS, MESSAGES)
    }

    async def flush() -> None:
        for name, documents in batch.items():
            if documents:
                await db[name].insert_many(documents, ordered=False)
                documents.clear()

    for s in seeded:
        c = s.conversation
        active = c.conversation_id if s.status != ConversationStatus.RESOLVED else ""
        batch[CUSTOMERS].append(
            {
                "_id": s.customer_id,
                "display_name": "",
                "created_at_us": c.opened_at_us,
                "attributes": {},
                "language": s.language,
            }
        )
        batch[CLAIMS].append(
            {
                "_id": docs.claim_id(s.customer_id, 1),
                "customer_id": s.customer_id,
                "version": 1,
                "active_conversation_id": active,
            }
        )
        batch[CONTACT_POINTS].append(
            {
                "_id": docs.contact_key(s.contact),
                "kind": 2,
                "value": s.contact.value,
                "customer_id": s.customer_id,
                "created_at_us": c.opened_at_us,
            }
        )
        conversation = {"_id": c.conversation_id, **docs.new_conversation(c)}
        conversation.update(
            status=s.status,
            language=s.language,
            message_count=10,
            last_activity_at_us=c.opened_at_us + 10_000,
            tags=["vip"] if s.tagged else [],
        )
        batch[CONVERSATIONS].append(conversation)
        batch[MESSAGES].extend(docs.new_message(i, n + 1) for n, i in enumerate(s.items))
        if len(batch[MESSAGES]) >= 20_000:
            await flush()
    await flush()


async def timed(label: str, runs: int, call: Callable[[int], Awaitable[object]]) -> tuple[str, float, float]:
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return label, statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


async def measure(
    store: ConversationStore, seeded: list[Seeded], nats_url: str, runs: int
) -> list[tuple[str, float, float]]:
    rng = random.Random(1)
    customers = [s.customer_id for s in seeded]
    results = [
        await timed(
            "my conversations (assignee, open)",
            runs,
            lambda i: store.list_conversations(
                ConversationQuery(assignee_agent_id=rng.choice(AGENTS), statuses=(ConversationStatus.OPEN,))
            ),
        ),
        await timed(
            "team queue (team, newest first)",
            runs,
            lambda i: store.list_conversations(ConversationQuery(team=rng.choice(TEAMS))),
        ),
        await timed("tag filter (vip)", runs, lambda i: store.list_conversations(ConversationQuery(tag="vip"))),
        await timed(
            "status filter (pending + snoozed)",
            runs,
            lambda i: store.list_conversations(
                ConversationQuery(statuses=(ConversationStatus.PENDING, ConversationStatus.SNOOZED))
            ),
        ),
        await timed(
            "customer timeline (first page)",
            runs,
            lambda i: store.timeline(rng.choice(customers), 100, "", exclude_notes=True),
        ),
        await timed(
            "search a common and a rarer word, as one agent",
            max(10, runs // 3),
            lambda i: store.search(
                SearchQuery((rng.choice(TOPICS), rng.choice(WORDS[12:200]))), Viewer(rng.choice(AGENTS)), 25, 0
            ),
        ),
        await timed(
            "search one common word, as an integrator",
            max(10, runs // 3),
            lambda i: store.search(SearchQuery((rng.choice(TOPICS),)), Viewer(), 25, 0),
        ),
    ]
    async with EventBus.connect(nats_url, service="bench") as bus:
        await bus.ensure_streams()
        actions = ThreadingActions(store, bus)

        async def ingest(i: int) -> object:
            now = time.time_ns() // 1000
            message = NewInboundMessage(
                str(uuid.uuid4()),
                "sms",
                "support",
                f"bench-{i}",
                ContactPoint(2, f"+1{i % 5000:010d}"),
                "",
                "where is my parcel",
                now,
                now,
            )
            return await actions.record_inbound(message)

        results.append(await timed("record an inbound message (use case, publish)", runs * 3, ingest))
    return results


def table(title: str, columns: list[str], rows: list[list[tuple[str, float, float]]]) -> None:
    print(title)
    print(f"  {'':<50}" + "".join(f"{c:>24}" for c in columns))
    for i, (label, _, _) in enumerate(rows[0]):
        cells = "".join(f"{f'{r[i][1]:.2f} / {r[i][2]:.2f} ms':>24}" for r in rows)
        print(f"  {label:<50}{cells}")
    print("  (p50 / p99)")


async def on_sqlite(folder: Path, seeded: list[Seeded], nats_url: str, runs: int) -> list[tuple[str, float, float]]:
    store = await SqliteConversationStore.open(folder / f"threading-{len(seeded)}.sqlite3")
    try:
        await store.database.write(lambda conn: seed_sqlite(conn, seeded))
        return await measure(store, seeded, nats_url, runs)
    finally:
        await store.close()


async def on_mongo(
    target: MongoTarget, seeded: list[Seeded], nats_url: str, runs: int
) -> list[tuple[str, float, float]]:
    store = await MongoConversationStore.open(target)
    try:
        started = time.perf_counter()
        await seed_mongo(store, seeded)
        seconds = time.perf_counter() - started
        print(f"  (MongoDB protocol: seeded {sum(len(s.items) for s in seeded):,} messages in {seconds:.0f} s)")
        return await measure(store, seeded, nats_url, runs)
    finally:
        await store._db.client.drop_database(target.database)
        await store.close()


async def main(messages: int, compared: int) -> None:
    configure("bench", json=False, level="WARNING")
    with tempfile.TemporaryDirectory() as scratch, NatsServer(Path(scratch) / "nats") as nats:
        folder = Path(scratch)
        if messages:
            started = time.perf_counter()
            seeded = dataset(messages)
            results = await on_sqlite(folder, seeded, nats.url, 300)
            table(
                f"threading store, SQLite, {messages:,} messages in {len(seeded):,} conversations "
                f"(seeded and measured in {time.perf_counter() - started:.0f} s):",
                ["SQLite"],
                [results],
            )
        if not compared:
            return
        seeded = dataset(compared)
        sqlite_results = await on_sqlite(folder, seeded, nats.url, 30)
        external = os.environ.get("BENCH_MONGODB_URI", "")
        if external:
            name = "MongoDB"
            mongo_results = await on_mongo(
                MongoTarget(with_database(mongo_target(external).uri, "inbox_bench"), "inbox_bench"),
                seeded,
                nats.url,
                30,
            )
        else:
            binary = ferretdb_binary() or (ROOT / ".tools" / "ferretdb-v1.24.2" / "ferretdb")
            if not binary.exists():
                print("MongoDB side not run: no BENCH_MONGODB_URI and no FerretDB (`make ferretdb` builds it)")
                return
            name = "FerretDB 1.24 (SQLite)"
            with FerretDb(binary, folder / "ferretdb") as ferret:
                mongo_results = await on_mongo(MongoTarget(ferret.uri("bench"), "bench"), seeded, nats.url, 30)
        table(
            f"threading store side by side, {compared:,} messages in {len(seeded):,} conversations:",
            ["SQLite", name],
            [sqlite_results, mongo_results],
        )


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else 2_000)
    )
