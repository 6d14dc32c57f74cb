"""Event handlers: one durable consumer per adapter, so an adapter can also run alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from inbox.channels.v1 import events_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox_channel_sdk import ChannelAdapter, Erasable
from inbox_events import ConsumerSpec, Event

from inbox_channels.actions import ChannelActions


def outbound_consumer(adapter: ChannelAdapter) -> ConsumerSpec[events_pb2.OutboundMessage]:
    return ConsumerSpec(
        durable=f"channels-{adapter.channel}-on-outbound",
        subjects=(f"outbound.{adapter.channel}",),
        event_type=events_pb2.OutboundMessage,
    )


def erasure_consumer(adapter: ChannelAdapter) -> ConsumerSpec[conversation_events.CustomerErased]:
    """One per adapter: each one, wherever it runs, must erase its own data."""
    return ConsumerSpec(
        durable=f"channels-{adapter.name}-on-customer-erased",
        subjects=("conv.customer_erased",),
        event_type=conversation_events.CustomerErased,
    )


class ChannelSubscribers:
    def __init__(self, actions: ChannelActions) -> None:
        self._actions = actions

    async def on_outbound(self, event: Event[events_pb2.OutboundMessage]) -> None:
        await self._actions.deliver(event.payload)

    def on_customer_erased(
        self, adapter: Erasable
    ) -> Callable[[Event[conversation_events.CustomerErased]], Awaitable[None]]:
        async def handle(event: Event[conversation_events.CustomerErased]) -> None:
            await self._actions.erase(adapter, event.payload.customer_id, list(event.payload.contact_points))

        return handle
