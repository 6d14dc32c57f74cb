"""Read what is stored on a JetStream subject, for tests that check what a service published."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import nats
import nats.errors
from google.protobuf.message import Message
from inbox_events.codec import decode
from inbox_events.streams import stream_for_subject
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

M = TypeVar("M", bound=Message)


async def stored_events(
    nats_url: str, subject: str, event_type: type[M], *, at_least: int = 0, timeout: float = 10.0
) -> list[M]:
    """Every event stored on `subject` (wildcards allowed), oldest first; waits until `at_least` are there."""
    nc = await nats.connect(servers=nats_url.split(","))  # one server, or a cluster's nodes
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            sub = await js.pull_subscribe(
                subject,
                stream=stream_for_subject(subject).name,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=5
                ),
            )
            found: list[M] = []
            # Read until the consumer has nothing pending, not until a fetch comes back empty: under load a
            # fetch can time out while events are still there.
            while (await sub.consumer_info()).num_pending:
                try:
                    batch = await sub.fetch(100, timeout=1)
                except TimeoutError:  # nats.errors.TimeoutError, or the bare asyncio one under load
                    continue
                found.extend(decode(msg.data, event_type)[1] for msg in batch)
            await sub.unsubscribe()
            if len(found) >= at_least or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
