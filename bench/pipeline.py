"""The pipeline end to end, black-box: `make bench` (or `python bench/pipeline.py [sustained messages] [backlog]`).

Starts the suite as processes on SQLite with the API channel on and 100 available agents, then sends signed
`POST /webhooks/api/messages`, each from a new customer and each one of 72 short support messages in six
languages in turn (bench/support_messages.py) (so each opens a conversation that routing places),
and taps what the services publish on NATS: the time each message is first seen on `conv.message_added`
(stored) and its conversation on `routing.conversation_*` (routed), and the first notice for it in
inbox-web's live feed (a supervisor's `/events`, visible). In the same run and on the same nats-server
(`sync_interval: always`) it measures R, the durable publish ceiling (pipelined `publish_async` into a fresh
stream), and counts k, the messages stored in the streams per inbound message. Prints:

- R, k and the sustained webhook -> routed rate (as fast as the pipeline takes them) against R/k;
- latency percentiles (webhook ack, stored, routed, visible) at 30, 100 and 300 msg/s offered;
- CPU milliseconds per inbound message for each service and nats-server, over the sustained run, and the
  bench's own client's (it shares the cores);
- each process's memory (RSS) idle, after the warm-up, and at its peak, after every phase;
- how long a backlog of inbound messages (30,000 unless told, the pipeline issue's figure; put on
  `inbound.api` at the broker's pace, which the time includes) takes to drain, every one of them routed.
  The floor has 10,000 seats (100 agents, 100 each); what the phases and the backlog bring beyond that
  waits in the queue.

Figures only, nothing asserted (the README keeps the table); the last lines say which of the pipeline
issue's targets this run met.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import nats
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_channel_api.adapter import api_message_id
from inbox_devstack.suite import LocalSuite
from inbox_events import EventBus, Outgoing
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.logging import configure
from inbox_runtime.signing import sign
from inbox_web_live import PASSWORD, bench_suite, log_in
from support_messages import ALL as SUPPORT_MESSAGES

AGENTS = 100
PHASES = ((30, 300), (100, 1000), (300, 1500))  # (offered msg/s, messages)
SETTLE_SECONDS = 60.0
ROUTED_TYPES = {
    "inbox.routing.v1.ConversationAssigned": routing_events.ConversationAssigned,
    "inbox.routing.v1.ConversationQueued": routing_events.ConversationQueued,
    "inbox.routing.v1.ConversationOffered": routing_events.ConversationOffered,
}


@dataclass
class Taps:
    """First sightings, in `time.perf_counter()` seconds."""

    stored: dict[str, float] = field(default_factory=dict)  # message id
    conversation_of: dict[str, str] = field(default_factory=dict)  # message id -> conversation id
    routed: dict[str, float] = field(default_factory=dict)  # conversation id
    visible: dict[str, float] = field(default_factory=dict)  # conversation id


@dataclass
class Sent:
    message_id: str
    started: float
    acked: float


async def tap(nc: nats.NATS, taps: Taps) -> None:
    async def on_added(msg: nats.aio.msg.Msg) -> None:
        seen = time.perf_counter()
        envelope = envelope_pb2.EventEnvelope.FromString(msg.data)
        added = conversation_events.MessageAdded()
        if envelope.payload.Unpack(added) and added.message.direction == message_pb2.DIRECTION_INBOUND:
            taps.stored.setdefault(added.message.message_id, seen)
            taps.conversation_of[added.message.message_id] = added.message.conversation_id

    async def on_routed(msg: nats.aio.msg.Msg) -> None:
        seen = time.perf_counter()
        envelope = envelope_pb2.EventEnvelope.FromString(msg.data)
        event_type = ROUTED_TYPES.get(envelope.type)
        if event_type is not None:
            event = event_type()
            envelope.payload.Unpack(event)
            taps.routed.setdefault(event.conversation_id, seen)

    # JetStream stores what is published on these subjects; a plain subscriber sees each as it is published.
    await nc.subscribe("conv.message_added", cb=on_added)
    await nc.subscribe("routing.>", cb=on_routed)


async def watch_live_feed(client: httpx.AsyncClient, taps: Taps, ready: asyncio.Event) -> None:
    async with client.stream("GET", "/events") as events:
        ready.set()
        async for line in events.aiter_lines():
            found = re.search(r'"conversation_id": "([^"]+)"', line) if line.startswith("data: ") else None
            if found:
                taps.visible.setdefault(found.group(1), time.perf_counter())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, field_name: str) -> float:
    """A process's resident memory (`VmRSS`) or its peak so far (`VmHWM`), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def put_backlog(nats_url: str, count: int, run: str) -> list[str]:
    """`count` inbound messages, each from a new customer, published pipelined straight onto `inbound.api`
    (as the API adapter would after `count` webhooks); their message ids."""
    items = []
    for n in range(count):
        external_id = f"backlog-{run}-{n}"
        item = channel_events.InboundMessage(
            message_id=api_message_id(external_id),
            channel=message_pb2.CHANNEL_API,
            inbox_id="api",
            provider_message_id=external_id,
            sender=message_pb2.ContactPoint(
                kind=message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER, value=f"backlog-{run}-{n}"
            ),
            sender_name="Bench",
            text=SUPPORT_MESSAGES[n % len(SUPPORT_MESSAGES)][1],
            kind=message_pb2.MESSAGE_KIND_TEXT,
        )
        item.received_at.GetCurrentTime()
        items.append(Outgoing(item, item.message_id))
    async with EventBus.connect(nats_url, service="bench") as bus:
        for start in range(0, count, 1000):
            await bus.publish_all(items[start : start + 1000])
    return [item.event_id for item in items]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * p) - 1))]


class Webhook:
    """The integrator's system: aiohttp, whose C parser costs the shared cores a fraction of what httpx
    does (httpx took 7.3 ms of CPU per message here, more than any service)."""

    def __init__(self, client: aiohttp.ClientSession, base: str, secret: str, run: str) -> None:
        self._client, self._url, self._secret, self.run = client, f"{base}/webhooks/api/messages", secret, run
        self._n = 0

    async def send(self) -> Sent:
        """One message from a new customer, signed as the integrator's system would."""
        self._n += 1
        external_id = f"bench-{self.run}-{self._n}"
        body = json.dumps(
            {
                "id": external_id,
                "from": f"customer-{self.run}-{self._n}",
                "name": "Bench",
                "text": SUPPORT_MESSAGES[self._n % len(SUPPORT_MESSAGES)][1],
            }
        ).encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "x-inbox-timestamp": str(stamp),
            "x-inbox-signature": sign(self._secret, stamp, body),
        }
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                async with self._client.post(self._url, data=body, headers=headers) as response:
                    await response.read()
                    response.raise_for_status()
                    break
            except aiohttp.ServerDisconnectedError:
                # A kept-alive connection the server closed as the request went out; the message id makes
                # the resend safe, as for any integrator's retry. Timed from the first attempt.
                if attempt == 2:
                    raise
        return Sent(api_message_id(external_id), started, time.perf_counter())


async def until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def durable_ceiling(js: nats.js.JetStreamContext, messages: int = 20_000) -> float:
    """R: pipelined durable publishes per second into a fresh file stream of the same server."""
    await js.add_stream(name="BENCH_CEILING", subjects=["bench.ceiling"])
    payload = b"x" * 300
    try:
        started = time.perf_counter()
        for _ in range(messages):
            await js.publish_async("bench.ceiling", payload)
        await js.publish_async_completed()
        return messages / (time.perf_counter() - started)
    finally:
        await js.delete_stream("BENCH_CEILING")


async def stored_messages(js: nats.js.JetStreamContext) -> dict[str, int]:
    """Messages stored per stream."""
    return {
        info.config.name: info.state.messages
        for info in await js.streams_info()
        if info.config.name and info.config.name != "BENCH_CEILING"
    }


async def settled_count(js: nats.js.JetStreamContext) -> dict[str, int]:
    """The streams' message counts once the pipeline has stopped adding to them."""
    previous: dict[str, int] = {}
    while True:
        current = await stored_messages(js)
        if current == previous:
            return current
        previous = current
        await asyncio.sleep(1.0)


async def offered(webhook: Webhook, rate: int, count: int) -> list[Sent]:
    """`count` messages at `rate` a second, each sent on time whatever the previous ones are doing."""
    started = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(webhook.send()))
    return list(await asyncio.gather(*tasks))


async def flat_out(webhook: Webhook, count: int, in_flight: int = 64) -> list[Sent]:
    slots = asyncio.Semaphore(in_flight)

    async def one() -> Sent:
        async with slots:
            return await webhook.send()

    return list(await asyncio.gather(*(one() for _ in range(count))))


def latencies(sent: list[Sent], taps: Taps) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"webhook ack": [], "stored": [], "routed": [], "visible": []}
    for s in sent:
        found["webhook ack"].append((s.acked - s.started) * 1000)
        if s.message_id in taps.stored:
            found["stored"].append((taps.stored[s.message_id] - s.started) * 1000)
        conversation = taps.conversation_of.get(s.message_id, "")
        if conversation in taps.routed:
            found["routed"].append((taps.routed[conversation] - s.started) * 1000)
        if conversation in taps.visible:
            found["visible"].append((taps.visible[conversation] - s.started) * 1000)
    return found


def all_routed(sent: list[Sent], taps: Taps) -> Callable[[], bool]:
    return lambda: all(taps.conversation_of.get(s.message_id, "") in taps.routed for s in sent)


@dataclass(frozen=True)
class Measured:
    k: float
    of_ceiling: float  # the sustained rate as a share of R/k
    routed_at_100: tuple[float, float]  # p50, p99 in ms
    ack_p99_at_300: float
    cpu_ms: float  # all services and nats-server, per inbound message
    idle_mb: dict[str, float]
    peak_mb: dict[str, float]
    backlog: int
    drained_in: float


async def add_agents(suite: LocalSuite) -> None:
    """AGENTS available agents, each with room for every conversation the bench opens (nothing waits)."""
    async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", suite.api_key) as channel:
        routing = routing_service_pb2_grpc.RoutingServiceStub(channel)
        for i in range(AGENTS):
            capacity = routing_service_pb2.ChannelCapacity(channel=message_pb2.CHANNEL_API, capacity=100)
            await routing.UpsertAgent(
                routing_service_pb2.UpsertAgentRequest(
                    agent_id=f"agent-{i}", display_name=f"Agent {i}", capacities=[capacity]
                )
            )
            await routing.SetPresence(
                routing_service_pb2.SetPresenceRequest(
                    agent_id=f"agent-{i}", presence=routing_service_pb2.PRESENCE_AVAILABLE
                )
            )


def target_verdicts(m: Measured) -> list[tuple[bool, str]]:
    """The pipeline issue's targets, each with whether this run met it (figures, never a test)."""
    p50, p99 = m.routed_at_100
    heaviest_idle = max(m.idle_mb, key=m.idle_mb.__getitem__)
    heaviest_peak = max(m.peak_mb, key=m.peak_mb.__getitem__)
    return [
        (m.k <= 3, f"k <= 3: {m.k:.2f}"),
        (m.of_ceiling >= 0.5, f"sustained >= 0.5 of R/k: {m.of_ceiling:.2f}"),
        (p50 <= 15 and p99 <= 50, f"at 100 msg/s, routed p50 <= 15 ms and p99 <= 50 ms: {p50:.1f} / {p99:.1f} ms"),
        (m.ack_p99_at_300 <= 25, f"at 300 msg/s, webhook ack p99 <= 25 ms: {m.ack_p99_at_300:.1f} ms"),
        (m.cpu_ms <= 3, f"CPU per inbound message <= 3 ms: {m.cpu_ms:.1f} ms"),
        (
            m.idle_mb[heaviest_idle] <= 150,
            f"each service <= 150 MB idle: {heaviest_idle} {m.idle_mb[heaviest_idle]:.0f} MB",
        ),
        (
            m.peak_mb[heaviest_peak] <= 300,
            f"each service <= 300 MB at peak: {heaviest_peak} {m.peak_mb[heaviest_peak]:.0f} MB",
        ),
        (
            m.backlog >= 30_000 and m.drained_in <= 60,
            f"a 30,000-message backlog drained in <= 60 s: {m.backlog:,} in {m.drained_in:.1f} s",
        ),
    ]


async def main(sustained: int, backlog: int) -> None:
    configure("bench", json=False, level="WARNING")
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as folder:
        # Replies would go to the callback URL; the bench sends none.
        suite = bench_suite(folder, CHANNELS_API_SECRET=secret, CHANNELS_API_CALLBACK_URL="http://127.0.0.1:9/unused")
        await asyncio.to_thread(suite.start)
        stack = contextlib.AsyncExitStack()
        try:
            await add_agents(suite)
            await asyncio.to_thread(suite.set_web_login, "lead", "lead", PASSWORD, supervisor=True)
            supervisor = await log_in(f"http://127.0.0.1:{suite.ports.web_http}", "lead")
            stack.push_async_callback(supervisor.aclose)
            taps = Taps()
            ready = asyncio.Event()
            feed = asyncio.create_task(watch_live_feed(supervisor, taps, ready))
            await ready.wait()
            nc = await nats.connect(suite.nats_url)
            stack.push_async_callback(nc.close)
            await tap(nc, taps)
            js = nc.jetstream()
            ceiling = await durable_ceiling(js)
            client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=128), timeout=aiohttp.ClientTimeout(total=30)
            )
            stack.push_async_callback(client.close)
            webhook = Webhook(client, f"http://127.0.0.1:{suite.ports.channels_http}", secret, secrets.token_hex(4))
            await until(all_routed(await offered(webhook, 10, 20), taps), SETTLE_SECONDS)  # warm up

            print(f"pipeline, webhook in -> routed, SQLite, {AGENTS} available agents, each message a new customer:")
            print(f"  R, durable publish ceiling of this nats-server (sync_interval: always)  {ceiling:8.0f} msg/s")
            before = await settled_count(js)
            pids = suite.pids()
            idle_mb = {name: memory_mb(pid, "VmRSS") for name, pid in pids.items()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            bench_cpu_before = time.process_time()
            started = time.perf_counter()
            sent = await flat_out(webhook, sustained)
            complete = await until(all_routed(sent, taps), SETTLE_SECONDS * 5)
            last = max(
                taps.routed[taps.conversation_of[s.message_id]] for s in sent if s.message_id in taps.conversation_of
            )
            rate = len(sent) / (last - started)
            after = await settled_count(js)
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / sustained for name, pid in pids.items()}
            # The bench's own client (HTTP, signing, taps, the live feed) on the same two cores.
            bench_cpu = (time.process_time() - bench_cpu_before) * 1000 / sustained
            per_stream = {name: (after[name] - before.get(name, 0)) / sustained for name in sorted(after)}
            k = sum(per_stream.values())
            print(f"  k, messages stored in the streams per inbound message (counted)          {k:8.2f}")
            print("    per stream: " + ", ".join(f"{name} {n:.2f}" for name, n in per_stream.items() if n))
            print(
                f"  sustained webhook -> routed, {sustained} messages flat out{'' if complete else ' (not all routed)'}"
                f"            {rate:8.0f} msg/s = {rate / (ceiling / k):.2f} of R/k"
            )
            print("  CPU per inbound message: " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in sorted(cpu.items())))
            print(f"  total CPU per inbound message {sum(cpu.values()):47.1f} ms")
            print(f"  the bench's own client, on the same cores: {bench_cpu:.1f} ms per message")

            at: dict[tuple[int, str], tuple[float, float]] = {}  # (offered rate, stage) -> (p50, p99)
            for rate_offered, count in PHASES:
                sent = await offered(webhook, rate_offered, count)
                await until(all_routed(sent, taps), SETTLE_SECONDS)
                await until(
                    lambda s=sent: all(taps.conversation_of.get(x.message_id, "") in taps.visible for x in s), 5
                )
                print(f"  at {rate_offered} msg/s offered ({count} messages):")
                for stage, samples in latencies(sent, taps).items():
                    if samples:
                        p50, p99 = statistics.median(samples), percentile(samples, 0.99)
                        at[(rate_offered, stage)] = (p50, p99)
                        print(f"    {stage:<12} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   ({len(samples)} of {count})")

            started = time.perf_counter()
            backlog_ids = await put_backlog(suite.nats_url, backlog, webhook.run)
            put_in = time.perf_counter() - started

            def backlog_routed() -> bool:
                return all(taps.conversation_of.get(m, "") in taps.routed for m in backlog_ids)

            drained = await until(backlog_routed, SETTLE_SECONDS + backlog / 20)
            drained_in = time.perf_counter() - started
            print(
                f"  a backlog of {backlog} inbound messages (put on inbound.api in {put_in:.1f} s) "
                f"{'drained' if drained else 'NOT drained'} in {drained_in:.1f} s = {backlog / drained_in:.0f} msg/s"
            )
            peak_mb = {name: memory_mb(pid, "VmHWM") for name, pid in pids.items()}
            print(
                "  memory (RSS) idle / peak: "
                + ", ".join(f"{n} {idle_mb[n]:.0f} / {peak_mb[n]:.0f} MB" for n in sorted(pids))
            )
            services = [name for name in pids if name != "nats-server"]
            measured = Measured(
                k=k,
                of_ceiling=rate / (ceiling / k),
                routed_at_100=at.get((100, "routed"), (float("inf"), float("inf"))),
                ack_p99_at_300=at.get((300, "webhook ack"), (0.0, float("inf")))[1],
                cpu_ms=sum(cpu.values()),
                idle_mb={n: idle_mb[n] for n in services},
                peak_mb={n: peak_mb[n] for n in services},
                backlog=backlog,
                drained_in=drained_in if drained else float("inf"),
            )
            print("  the pipeline issue's targets:")
            for met, line in target_verdicts(measured):
                print(f"    {'met    ' if met else 'NOT met'}  {line}")
            feed.cancel()
        finally:
            await stack.aclose()
            await asyncio.to_thread(suite.stop)


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, int(sys.argv[2]) if len(sys.argv) > 2 else 30_000)
    )
