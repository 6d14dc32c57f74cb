"""Routing decisions with 1,000 agents and 10,000 waiting conversations: `make bench`.

Times the pure decision (`domain.decide` over every candidate), and the routing use case end to end
(read the record and the candidates, decide, write under the version and capacity check, publish) on the
routing service's own SQLite store and a real nats-server. Prints figures only.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from inbox_devstack.clock import Clock
from inbox_devstack.nats_server import NatsServer
from inbox_events import EventBus
from inbox_routing.actions import RoutingActions
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
from inbox_runtime.logging import configure

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
    """The use case end to end on the SQLite store and a real nats-server: read the record and the
    candidates, decide, write under the version and capacity check, publish the outcome."""
    rng = random.Random(5)
    policy = RoutingPolicy(offer_timeout_us=0)
    clock = Clock(0)
    with tempfile.TemporaryDirectory() as folder, NatsServer(Path(folder) / "nats") as nats:
        store = await SqliteRoutingStore.open(Path(folder) / "routing.sqlite3")
        async with EventBus.connect(nats.url, service="bench") as bus:
            await bus.ensure_streams()
            actions = RoutingActions(store, bus, policy, clock=clock)
            for agent in agents(agent_count, rng):
                await store.upsert_agent(
                    agent.agent_id, agent.display_name, {CHAT: 3}, agent.languages, agent.teams, dict(agent.skills)
                )
            # Everyone offline while the queue fills: 10,000 conversations waiting.
            started = time.perf_counter()
            for i in range(waiting):
                clock.now = i
                await actions.route(RouteRequest(f"w{i}", f"wc{i}", CHAT, "chat", generation=1))
            print(
                f"routing store: {agent_count:,} agents, {waiting:,} waiting conversations queued in "
                f"{time.perf_counter() - started:.1f} s"
            )
            for agent in agents(agent_count, random.Random(5)):
                await store.set_presence(agent.agent_id, Presence.AVAILABLE, 0)
            await actions.update_rules(
                {"rules": [{"id": f"r{t}", "match": {"inboxes": [t]}, "target": {"team": t}} for t in TEAMS]}, "bench"
            )
            samples = []
            for i in range(500):
                clock.now = waiting + i
                request = RouteRequest(f"n{i}", f"nc{i}", CHAT, rng.choice(TEAMS), generation=1)
                start = time.perf_counter()
                await actions.route(request)
                samples.append((time.perf_counter() - start) * 1000)
            report("route a new conversation to a team (read, decide, write)", samples)
            samples = []
            clock.now = 10**9
            for waiting_one in await store.queued(500):
                start = time.perf_counter()
                await actions.route(waiting_one.request, queued_at_us=waiting_one.queued_at_us, force=True)
                samples.append((time.perf_counter() - start) * 1000)
            report("place a waiting conversation, no team (queue pass)", samples)
        await store.close()


if __name__ == "__main__":
    configure("bench", json=False, level="WARNING")
    agent_count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    waiting = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    print(f"routing decisions, {agent_count:,} agents:")
    pure(agent_count, 500)
    asyncio.run(with_store(agent_count, waiting))
