"""What replicas give: the pipeline's sustained ingest on a three-node JetStream cluster (every stream R3), with
one replica of each service and then two of threading and routing (`make bench`, or
`python bench/scaling.py [messages]`).

As bench/pipeline.py: the suite as processes on SQLite with the API channel on and 100 available agents,
signed webhooks each from a new customer, flat out, timed from the first send to the last conversation seen
routed on NATS; CPU per inbound message for each process. All of it on this machine's two cores, so the
second replicas share the cores with the first: the figure says what a replica costs, and what it buys
where the cores are not already full. Figures only, nothing asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import nats
from inbox_devstack.nats_server import NatsCluster
from inbox_devstack.ports import free_port
from inbox_devstack.suite import SERVICES
from inbox_runtime.logging import configure
from inbox_web_live import bench_suite
from pipeline import SETTLE_SECONDS, Taps, Webhook, add_agents, all_routed, cpu_seconds, flat_out, offered, tap, until

SCALED = ("threading", "routing")
PORT_SETTINGS = {"threading": "THREADING_GRPC_PORT", "routing": "ROUTING_GRPC_PORT"}


async def measure(replicas: int, messages: int) -> tuple[float, dict[str, float]]:
    """(sustained msg/s, CPU ms per inbound message by process) with `replicas` of threading and routing."""
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as folder:
        suite = bench_suite(
            folder,
            CHANNELS_API_SECRET=secret,
            CHANNELS_API_CALLBACK_URL="http://127.0.0.1:9/unused",
            NATS_STREAM_REPLICAS="3",
        )
        suite.nats = NatsCluster(Path(folder) / "cluster", log_dir=suite.log_dir)
        await asyncio.to_thread(suite.start_nats)  # the cluster, and the API keys on it
        await asyncio.to_thread(suite.start)
        stack = contextlib.AsyncExitStack()
        try:
            for service in (s for s in SERVICES if s.name in SCALED and replicas > 1):
                env = {PORT_SETTINGS[service.name]: str(free_port())}
                suite.start_service(service, replica="b", env=env)
                await asyncio.to_thread(suite.wait_ready, service, env, replica="b")
            await add_agents(suite)
            taps = Taps()
            nc = await nats.connect(servers=suite.nats_url.split(","))
            stack.push_async_callback(nc.close)
            await tap(nc, taps)
            client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128))
            stack.push_async_callback(client.close)
            webhook = Webhook(client, f"http://127.0.0.1:{suite.ports.channels_http}", secret, secrets.token_hex(4))
            await until(all_routed(await offered(webhook, 10, 20), taps), SETTLE_SECONDS)  # warm up
            pids = suite.pids()
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            sent = await flat_out(webhook, messages)
            await until(all_routed(sent, taps), SETTLE_SECONDS * 5)
            last = max(
                taps.routed[taps.conversation_of[s.message_id]] for s in sent if s.message_id in taps.conversation_of
            )
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / messages for name, pid in pids.items()}
            return messages / (last - started), cpu
        finally:
            await stack.aclose()
            await asyncio.to_thread(suite.stop)


async def main(messages: int) -> None:
    configure("bench", json=False, level="WARNING")
    print(f"scaling: webhook in -> routed on a three-node JetStream cluster (R3), {messages} messages flat out:")
    for replicas in (1, 2):
        rate, cpu = await measure(replicas, messages)
        label = "one replica of each service" if replicas == 1 else "two replicas of threading and routing"
        print(f"  {label:<40} {rate:6.0f} msg/s, CPU {sum(cpu.values()):.1f} ms per message")
        print("    " + ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(cpu.items())))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
