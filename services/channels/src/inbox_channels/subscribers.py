"""Event handlers: one durable consumer per adapter, so an adapter can also run alone."""

from __future__ import annotations

from inbox.channels.v1 import events_pb2
from inbox_channel_sdk import ChannelAdapter
from inbox_events import ConsumerSpec, Event
from inbox_events.subjects import channel_token

from inbox_channels.actions import ChannelActions


def outbound_consumer(adapter: ChannelAdapter) -> ConsumerSpec[events_pb2.OutboundMessage]:
    token = channel_token(adapter.channel)
    return ConsumerSpec(
        durable=f"channels-{token}-on-outbound",
        subjects=(f"outbound.{token}",),
        event_type=events_pb2.OutboundMessage,
    )


class ChannelSubscribers:
    def __init__(self, actions: ChannelActions) -> None:
        self._actions = actions

    async def on_outbound(self, event: Event[events_pb2.OutboundMessage]) -> None:
        await self._actions.deliver(event.payload)
