"""The bus on a three-node JetStream cluster of real nats-servers, on this machine's loopback and on three
hosts (network namespaces): streams and buckets replicated as the setting says, upgraded in place from R1, and a burst
of publishes that meets the death of its stream's leader ends with every event stored once."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.message.v1 import message_pb2
from inbox_devstack import netns
from inbox_devstack.nats_server import NatsCluster
from inbox_devstack.waiting import eventually
from inbox_events import EventBus, Outgoing

BURST = 300


@pytest.fixture(params=["one machine", "three hosts"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NatsCluster]:
    """The three nodes on this machine's loopback, or each on a host of its own (network namespaces on a
    bridge: what the nodes say to each other crosses a network, as between machines)."""
    with contextlib.ExitStack() as stack:
        places = None
        if request.param == "three hosts":
            if not netns.available():
                pytest.skip("this machine does not allow network namespaces (ip netns needs root)")
            hosts = stack.enter_context(netns.Hosts(("n1", "n2", "n3")))
            places = [(hosts.address(name), hosts.run_on(name, [])) for name in hosts.names]
        running = NatsCluster(tmp_path / "cluster", log_dir=tmp_path, places=places)
        stack.callback(running.stop)
        running.start()
        yield running


async def streams_ready(bus: EventBus) -> bool:
    """The cluster answers JetStream requests once it elected its meta leader: until then, try again."""
    try:
        await bus.ensure_streams()
    except (nats.errors.Error, TimeoutError):
        return False
    return True


def inbound(n: int) -> Outgoing:
    event = channel_events.InboundMessage(
        message_id=f"m{n}",
        channel_name="api",
        sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER, value=f"customer-{n % 7}"),
        text=f"message {n}",
    )
    return Outgoing(event, f"inbound:m{n}")


@pytest.mark.timeout(120)
async def test_streams_follow_the_replicas_setting_and_survive_their_leaders_death(cluster: NatsCluster) -> None:
    # Made on one copy first, as a single-server deployment left them; then the setting says three.
    async with EventBus.connect(cluster.url, service="test", replicas=1) as single:
        await eventually(lambda: streams_ready(single), timeout=30, what="the streams on the cluster")
        await single.api_keys()  # the keys' bucket, as a tool run against the single server made it
    async with EventBus.connect(cluster.url, service="test", replicas=3) as bus:
        await eventually(lambda: streams_ready(bus), timeout=30, what="the streams made R3")
        await bus.ensure_streams()  # again, as every replica of every service does at start: nothing changes
        nc = await nats.connect(servers=cluster.url.split(","))
        js = nc.jetstream()
        try:
            info = await js.stream_info("INBOUND")
            assert info.config.num_replicas == 3
            # Buckets follow the setting as streams do: the keys must outlive any one node.
            await bus.api_keys()
            assert (await js.stream_info("KV_INBOX_API_KEYS")).config.num_replicas == 3

            async def followers() -> list[str]:
                """The stream's two other copies, once they caught up with the leader."""
                reply = json.loads((await nc.request("$JS.API.STREAM.INFO.INBOUND", b"", timeout=5)).data)
                peers = reply.get("cluster", {}).get("replicas") or []
                current = [p["name"] for p in peers if p.get("current")]
                return current if len(current) == 2 else []

            assert len(await eventually(followers, timeout=30, what="two current followers")) == 2
            info = await js.stream_info("INBOUND")
            assert info.cluster is not None and info.cluster.leader

            # A burst in batches; a third of the way in, the stream's leader is killed (-9).
            leader = info.cluster.leader
            for start in range(0, BURST, 10):
                if start == BURST // 3:
                    cluster.node(leader).kill()
                await bus.publish_all([inbound(n) for n in range(start, start + 10)])

            async def stored() -> int:
                try:
                    state = (await js.stream_info("INBOUND")).state
                except (nats.errors.Error, TimeoutError):
                    return 0
                return state.messages if state.messages >= BURST else 0

            # Every publish was confirmed, some only after the election: each event is there once.
            assert await eventually(stored, timeout=30, what="the burst stored") == BURST
            moved = await js.stream_info("INBOUND")
            assert moved.cluster is not None and moved.cluster.leader != leader
        finally:
            await nc.close()
