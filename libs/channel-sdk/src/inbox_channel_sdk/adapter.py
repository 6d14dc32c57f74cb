from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_runtime.config import ConfigError
from inbox_runtime.mongo import MongoTarget
from starlette.routing import BaseRoute

ENTRY_POINT_GROUP = "inbox.channel_adapters"


class InboundUnavailable(Exception):
    """The broker did not store an inbound item (down, or no answer in time): nothing was accepted, and the
    provider must be told to try again (a webhook's 503 with Retry-After, SMTP's 451, a chat error frame)."""

    retry_after_seconds = 5

    def __init__(self, reason: str) -> None:
        super().__init__(f"temporarily unable to accept messages ({reason}); try again in {self.retry_after_seconds} s")


@dataclass(frozen=True)
class Capabilities:
    max_text_length: int = 0  # 0: no limit
    html: bool = False
    attachments: bool = False
    typing_indicators: bool = False
    read_receipts: bool = False
    # Whether an agent's text reply can go out on it (the phone channel answers callers by call-back).
    text_replies: bool = True


@dataclass(frozen=True)
class DeliveryResult:
    status: events_pb2.DeliveryStatus.ValueType
    detail: str = ""


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    detail: str = ""


class AdapterHost(Protocol):
    """What the channels runtime offers an adapter."""

    @property
    def data_dir(self) -> Path:
        """A folder the adapter may keep its own files in (outbox, attachments)."""
        ...

    @property
    def mongodb(self) -> MongoTarget | None:
        """Where the adapter keeps its records in production (MongoDB, `MONGODB_URI`); None means a
        SQLite file in `data_dir`. Collections carry the adapter's name as a prefix."""
        ...

    async def publish_inbound(self, message: events_pb2.InboundMessage) -> None:
        """Durably publish an inbound item, on this adapter's channel (the host fills the channel fields in);
        returns once the broker stored it (deduplicated on message_id). Raises `InboundUnavailable` when it
        could not be stored now (answer the provider: retry later)."""
        ...

    async def authorized(self, authorization: str | None, scope: str) -> bool:
        """Whether an HTTP request's `Authorization` header presents one of the suite's API keys holding
        `scope` (for the adapter's agent-side routes: attachments, originals). Refusals are logged."""
        ...

    async def report_delivery(
        self,
        message_id: str,
        conversation_id: str,
        status: events_pb2.DeliveryStatus.ValueType,
        detail: str = "",
    ) -> None:
        """Record a delivery status change of a message on this adapter's channel (from a send, a receipt or
        a provider callback)."""
        ...

    async def signal(self, topic: str, data: bytes) -> None:
        """Tell every replica of this adapter something live (typing, "a reply is waiting for visitor X").
        Not durable: use it for nudges whose loss costs nothing."""
        ...

    async def announce_opt_out(self, contact: message_pb2.ContactPoint, opted_out: bool, keyword: str) -> None:
        """Tell the other services a customer opted out of (or back into) this adapter's channel."""
        ...


@runtime_checkable
class ChannelAdapter(Protocol):
    # The adapter's own name (its entry point's; a prefix of its collections and signals).
    name: str
    # The registered name of the channel it serves (`sms`, `telegram`): lower-case letters, digits and _.
    # Subjects, contracts, routing capacities and rules, and inbox-web know the channel by it.
    channel: str
    # How agents see it named ("Telegram"); its name when empty.
    display_name: str
    capabilities: Capabilities

    def routes(self) -> Sequence[BaseRoute]:
        """HTTP routes and WebSockets the adapter serves (webhooks, chat), mounted by the runtime."""
        ...

    async def start(self, host: AdapterHost) -> None: ...

    async def stop(self) -> None: ...

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        """Deliver once per `message.idempotency_key`, however often this is called for it."""
        ...

    async def health(self) -> HealthReport: ...


@runtime_checkable
class NormalisesContacts(Protocol):
    """An adapter with a canonical form for its contact points (E.164 numbers, lower-case addresses),
    so that the same customer is always found under the same contact point."""

    def normalise_contact(self, contact: message_pb2.ContactPoint) -> message_pb2.ContactPoint:
        """The canonical contact point, or InvalidInput saying why it is not one."""
        ...


@runtime_checkable
class ConsentAware(Protocol):
    """An adapter that knows who opted out of its channel (SMS STOP keywords, for instance)."""

    async def is_opted_out(self, contact: message_pb2.ContactPoint) -> bool: ...


@runtime_checkable
class Erasable(Protocol):
    """An adapter that keeps data about customers (outboxes, uploads) and deletes it on erasure."""

    async def erase(self, contacts: Sequence[message_pb2.ContactPoint]) -> int:
        """Delete what is held about these contact points; returns how many records went."""
        ...


@runtime_checkable
class SignalAware(Protocol):
    """An adapter that listens to the signals its replicas send through `AdapterHost.signal`."""

    async def on_signal(self, topic: str, data: bytes) -> None: ...


@runtime_checkable
class TypingCapable(Protocol):
    """An adapter that can show the customer that an agent is typing."""

    async def send_typing(self, contact: message_pb2.ContactPoint, agent_id: str, active: bool) -> None: ...


@runtime_checkable
class CallbackCapable(Protocol):
    """An adapter that can place a call-back (phone channels)."""

    async def start_callback(
        self, *, customer_number: str, agent_number: str, inbox_id: str, idempotency_key: str
    ) -> CallbackStarted: ...


@dataclass(frozen=True)
class CallbackStarted:
    sid: str
    status: str
    # The customer's number as the provider dials it (E.164).
    customer_number: str


def load_adapters(names: Sequence[str] = ()) -> tuple[list[ChannelAdapter], dict[str, str]]:
    """Instantiate adapters: those named in `names`, or every installed one when it is empty.

    Adapters read their own settings when instantiated. A named adapter that is unknown or not
    configured fails start-up; an unnamed one that is not configured is skipped and reported.
    Returns the adapters and, per skipped adapter, why.
    """
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise LookupError(f"unknown channel adapters {unknown}; installed: {sorted(found)}")
    adapters: list[ChannelAdapter] = []
    skipped: dict[str, str] = {}
    for name in names or sorted(found):
        try:
            adapter = found[name].load()()
        except ConfigError as exc:
            if names:
                raise
            skipped[name] = str(exc)
            continue
        if not isinstance(adapter, ChannelAdapter):
            raise TypeError(f"entry point {name!r} does not provide a ChannelAdapter")
        adapters.append(adapter)
    return adapters, skipped
