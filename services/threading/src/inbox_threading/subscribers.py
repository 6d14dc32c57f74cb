"""Event handlers: decode, call an action, let the bus ack. Nothing else."""

from __future__ import annotations

from inbox.channels.v1 import events_pb2 as channel_events
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events import ConsumerSpec, Event, PermanentError

from inbox_threading.actions import ThreadingActions
from inbox_threading.domain import InvalidInput
from inbox_threading.protos import inbound_from_event

ON_INBOUND = ConsumerSpec(
    durable="threading-on-inbound",
    subjects=("inbound.>",),
    event_type=channel_events.InboundMessage,
)
ON_ASSIGNED = ConsumerSpec(
    durable="threading-on-conversation-assigned",
    subjects=("routing.conversation_assigned",),
    event_type=routing_events.ConversationAssigned,
)


class ThreadingSubscribers:
    def __init__(self, actions: ThreadingActions) -> None:
        self._actions = actions

    async def on_inbound(self, event: Event[channel_events.InboundMessage]) -> None:
        try:
            await self._actions.record_inbound(
                inbound_from_event(event.payload), correlation_id=event.envelope.correlation_id
            )
        except InvalidInput as exc:
            raise PermanentError(str(exc)) from exc

    async def on_assigned(self, event: Event[routing_events.ConversationAssigned]) -> None:
        await self._actions.record_assignment(
            event.payload.conversation_id, event.payload.agent_id, event.envelope.event_id
        )
