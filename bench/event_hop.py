"""What one durable hop costs with nothing else to do: `make bench` (or `python bench/event_hop.py [events]`).

A hop is what every event of the pipeline pays before any business logic: published through our EventBus
(pipelined, waiting for JetStream's acknowledgement, `sync_interval: always`) and consumed by a durable pull
consumer of the same bus in batches by lane, with a handler that does nothing, then acked. Prints the CPU
milliseconds per event on the publishing side, on the consuming side and in nats-server: the floor under the
pipeline's CPU per inbound message, which takes k such hops (see bench/pipeline.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from inbox.conversations.v1 import events_pb2 as conv
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.waiting import eventually
from inbox_events import ConsumerSpec, Event, EventBus, Outgoing
from inbox_runtime.logging import configure

SPEC = ConsumerSpec(
    durable="bench-hop",
    subjects=("conv.reopened",),
    event_type=conv.ConversationReopened,
    lane=lambda event: event.customer_id,
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder, NatsServer(Path(folder) / "nats") as server:
        assert server.pid is not None
        async with EventBus.connect(server.url, service="bench") as bus:
            await bus.ensure_streams()
            events = [
                Outgoing(
                    conv.ConversationReopened(conversation_id=f"conv-{n}", customer_id=f"cust-{n % 3000}", text="hi"),
                    f"hop-{n}",
                )
                for n in range(count)
            ]
            own, broker = time.process_time(), cpu_seconds(server.pid)
            for start in range(0, count, 500):
                await bus.publish_all(events[start : start + 500])
            published_own, published_broker = time.process_time() - own, cpu_seconds(server.pid) - broker

            handled = 0
            done = asyncio.Event()

            async def handle(event: Event[conv.ConversationReopened]) -> None:
                nonlocal handled
                handled += 1
                if handled == count:
                    done.set()

            own, broker = time.process_time(), cpu_seconds(server.pid)
            async with bus.consume(SPEC, handle):
                await done.wait()
                await eventually(lambda: bus.settled(SPEC), what="every event acked")
            consumed_own, consumed_broker = time.process_time() - own, cpu_seconds(server.pid) - broker

    per_event = 1000 / count
    print(f"one durable hop, {count} events, no business logic (CPU per event):")
    print(
        f"  publish (pipelined, acknowledged)   publisher {published_own * per_event:5.2f} ms   "
        f"nats-server {published_broker * per_event:5.2f} ms"
    )
    print(
        f"  consume in batches by lane, ack     consumer  {consumed_own * per_event:5.2f} ms   "
        f"nats-server {consumed_broker * per_event:5.2f} ms"
    )
    total = (published_own + published_broker + consumed_own + consumed_broker) * per_event
    print(f"  one hop in all                      {total:5.2f} ms")


if __name__ == "__main__":
    configure("bench", json=False, level="WARNING")
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
