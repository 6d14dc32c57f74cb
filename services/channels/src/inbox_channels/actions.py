"""Use cases of the channels runtime; also the `AdapterHost` every adapter talks to."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import nats.errors
import structlog
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import (
    AdapterHost,
    CallbackCapable,
    CallbackStarted,
    ChannelAdapter,
    ConsentAware,
    Erasable,
    InboundUnavailable,
    NormalisesContacts,
    TypingCapable,
)
from inbox_channel_sdk.limits import SenderLimit
from inbox_events import EventBus, NotStored, Outgoing, PermanentError, SubjectMoved, subject_for
from inbox_events.channels import channel_fields, channel_of, check_channel_name, enum_of
from inbox_runtime.callers import KeySource, Refused, authenticate, require_scope
from inbox_runtime.errors import FailedPrecondition, InvalidInput
from inbox_runtime.metrics import counter
from inbox_runtime.mongo import MongoTarget
from inbox_runtime.timestamps import now_us, stamp_now, to_timestamp

from inbox_channels.domain import (
    Delivery,
    DeliveryStatus,
    LatestBySender,
    SenderLatest,
    check_proactive,
    link_after,
    sender_key,
    status_advances,
    status_label,
)
from inbox_channels.outreach import OutreachGate
from inbox_channels.store import DeliveryStore

log = structlog.get_logger(__name__)

# How long accepting an inbound item may wait for the broker (a leader election), before the provider is
# told to try again: within the 15 s a provider such as Twilio waits for a webhook's answer.
INBOUND_DEADLINE_SECONDS = 12.0
INBOUND_ACCEPTED = counter("inbox_inbound_accepted_total", "Inbound items stored on the bus, by channel", ["channel"])
DELIVERIES = counter(
    "inbox_deliveries_total",
    "Delivery reports recorded (each status once per message), by channel and status",
    ["channel", "status"],
)


def outreach_name(kind: int) -> str:
    """How a proactive message's kind is kept in the thread ("promotional" unless said otherwise)."""
    if kind == message_pb2.OUTREACH_KIND_SERVICE:
        return "service"
    if kind == message_pb2.OUTREACH_KIND_NUDGE:
        return "nudge"
    return "promotional"


class ChannelActions:
    def __init__(
        self,
        store: DeliveryStore,
        bus: EventBus,
        keys: KeySource,
        data_dir: Path,
        mongodb: MongoTarget | None = None,
        sender_limit: SenderLimit | None = None,
        outreach: OutreachGate | None = None,
    ) -> None:
        self._store = store
        # Contact pressure (threading's rules) before each proactive message; None only where no threading
        # runs beside the adapters (their own tests).
        self._outreach = outreach
        self._sender_limit = sender_limit or SenderLimit()
        self._bus = bus
        self._keys = keys
        self._data_dir = data_dir
        self._mongodb = mongodb
        self._adapters: dict[str, ChannelAdapter] = {}
        self._latest_by_sender = LatestBySender()

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def mongodb(self) -> MongoTarget | None:
        return self._mongodb

    async def authorized(self, authorization: str | None, scope: str) -> bool:
        """Whether an HTTP request's Authorization presents an API key holding `scope`."""
        try:
            require_scope(await authenticate(self._keys, authorization), scope)
        except Refused as refused:
            log.warning("http_refused", scope=scope, reason=str(refused))
            return False
        return True

    def register(self, adapter: ChannelAdapter) -> AdapterHost:
        """Host `adapter`; returns the host view it is started with."""
        check_channel_name(adapter.channel)
        if adapter.channel in self._adapters:
            raise ValueError(f"two adapters serve channel {adapter.channel!r}")
        self._adapters[adapter.channel] = adapter
        return _BoundHost(self, adapter)

    async def signal(self, adapter: ChannelAdapter, topic: str, data: bytes) -> None:
        await self._bus.signal(signal_subject(adapter, topic), data)

    @property
    def adapters(self) -> list[ChannelAdapter]:
        return list(self._adapters.values())

    async def publish_inbound(self, message: events_pb2.InboundMessage) -> None:
        """Publish an adapter's inbound item after its sender's latest; SenderRateLimited when its sender
        writes too fast, InboundUnavailable when the broker cannot store it now."""
        self._sender_limit.take(sender_key(message.sender), now_us())
        if not self._bus.is_connected:
            raise InboundUnavailable("the event stream is not reachable")
        # The event id is the message id, itself derived from the provider's id: a provider retry
        # within the duplicate window is dropped by JetStream, after it by threading's unique key.
        event_id = f"inbound:{message.message_id}"
        try:
            subject = subject_for(message)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        try:
            if message.kind == message_pb2.MESSAGE_KIND_AUTOMATIC:
                # Not in the sender's chain: threading may keep it nowhere, and nothing waits for it.
                await self._bus.publish_all([Outgoing(message, event_id, correlation_id=message.message_id)])
            else:
                await self._publish_after_latest(message, subject, event_id)
        except NotStored as exc:
            raise InboundUnavailable("the event stream did not confirm it in time") from exc
        except (nats.errors.Error, TimeoutError) as exc:  # reading the sender's latest item
            raise InboundUnavailable("the event stream did not answer") from exc
        channel = channel_of(message)
        INBOUND_ACCEPTED.labels(channel).inc()
        log.info(
            "inbound_accepted",
            channel=channel,
            message_id=message.message_id,
            previous_message_id=message.previous_message_id,
        )

    async def _publish_after_latest(self, message: events_pb2.InboundMessage, subject: str, event_id: str) -> None:
        """Publish `message` naming the last item stored on its sender's subject, and only while that one is
        still the last: another replica storing the sender's next item first makes this one link again.
        The last item is first taken as this process remembers it (nothing, for a sender it has not seen);
        once the stream refuses that, it is read from the stream's leader."""
        # One deadline for reading and storing, as a provider waits for one answer.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INBOUND_DEADLINE_SECONDS

        def left() -> float:
            return max(0.5, deadline - loop.time())

        latest = self._latest_by_sender.get(subject)
        # Each refusal means another of the sender's items got in: the line moves, so try until the deadline.
        while loop.time() < deadline:
            link = link_after(latest, event_id)
            if link.already_stored:  # a provider's retry of the item accepted last
                return
            message.previous_message_id = link.previous_message_id
            item = Outgoing(
                message,
                event_id,
                correlation_id=message.message_id,
                expected_last_subject_sequence=link.expected_sequence,
            )
            try:
                [sequence] = await self._bus.publish_all([item], within=left())
            except SubjectMoved:
                stored = await self._bus.last_on_subject(subject, within=left())
                latest = SenderLatest.of(stored) if stored is not None else None
                continue
            self._latest_by_sender.stored(subject, SenderLatest(sequence, event_id, message.message_id))
            return
        raise InboundUnavailable("the sender's items keep arriving side by side")

    async def deliver(self, message: events_pb2.OutboundMessage) -> None:
        channel = channel_of(message)
        adapter = self._adapters.get(channel)
        if adapter is None:
            raise PermanentError(f"no adapter for channel {channel!r} in this process")
        # A redelivered event (a crash after the adapter's send, before the ack) must not send again.
        if await self._store.get(message.message_id) is not None:
            log.info("outbound_already_handled", message_id=message.message_id)
            return
        result = await adapter.deliver(message)
        await self.report_delivery(channel, message.message_id, message.conversation_id, result.status, result.detail)

    async def report_delivery(
        self, channel: str, message_id: str, conversation_id: str, status: DeliveryStatus, detail: str = ""
    ) -> None:
        changed_at = now_us()
        current = await self._store.get(message_id)
        if not status_advances(current.status if current else None, status):
            return
        delivery = Delivery(message_id, conversation_id, channel, status, detail, changed_at)
        if not await self._store.record(delivery):
            return  # recorded meanwhile by another replica
        event = events_pb2.DeliveryStatusChanged(
            message_id=message_id,
            conversation_id=conversation_id,
            **channel_fields(channel),
            status=status,
            detail=detail,
            changed_at=to_timestamp(changed_at),
        )
        await self._bus.publish(event, event_id=f"delivery:{message_id}:{int(status)}", correlation_id=message_id)
        DELIVERIES.labels(channel, status_label(status)).inc()
        log.info("delivery_status", message_id=message_id, conversation_id=conversation_id, status=int(status))

    async def announce_opt_out(
        self, channel: str, contact: message_pb2.ContactPoint, opted_out: bool, keyword: str
    ) -> None:
        changed_at = now_us()
        event = events_pb2.OptOutChanged(
            **channel_fields(channel),
            contact=contact,
            opted_out=opted_out,
            keyword=keyword,
            changed_at=to_timestamp(changed_at),
        )
        await self._bus.publish(event, event_id=f"opt-out:{channel}:{contact.value}:{changed_at}")
        log.info("opt_out_changed", channel=channel, opted_out=opted_out)

    async def send_proactive(
        self,
        *,
        channel: str,
        recipient: message_pb2.ContactPoint,
        text: str,
        agent_id: str,
        inbox_id: str,
        client_message_id: str,
        kind: int = 0,
        tenant_id: str = "",
    ) -> tuple[str, Delivery]:
        """Deliver a message the customer did not ask for, then have it recorded in their thread. `kind`
        (inbox.message.v1.OutreachKind) is what contact pressure weighs; a retry of a message already sent
        is not weighed again."""
        adapter = self._adapters.get(channel)
        if adapter is None:
            raise FailedPrecondition(f"channel {channel!r} is not configured in this process")
        check_proactive(adapter.capabilities, recipient, text, agent_id, client_message_id)
        if isinstance(adapter, NormalisesContacts):
            recipient = adapter.normalise_contact(recipient)
        if isinstance(adapter, ConsentAware) and await adapter.is_opted_out(recipient):
            raise FailedPrecondition(f"the customer opted out of {channel}")
        message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"proactive:{agent_id}:{client_message_id}"))
        if self._outreach is not None and await self._store.get(message_id) is None:
            await self._outreach.require_allowed(recipient, channel, kind, tenant_id)
        outbound = events_pb2.OutboundMessage(
            message_id=message_id,
            **channel_fields(channel),
            inbox_id=inbox_id,
            recipient=recipient,
            text=text.strip(),
            idempotency_key=message_id,
            agent_id=agent_id,
        )
        # Kept with the message in the customer's thread: contact pressure counts what they were sent.
        outbound.metadata["outreach"] = outreach_name(kind)
        stamp_now(outbound.created_at)
        await self.deliver(outbound)
        delivery = await self._store.get(message_id)
        assert delivery is not None
        sent = events_pb2.ProactiveMessageSent(message=outbound, status=delivery.status)
        await self._bus.publish(sent, event_id=f"proactive-sent:{message_id}", correlation_id=message_id)
        return message_id, delivery

    async def start_callback(
        self,
        *,
        customer_number: str,
        agent_number: str,
        agent_id: str,
        conversation_id: str,
        client_request_id: str,
    ) -> CallbackStarted:
        """Place an agent's call-back and put "call-back started" in the customer's thread."""
        if not (customer_number and agent_number and agent_id and client_request_id):
            raise InvalidInput("customer_number, agent_number, agent_id and client_request_id are required")
        adapter = next((a for a in self._adapters.values() if isinstance(a, CallbackCapable)), None)
        if not isinstance(adapter, CallbackCapable):
            raise FailedPrecondition("the phone channel is not configured in this process")
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"callback:{agent_id}:{client_request_id}"))
        started = await adapter.start_callback(
            customer_number=customer_number, agent_number=agent_number, inbox_id="", idempotency_key=key
        )
        item = events_pb2.InboundMessage(
            message_id=key,
            **channel_fields(adapter.channel),
            inbox_id="phone",
            provider_message_id=f"{started.sid}:callback",
            sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=started.customer_number),
            text=f"Call-back started by {agent_id}",
            kind=message_pb2.MESSAGE_KIND_CALL_EVENT,
            metadata={"call_sid": started.sid, "agent_id": agent_id, "conversation_id": conversation_id},
        )
        stamp_now(item.received_at)
        await self.publish_inbound(item)
        return started

    async def send_typing(self, channel: str, contact: message_pb2.ContactPoint, agent_id: str, active: bool) -> None:
        adapter = self._adapters.get(channel)
        if not isinstance(adapter, TypingCapable):
            raise FailedPrecondition(f"channel {channel!r} shows no typing indicators")
        if isinstance(adapter, NormalisesContacts):
            contact = adapter.normalise_contact(contact)
        await adapter.send_typing(contact, agent_id, active)

    async def erase(self, adapter: Erasable, customer_id: str, contacts: list[message_pb2.ContactPoint]) -> None:
        """A customer was erased: this adapter deletes what it holds about their contact points."""
        removed = await adapter.erase(contacts)
        log.info("customer_erased_in_adapter", customer_id=customer_id, records=removed)

    async def delivery(self, message_id: str) -> Delivery | None:
        return await self._store.get(message_id)


def signal_subject(adapter: ChannelAdapter, topic: str) -> str:
    return f"channels.{adapter.name}.{topic}"


class _BoundHost:
    """The runtime as one adapter sees it: its signals are its own."""

    def __init__(self, actions: ChannelActions, adapter: ChannelAdapter) -> None:
        self._actions = actions
        self._adapter = adapter

    @property
    def data_dir(self) -> Path:
        return self._actions.data_dir

    @property
    def mongodb(self) -> MongoTarget | None:
        return self._actions.mongodb

    async def publish_inbound(self, message: events_pb2.InboundMessage) -> None:
        message.channel_name = self._adapter.channel
        message.channel = enum_of(self._adapter.channel)
        await self._actions.publish_inbound(message)

    async def authorized(self, authorization: str | None, scope: str) -> bool:
        return await self._actions.authorized(authorization, scope)

    async def report_delivery(
        self, message_id: str, conversation_id: str, status: DeliveryStatus, detail: str = ""
    ) -> None:
        await self._actions.report_delivery(self._adapter.channel, message_id, conversation_id, status, detail)

    async def signal(self, topic: str, data: bytes) -> None:
        await self._actions.signal(self._adapter, topic, data)

    async def announce_opt_out(self, contact: message_pb2.ContactPoint, opted_out: bool, keyword: str) -> None:
        await self._actions.announce_opt_out(self._adapter.channel, contact, opted_out, keyword)
