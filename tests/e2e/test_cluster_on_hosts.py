"""The suite spread over six hosts (network namespaces on a bridge, made by the test): a three-node JetStream
cluster with R3 streams on n1-n3, FerretDB (the MongoDB protocol) on `store`, two replicas each of threading,
routing and channels on `svc-a` and `svc-b` (translation on `svc-b`). Customers write at a steady rate through
both channels replicas, as through a load balancer; a third of the way in the INBOUND stream's leader node is
killed (-9), two thirds in every process on `svc-a` (one replica of each service), and neither comes back.

Then the checks: every accepted item stored once and in its customer's order, one active conversation per
customer, every conversation routed, no agent over capacity, nothing dead-lettered, the survivors serving.
How long the pipeline stalled at each kill is measured and printed, never asserted.

`make test` runs the short version; `make cluster-test` the full one (CLUSTER_SCALE=full). Skipped, saying
why, where the machine does not allow network namespaces or FerretDB is not built."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.aio.msg
import pytest
from inbox.conversations.v1 import conversation_service_pb2_grpc
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox.routing.v1 import routing_service_pb2_grpc
from inbox_devstack import netns
from inbox_devstack.apertium import ApyServer
from inbox_devstack.ferretdb import FerretDb, ferretdb_binary
from inbox_devstack.nats_server import NatsCluster
from inbox_devstack.plugin import skip_and_say
from inbox_devstack.suite import SERVICES, LocalSuite, ServiceProcess, SuitePorts, replica_key
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import IssuedKey
from inbox_runtime.grpc_client import authenticated_channel

from .chaos import (
    Customer,
    Load,
    Scale,
    add_agents,
    assigned_over_capacity,
    dead_letters,
    over_capacity,
    read_back,
    settled,
    stored_problems,
    write_all,
)
from .conftest import AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE


@dataclass(frozen=True)
class Spread:
    customers: int
    items_per_customer: int
    # Items offered a second, whatever the kills are doing (each customer's next item waits for the last).
    rate: float
    agents: int
    seats_per_channel: int


# The rate stays under what the survivors carry once a service host is gone, so the stalls measured are the
# kills', not a backlog's. Here that bound is FerretDB's SQLite backend (one file, one writer at a time, for
# every service): one threading replica stores about 5 items a second on it. A real replica set carries far more.
SPREADS = {
    "short": Spread(customers=30, items_per_customer=4, rate=6.0, agents=4, seats_per_channel=6),
    "full": Spread(customers=150, items_per_customer=4, rate=4.0, agents=12, seats_per_channel=10),
}
SCALE_NAME = os.environ.get("CLUSTER_SCALE", "short")
if SCALE_NAME not in SPREADS:
    raise ValueError(f"CLUSTER_SCALE: {SCALE_NAME!r} is not one of {sorted(SPREADS)}")
SPREAD = SPREADS[SCALE_NAME]

NATS_HOSTS = ("n1", "n2", "n3")
SERVICE_HOSTS = ("svc-a", "svc-b")
HOSTS = (*NATS_HOSTS, "store", *SERVICE_HOSTS)
REPLICATED = tuple(s for s in SERVICES if s.name in ("threading", "routing", "channels"))
TRANSLATION = next(s for s in SERVICES if s.name == "translation")
# Every host has its own network stack: each service listens on its usual port there.
PORTS = SuitePorts()
ROUTED_TYPES = {
    "inbox.routing.v1.ConversationAssigned": routing_events.ConversationAssigned,
    "inbox.routing.v1.ConversationQueued": routing_events.ConversationQueued,
    "inbox.routing.v1.ConversationOffered": routing_events.ConversationOffered,
}


@dataclass
class Deployment:
    hosts: netns.Hosts
    suite: LocalSuite
    cluster: NatsCluster
    api_secret: str
    # Each process on a service host, by its suite key (`threading-svc-a`), with the host it runs on.
    placed: dict[str, tuple[ServiceProcess, str]] = field(default_factory=dict)

    def env_on(self, host: str) -> dict[str, str]:
        """What differs for a process on `host` from the suite's settings."""
        return {"BIND_HOST": self.hosts.address(host), "DATA_DIR": str(self.suite.base_dir / host)}

    def target(self, port: int, hosts: tuple[str, ...] = SERVICE_HOSTS) -> str:
        """Every replica's address for one gRPC client channel: round_robin spreads calls over the live ones."""
        return "ipv4:" + ",".join(f"{self.hosts.address(h)}:{port}" for h in hosts)

    def entry_points(self) -> list[str]:
        return [f"http://{self.hosts.address(h)}:{PORTS.channels_http}" for h in SERVICE_HOSTS]


@pytest.fixture
def deployment(tmp_path: Path, integrator: IssuedKey, apy_server: ApyServer) -> Iterator[Deployment]:
    if not netns.available():
        skip_and_say(
            "cluster on hosts not run: this machine does not allow network namespaces (`ip netns add` needs root)"
        )
    binary = ferretdb_binary()
    if binary is None:
        skip_and_say("cluster on hosts not run: no FerretDB (FERRETDB_BIN; `make test` builds it where Go >= 1.24 is)")
    with contextlib.ExitStack() as stack:
        hosts = stack.enter_context(netns.Hosts(HOSTS, net=1))
        store = FerretDb(
            binary,
            tmp_path / "ferretdb",
            27017,
            tmp_path / "ferretdb.log",
            host=hosts.address("store"),
            on=hosts.run_on("store", []),
        )
        store.start()
        stack.callback(store.stop)
        cluster = NatsCluster(
            tmp_path / "cluster", log_dir=tmp_path, places=[(hosts.address(n), hosts.run_on(n, [])) for n in NATS_HOSTS]
        )
        api_secret = secrets.token_urlsafe(32)
        suite = LocalSuite(
            base_dir=tmp_path / "suite",
            chat_secret=secrets.token_urlsafe(24),
            web_session_secret=secrets.token_urlsafe(32),
            ports=PORTS,
            integrator=integrator,
            nats=cluster,
            extra_env={
                "MONGODB_URI": store.uri("inbox"),
                "NATS_STREAM_REPLICAS": "3",
                "CHANNELS_API_SECRET": api_secret,
                "CHANNELS_API_CALLBACK_URL": "http://127.0.0.1:9/unused",
                "TRANSLATION_APERTIUM_URL": f"http://{hosts.gateway}:{apy_server.port}",
            },
        )
        stack.callback(suite.stop)  # the services, then the cluster
        suite.start_nats()
        deployment = Deployment(hosts, suite, cluster, api_secret)
        deployment.suite.extra_env |= {
            "CONVERSATIONS_GRPC_TARGET": deployment.target(PORTS.conversations_grpc),
            "ROUTING_GRPC_TARGET": deployment.target(PORTS.routing_grpc),
            "CHANNELS_GRPC_TARGET": deployment.target(PORTS.channels_grpc),
            "TRANSLATION_GRPC_TARGET": deployment.target(PORTS.translation_grpc, ("svc-b",)),
        }
        placements = [(service, host) for host in SERVICE_HOSTS for service in REPLICATED]
        placements.append((TRANSLATION, "svc-b"))
        for service, host in placements:
            suite.start_service(service, replica=host, env=deployment.env_on(host), on=hosts.run_on(host, []))
            deployment.placed[replica_key(service, host)] = (service, host)
        for service, host in placements:
            suite.wait_ready(service, deployment.env_on(host), replica=host)
        yield deployment
        # The survivors must stop cleanly on SIGTERM, as after any other run.
        failed = {key: code for key, code in suite.stop().items() if code != 0}
        if failed:
            logs = {p.name: p.read_text()[-2000:] for p in suite.log_dir.glob("*.log")}
            pytest.fail(f"services exited badly on SIGTERM: {failed}\n{logs}")


@dataclass
class Sightings:
    """When each customer item was first seen stored, and each conversation first routed (monotonic s)."""

    stored: dict[str, float] = field(default_factory=dict)  # the item's text
    routed: dict[str, float] = field(default_factory=dict)  # conversation id


async def watch(nc: nats.NATS, seen: Sightings) -> None:
    """Plain subscriptions on what threading and routing publish: each sees an event as it is published."""

    async def on_added(msg: nats.aio.msg.Msg) -> None:
        envelope = envelope_pb2.EventEnvelope.FromString(msg.data)
        added = conversation_events.MessageAdded()
        if envelope.payload.Unpack(added) and added.message.direction == message_pb2.DIRECTION_INBOUND:
            seen.stored.setdefault(added.message.text, time.monotonic())

    async def on_routed(msg: nats.aio.msg.Msg) -> None:
        envelope = envelope_pb2.EventEnvelope.FromString(msg.data)
        event_type = ROUTED_TYPES.get(envelope.type)
        if event_type is not None:
            event = event_type()
            envelope.payload.Unpack(event)
            seen.routed.setdefault(event.conversation_id, time.monotonic())

    await nc.subscribe("conv.message_added", cb=on_added)
    await nc.subscribe("routing.>", cb=on_routed)


@dataclass(frozen=True)
class Kill:
    what: str
    at: float


class Schedule:
    """Hands out send slots at `rate` a second, and at each mark runs its kill (in a thread, while the work
    goes on). Each kill waits for the one before it, so each meets work in flight."""

    def __init__(self, rate: float, kills: list[tuple[int, str, Callable[[], None]]]) -> None:
        self._rate = rate
        self._slots = 0
        self._started = time.monotonic()
        self._kills = kills  # (mark in items sent, name, what to call)
        self.done: list[Kill] = []
        self._running: list[asyncio.Task[None]] = []

    async def gate(self, _accepted: int) -> None:
        slot = self._slots
        self._slots += 1
        if self._kills and slot >= self._kills[0][0]:
            _, name, action = self._kills.pop(0)
            self.done.append(Kill(name, time.monotonic()))
            self._running.append(asyncio.create_task(asyncio.to_thread(action)))
        delay = self._started + slot / self._rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def finish(self) -> None:
        await asyncio.gather(*self._running)


def stall_after(kill: Kill, stored_times: list[float]) -> float:
    """The longest pause between two items stored, among those from the kill to 30 s after it."""
    around = [t for t in stored_times if kill.at - 1 <= t <= kill.at + 30]
    return max((b - a for a, b in itertools.pairwise(around)), default=0.0)


@pytest.mark.timeout(1800 if SCALE_NAME == "full" else 300)
async def test_the_suite_on_six_hosts_loses_nothing_when_a_nats_node_and_a_service_host_die(
    deployment: Deployment,
) -> None:
    suite, cluster = deployment.suite, deployment.cluster
    scale = Scale(
        customers=SPREAD.customers,
        items_per_customer=SPREAD.items_per_customer,
        replies=0,
        agents=SPREAD.agents,
        seats_per_channel=SPREAD.seats_per_channel,
        concurrency=SPREAD.customers,
    )
    customers = [Customer(i, "api") for i in range(SPREAD.customers)]
    total = SPREAD.customers * SPREAD.items_per_customer
    async with authenticated_channel(deployment.target(PORTS.routing_grpc), suite.api_key) as channel:
        await add_agents(routing_service_pb2_grpc.RoutingServiceStub(channel), scale)

    admin = await nats.connect(servers=suite.nats_url.split(","))
    info = await admin.jetstream().stream_info("INBOUND")
    await admin.close()
    assert info.config.num_replicas == 3 and info.cluster is not None and info.cluster.leader
    leader = info.cluster.leader
    # The watcher on the nodes that stay: its own reconnection would look like a stall.
    others = [cluster.node(name).url for name in NATS_HOSTS if name != leader]  # hosts named as their nodes
    seen = Sightings()
    watcher = await nats.connect(servers=others)
    await watch(watcher, seen)

    def kill_leader() -> None:
        cluster.node(leader).kill()

    def kill_service_host() -> None:
        for key, (_, host) in deployment.placed.items():
            if host == "svc-a":
                code = suite.stop_service(key, signal.SIGKILL)
                assert code == -signal.SIGKILL, f"{key} had already exited ({code}) before it was killed"

    schedule = Schedule(
        SPREAD.rate,
        [
            (total // 3, f"nats node {leader} (INBOUND's leader)", kill_leader),
            (2 * total // 3, "svc-a: threading, routing and channels", kill_service_host),
        ],
    )
    load = Load(suite, deployment.api_secret, AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE, deployment.entry_points())
    writing = await write_all(load, customers, scale, schedule.gate, schedule.finish)
    await eventually(lambda: settled(suite), 300, what="every consumer settled after the load")

    async with authenticated_channel(deployment.target(PORTS.conversations_grpc), suite.api_key) as channel:
        stored = await read_back(conversation_service_pb2_grpc.ConversationServiceStub(channel))
    counts, problems = stored_problems(customers, SPREAD.items_per_customer, stored)
    unrouted = [c.conversation_id for c in stored.conversations if c.conversation_id not in seen.routed]
    problems += [f"conversation {c} was never assigned nor queued" for c in unrouted]
    async with authenticated_channel(deployment.target(PORTS.routing_grpc), suite.api_key) as channel:
        crowded = await over_capacity(routing_service_pb2_grpc.RoutingServiceStub(channel))
    crowded += assigned_over_capacity(stored.conversations, scale)
    problems += crowded
    dead = await dead_letters(suite)
    if dead:
        problems.append(f"{dead} events dead-lettered")
    for service, host in deployment.placed.values():
        if host != "svc-a":
            await asyncio.to_thread(suite.wait_ready, service, deployment.env_on(host), 10.0, replica=host)
    await watcher.close()

    admin = await nats.connect(servers=others)
    moved = await admin.jetstream().stream_info("INBOUND")
    await admin.close()
    assert moved.cluster is not None and moved.cluster.leader not in ("", leader)

    stored_times = sorted(seen.stored.values())
    retried = sum(1 for a in load.accepted if a.attempts > 1)
    print(f"\ncluster on hosts ({SCALE_NAME}):")
    print(f"  {len(load.accepted)} of {total} items accepted in {writing:.1f} s ({SPREAD.rate:.0f}/s offered)")
    refusals = ", ".join(f"{count} {why}" for why, count in load.refusals.most_common())
    print(f"  {retried} accepted after a retry, on the other channels replica ({refusals or 'no refusal'})")
    for name, value in counts.items():
        print(f"  {name}: {value}")
    print(f"  conversations routed: {len(stored.conversations) - len(unrouted)} of {len(stored.conversations)}")
    print(f"  agents over capacity: {len(crowded)}; dead letters: {dead}")
    print(f"  INBOUND's leader: {leader}, then {moved.cluster.leader}")
    for kill in schedule.done:
        slowest = max(
            (
                seen.stored[a.customer.text(a.n)] - a.first_attempt_at
                for a in load.accepted
                if abs(a.first_attempt_at - kill.at) <= 2 and a.customer.text(a.n) in seen.stored
            ),
            default=0.0,
        )
        print(
            f"  kill -9 {kill.what}: the pipeline stalled {stall_after(kill, stored_times):.2f} s; "
            f"the slowest item sent around it was stored {slowest:.2f} s after its first try"
        )
    assert not problems, "\n".join(problems[:50])
