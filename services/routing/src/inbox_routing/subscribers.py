"""Event handlers: decode, call an action, let the bus ack."""

from __future__ import annotations

from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox_events import ConsumerSpec, Event, PermanentError

from inbox_routing.actions import RoutingActions
from inbox_routing.domain import RouteRequest

ON_OPENED = ConsumerSpec(
    durable="routing-on-conversation-opened",
    subjects=("conv.opened",),
    event_type=conversation_events.ConversationOpened,
)


class RoutingSubscribers:
    def __init__(self, actions: RoutingActions) -> None:
        self._actions = actions

    async def on_opened(self, event: Event[conversation_events.ConversationOpened]) -> None:
        opened = event.payload
        if not opened.conversation_id or opened.channel <= 0:
            raise PermanentError("conversation_opened without conversation_id or channel")
        request = RouteRequest(opened.conversation_id, opened.customer_id, opened.channel, opened.inbox_id)
        await self._actions.route(request, correlation_id=event.envelope.correlation_id)
