"""Live notices, end to end: `make bench` (or `python bench/inbox_web_live.py [agents] [events]`).

Starts the suite as processes (SQLite), logs in 50 agents, each holding an open `/events` stream as a
browser page does, then publishes conversation events on NATS as threading would (one assignment event per
agent, in turn, each for a conversation inbox-web has not seen, so its owner is looked up too) and times
each from the publish to the moment the agent's stream delivered the notice. Prints percentiles only.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox_devstack.suite import LocalSuite, SuitePorts
from inbox_events import EventBus, Outgoing
from inbox_runtime.logging import configure

PASSWORD = "bench password, long enough"


async def listen(client: httpx.AsyncClient, expected: dict[str, asyncio.Future[float]], ready: asyncio.Event) -> None:
    async with client.stream("GET", "/events") as events:
        ready.set()
        async for line in events.aiter_lines():
            found = re.search(r'"conversation_id": "([^"]+)"', line) if line.startswith("data: ") else None
            waiting = expected.pop(found.group(1), None) if found else None
            if waiting is not None and not waiting.done():
                waiting.set_result(time.perf_counter())


async def log_in(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=None)
    form = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    await client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf.group(1)})
    return client


def bench_suite(folder: str, **settings: str) -> LocalSuite:
    """The suite as processes in a throwaway folder, on free ports, with fresh secrets, logging warnings only."""
    return LocalSuite(
        base_dir=Path(folder),
        chat_secret=secrets.token_urlsafe(24),
        web_session_secret=secrets.token_urlsafe(32),
        ports=SuitePorts.free(),
        extra_env={"LOG_LEVEL": "WARNING", **settings},
    )


async def main(agents: int, events: int) -> None:
    configure("bench", json=False, level="WARNING")
    with tempfile.TemporaryDirectory() as folder:
        suite = bench_suite(folder)
        await asyncio.to_thread(suite.start)
        try:
            for i in range(agents):
                await asyncio.to_thread(suite.set_web_login, f"agent-{i}", f"agent-{i}", PASSWORD)
            base = f"http://127.0.0.1:{suite.ports.web_http}"
            clients = [await log_in(base, f"agent-{i}") for i in range(agents)]
            expected: list[dict[str, asyncio.Future[float]]] = [{} for _ in range(agents)]
            ready = [asyncio.Event() for _ in range(agents)]
            listeners = [asyncio.create_task(listen(c, expected[i], ready[i])) for i, c in enumerate(clients)]
            await asyncio.gather(*(r.wait() for r in ready))
            async with EventBus.connect(suite.nats_url, service="bench") as bus:
                samples: list[float] = []
                for n in range(events):
                    agent = n % agents
                    conversation_id = str(uuid.uuid4())
                    changed = conversation_events.AssigneeChanged(
                        conversation_id=conversation_id, agent_id=f"agent-{agent}"
                    )
                    delivered = asyncio.get_running_loop().create_future()
                    expected[agent][conversation_id] = delivered
                    started = time.perf_counter()
                    await bus.publish_live([Outgoing(changed, f"bench-{n}")])
                    try:
                        samples.append((await asyncio.wait_for(delivered, 10) - started) * 1000)
                    except TimeoutError:
                        expected[agent].pop(conversation_id, None)
            for task in listeners:
                task.cancel()
            for client in clients:
                await client.aclose()
        finally:
            await asyncio.to_thread(suite.stop)
    samples.sort()
    print(f"live notices, {agents} agents with an open page, {len(samples)} of {events} events delivered:")
    print(
        f"  published on NATS -> notice on the agent's stream   p50 {statistics.median(samples):6.1f} ms"
        f"   p99 {samples[int(len(samples) * 0.99) - 1]:6.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50, int(sys.argv[2]) if len(sys.argv) > 2 else 500))
