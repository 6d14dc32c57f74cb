"""Routing decisions with 1,000 agents and 10,000 waiting conversations: `make bench`.

Times the pure decision (`domain.decide` over every candidate) and the store's conditional write that
counts load and records the decision, on the routing service's own SQLite store. Prints figures only.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from inbox_routing.domain import (
    CHAT,
    Agent,
    Candidate,
    Presence,
    RouteRequest,
    RoutingPolicy,
    Target,
    decide,
)
from inbox_routing.store.sqlite import SqliteRoutingStore

TEAMS = [f"team-{i}" for i in range(20)]
SKILLS = ["refunds", "billing", "technical", "spanish", "german", "vip"]


def report(label: str, samples_ms: list[float]) -> None:
    samples_ms.sort()
    p50 = statistics.median(samples_ms)
    p99 = samples_ms[int(len(samples_ms) * 0.99) - 1]
    rate = 1000 / statistics.fmean(samples_ms)
    print(f"  {label:<52} {rate:9,.0f}/s   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")


def agents(count: int, rng: random.Random) -> list[Agent]:
    return [
        Agent(
            agent_id=f"agent-{i:04d}",
            display_name=f"Agent {i}",
            presence=Presence.AVAILABLE,
            capacities={CHAT: 3},
            languages=("en", rng.choice(["es", "de", "fr"])),
            last_assigned_at_us=rng.randrange(1_000_000),
            teams=(rng.choice(TEAMS),),
            skills=tuple(sorted((s, rng.randint(1, 10)) for s in rng.sample(SKILLS, 3))),
        )
        for i in range(count)
    ]


def pure(agent_count: int, runs: int) -> None:
    rng = random.Random(3)
    pool = agents(agent_count, rng)
    samples = []
    for i in range(runs):
        candidates = [Candidate(a, rng.randint(0, 3)) for a in pool]
        target = Target(team=rng.choice(TEAMS), required_skills=((rng.choice(SKILLS), 3),), preferred_skills=("vip",))
        request = RouteRequest(f"c{i}", f"cust{i}", CHAT, "chat", language=rng.choice(["en", "es"]))
        start = time.perf_counter()
        decide(request, target, candidates)
        samples.append((time.perf_counter() - start) * 1000)
    report(f"decide() over {agent_count:,} candidates (pure)", samples)


async def with_store(agent_count: int, waiting: int) -> None:
    rng = random.Random(5)
    policy = RoutingPolicy(offer_timeout_us=0)
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteRoutingStore.open(Path(folder) / "routing.sqlite3")
        for agent in agents(agent_count, rng):
            await store.upsert_agent(
                agent.agent_id, agent.display_name, {CHAT: 3}, agent.languages, agent.teams, dict(agent.skills)
            )
        # Everyone offline while the queue fills: 10,000 conversations waiting.
        started = time.perf_counter()
        for i in range(waiting):
            await store.route(RouteRequest(f"w{i}", f"wc{i}", CHAT, "chat", generation=1), Target(), "", 0, policy, i)
        print(
            f"routing store: {agent_count:,} agents, {waiting:,} waiting conversations queued in "
            f"{time.perf_counter() - started:.1f} s"
        )
        for agent in agents(agent_count, random.Random(5)):
            await store.set_presence(agent.agent_id, Presence.AVAILABLE, 0)
        samples = []
        for i in range(500):
            request = RouteRequest(f"n{i}", f"nc{i}", CHAT, "chat", generation=1)
            target = Target(team=rng.choice(TEAMS))
            start = time.perf_counter()
            await store.route(request, target, "", 0, policy, waiting + i)
            samples.append((time.perf_counter() - start) * 1000)
        report("route a new conversation (count load, decide, write)", samples)
        samples = []
        for waiting_one in (await store.queued(500))[:500]:
            start = time.perf_counter()
            await store.route(waiting_one.request, Target(), "", 0, policy, 10**9, force=True)
            samples.append((time.perf_counter() - start) * 1000)
        report("place a waiting conversation (queue pass)", samples)
        await store.close()


if __name__ == "__main__":
    agent_count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    waiting = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    print(f"routing decisions, {agent_count:,} agents:")
    pure(agent_count, 500)
    asyncio.run(with_store(agent_count, waiting))
