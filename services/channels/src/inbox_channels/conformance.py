"""The adapter conformance kit: one test suite that every channel adapter passes.

In an adapter's tests, subclass `AdapterConformance` and provide a `case` fixture:

    class TestConformance(AdapterConformance):
        @pytest.fixture
        def case(self, ...) -> ConformanceCase:
            return ConformanceCase(make_adapter=MyAdapter, samples=[...], ...)

The kit runs the real channels runtime hosting the adapter on a real nats-server (the `nats_server`
fixture of inbox_devstack) and checks, through the adapter's own transport:
- every recorded provider sample is accepted and becomes exactly one InboundMessage with its provider id;
- the same sample delivered again (a provider retry) is accepted and adds nothing;
- forged requests (bad signature, relaying...) are refused and publish nothing;
- an outbound message redelivered by the bus reaches the provider once, carrying the idempotency key;
- the adapter itself, asked twice to deliver the same message (the runtime's own record bypassed, as after
  a crash between the send and the record), sends it once: to a provider that de-duplicates on an
  idempotency key, every call carries the key; to one without keys, there is one call, so the adapter must
  keep its own record of what it sent;
- provider statuses map to ours.

Every failure says what was expected and what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import ChannelAdapter
from inbox_devstack.events import stored_events
from inbox_devstack.nats_server import NatsServer
from inbox_events.channels import channel_fields, channel_of

from inbox_channels.app import RunningChannels
from inbox_channels.domain import status_advances
from inbox_channels.subscribers import outbound_consumer
from inbox_channels.testing import running_channels

Send = Callable[[RunningChannels], Awaitable[bool]]


@dataclass(frozen=True)
class InboundSample:
    """A recorded provider payload and how to deliver it; `send` returns whether it was accepted."""

    name: str
    send: Send
    provider_message_id: str
    sender: message_pb2.ContactPoint


@dataclass(frozen=True)
class ConformanceCase:
    make_adapter: Callable[[], ChannelAdapter]
    samples: Sequence[InboundSample]
    # Requests the adapter must refuse (bad or missing signature, relaying...); each returns "accepted?".
    forged: Sequence[Send]
    # A valid recipient for outbound messages.
    recipient: message_pb2.ContactPoint
    # Every call the provider (a local peer speaking its protocol) received, in order: the idempotency key
    # each carried ("" for none). Count calls, not what the peer kept: a peer that de-duplicates must
    # still list a repeated call.
    provider_received: Callable[[], Sequence[str]]
    # Whether the provider de-duplicates on the key the adapter sends (Twilio's idempotency token, an
    # Idempotency-Key header). False (an SMTP relay, a plain HTTP API): the adapter keeps its own record.
    provider_deduplicates: bool = True
    # Provider status -> ours, and how to report one for a delivered message (runtime, message id, status).
    statuses: Mapping[str, events_pb2.DeliveryStatus.ValueType] = field(default_factory=dict)
    send_status: Callable[[RunningChannels, str, str], Awaitable[None]] | None = None


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"expected {what} within {timeout:.0f} s; it did not happen")
        await asyncio.sleep(0.05)


class AdapterConformance:
    @pytest.fixture
    async def runtime(
        self, case: ConformanceCase, nats_server: NatsServer, tmp_path: Path, nats_api_key: str
    ) -> AsyncIterator[RunningChannels]:
        async with running_channels(nats_server.url, tmp_path, [case.make_adapter()]) as running:
            yield running

    @staticmethod
    async def inbound(runtime: RunningChannels, at_least: int = 0) -> list[events_pb2.InboundMessage]:
        [adapter] = runtime.actions.adapters
        url = runtime.nats_url
        subject = f"inbound.{adapter.channel}.*"  # every sender's subject
        return await stored_events(url, subject, events_pb2.InboundMessage, at_least=at_least, timeout=3)

    async def test_each_sample_becomes_one_inbound_event(self, case: ConformanceCase, runtime: RunningChannels) -> None:
        assert case.samples, "give the kit at least one recorded provider payload"
        for sample in case.samples:
            assert await sample.send(runtime), f"sample {sample.name}: expected it accepted, it was refused"
        events = await self.inbound(runtime, at_least=len(case.samples))
        [adapter] = runtime.actions.adapters
        got = [e.provider_message_id for e in events]
        wanted = [s.provider_message_id for s in case.samples]
        assert got == wanted, f"expected one event per sample with provider ids {wanted}, the stream holds {got}"
        for event, sample in zip(events, case.samples, strict=True):
            assert channel_of(event) == adapter.channel, (
                f"sample {sample.name}: expected channel {adapter.channel!r}, the event says {channel_of(event)!r}"
            )
            assert event.sender == sample.sender, (
                f"sample {sample.name}: expected sender {sample.sender}, the event says {event.sender}"
            )
            assert event.message_id and event.received_at.seconds > 0, (
                f"sample {sample.name}: expected a message id and a receive time, got {event.message_id!r} and "
                f"{event.received_at.seconds}"
            )

    async def test_a_repeated_delivery_adds_nothing(self, case: ConformanceCase, runtime: RunningChannels) -> None:
        for sample in case.samples:
            assert await sample.send(runtime) and await sample.send(runtime), (
                f"sample {sample.name}: expected a provider's retry to be accepted, it was refused"
            )
        # An adapter answers a provider only once the item is in the stream: what is there now is all.
        stored = await self.inbound(runtime, at_least=len(case.samples))
        assert len(stored) == len(case.samples), (
            f"expected {len(case.samples)} items for {len(case.samples)} samples each sent twice, the stream holds "
            f"{len(stored)}: {[e.provider_message_id for e in stored]}"
        )

    async def test_forged_requests_are_refused_and_change_nothing(
        self, case: ConformanceCase, runtime: RunningChannels
    ) -> None:
        for index, forged in enumerate(case.forged):
            assert not await forged(runtime), f"forged request {index}: expected it refused, it was accepted"
        # A refusal is answered after everything it would have stored: nothing stored now is nothing at all.
        stored = await self.inbound(runtime)
        assert stored == [], f"expected forged requests to store nothing, the stream holds {len(stored)} items"

    def _outbound(self, runtime: RunningChannels, case: ConformanceCase, message_id: str) -> events_pb2.OutboundMessage:
        [adapter] = runtime.actions.adapters
        return events_pb2.OutboundMessage(
            message_id=message_id,
            conversation_id="conformance-conversation",
            **channel_fields(adapter.channel),
            recipient=case.recipient,
            text="Hello from the conformance kit",
            idempotency_key=f"key-{message_id}",
        )

    async def _deliver(self, runtime: RunningChannels, case: ConformanceCase, message_id: str) -> None:
        outbound = self._outbound(runtime, case, message_id)
        await runtime.bus.publish(outbound, event_id=f"conformance:{message_id}")
        # The same fact again under another event id: what the bus does after a crash before the ack.
        await runtime.bus.publish(outbound, event_id=f"conformance:{message_id}:redelivered")

        async def recorded() -> bool:
            return await runtime.actions.delivery(message_id) is not None

        await _eventually(recorded, f"a delivery status for {message_id}")

    async def test_outbound_is_delivered_once_with_its_idempotency_key(
        self, case: ConformanceCase, runtime: RunningChannels
    ) -> None:
        await self._deliver(runtime, case, "conformance-1")
        [adapter] = runtime.actions.adapters

        async def both_handled() -> bool:
            return await runtime.bus.settled(outbound_consumer(adapter))

        # Both events (the fact and its redelivery) acked, each after its handler: nothing more is coming.
        await _eventually(both_handled, "the outbound consumer to settle both events")
        sent = list(case.provider_received())
        if case.provider_deduplicates:
            assert sent == ["key-conformance-1"], (
                f"expected the provider to get one call carrying the idempotency key 'key-conformance-1', it got {sent}"
            )
        else:  # a provider that takes no key (a messenger's bot API) may not see one: once is what counts
            assert len(sent) == 1, f"expected the provider to get one call for one message, it got {len(sent)}: {sent}"

    async def test_the_adapter_itself_delivers_once_per_idempotency_key(
        self, case: ConformanceCase, runtime: RunningChannels
    ) -> None:
        [adapter] = runtime.actions.adapters
        outbound = self._outbound(runtime, case, "conformance-twice")
        first = await adapter.deliver(outbound)
        again = await adapter.deliver(outbound)
        failed = events_pb2.DELIVERY_STATUS_FAILED
        assert first.status != failed and again.status != failed, (
            f"expected both calls to succeed (the second as already done), got {first} and {again}"
        )
        calls = list(case.provider_received())
        key = outbound.idempotency_key
        if case.provider_deduplicates:
            assert calls and all(call == key for call in calls), (
                f"expected every call to the provider to carry the idempotency key {key!r}, so that it sends once; "
                f"the provider got {calls}"
            )
        else:
            assert len(calls) == 1, (
                "expected one call to a provider without idempotency keys (the adapter keeps its own record of "
                f"what it sent); the provider got {len(calls)}: {calls}"
            )

    async def test_provider_statuses_map_to_ours(self, case: ConformanceCase, runtime: RunningChannels) -> None:
        if case.send_status is None:
            pytest.skip("this adapter's provider reports no delivery statuses")
        for index, (provider_status, expected) in enumerate(case.statuses.items()):
            message_id = f"conformance-status-{index}"
            await self._deliver(runtime, case, message_id)
            before = await runtime.actions.delivery(message_id)
            assert before is not None
            await case.send_status(runtime, message_id, provider_status)
            final = expected if status_advances(before.status, expected) else before.status

            async def reached(message_id: str = message_id, final: int = final) -> bool:
                delivery = await runtime.actions.delivery(message_id)
                return delivery is not None and delivery.status == final

            await _eventually(reached, f"provider status {provider_status!r} to become ours {final}")
