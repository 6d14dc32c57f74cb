"""Use cases: the only place that writes to the store and publishes events."""

from __future__ import annotations

import structlog
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox_events import EventBus, Outgoing
from inbox_runtime.timestamps import now_us, to_timestamp

from inbox_threading.domain import (
    Conversation,
    ConversationStatus,
    InboundOutcome,
    NewInboundMessage,
    NewProactiveMessage,
    StoredMessage,
    reply_message_id,
    validate_inbound,
    validate_reply,
)
from inbox_threading.protos import message_to_proto
from inbox_threading.store import ConversationStore

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE = 200


class ThreadingActions:
    def __init__(self, store: ConversationStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus

    async def record_inbound(self, message: NewInboundMessage, correlation_id: str = "") -> InboundOutcome:
        """Store an inbound message in its customer's conversation and announce it.

        Idempotent: a redelivery stores nothing new and republishes the same event ids, which JetStream
        drops within its duplicate window and consumers treat as no-ops after it.
        """
        validate_inbound(message)
        outcome = await self._store.record_inbound(message, now_us())
        conversation = outcome.conversation
        events: list[Outgoing] = []
        if outcome.opened:
            opened = conversation_events.ConversationOpened(
                conversation_id=conversation.conversation_id,
                customer_id=conversation.customer_id,
                channel=message.channel,  # type: ignore[arg-type]
                inbox_id=conversation.inbox_id,
                opened_at=to_timestamp(conversation.opened_at_us),
            )
            events.append(Outgoing(opened, f"conv-opened:{conversation.conversation_id}", correlation_id))
        events.append(self._message_added(outcome.message, correlation_id))
        await self._bus.publish_all(events)
        log.info(
            "inbound_threaded",
            message_id=message.message_id,
            conversation_id=conversation.conversation_id,
            customer_id=conversation.customer_id,
            opened=outcome.opened,
            duplicate=outcome.duplicate,
        )
        return outcome

    async def record_proactive(self, message: NewProactiveMessage, correlation_id: str = "") -> InboundOutcome:
        """Record a proactive message sent through ChannelService in the recipient's thread.

        A conversation it opens belongs to its sender from the start: the customer has not written, so
        there is nothing to route yet; their answer continues this conversation.
        """
        outcome = await self._store.record_proactive(message, now_us())
        await self._bus.publish_all([self._message_added(outcome.message, correlation_id)])
        log.info(
            "proactive_threaded",
            message_id=message.message_id,
            conversation_id=outcome.conversation.conversation_id,
            customer_id=outcome.conversation.customer_id,
            agent_id=message.agent_id,
            opened=outcome.opened,
            duplicate=outcome.duplicate,
        )
        return outcome

    async def record_assignment(self, conversation_id: str, agent_id: str, source_event_id: str) -> None:
        if not await self._store.set_assignee(conversation_id, agent_id):
            log.warning("assignment_for_unknown_conversation", conversation_id=conversation_id, agent_id=agent_id)
            return
        changed = conversation_events.AssigneeChanged(conversation_id=conversation_id, agent_id=agent_id)
        changed.changed_at.GetCurrentTime()
        await self._bus.publish(changed, event_id=f"assignee-changed:{source_event_id}")
        log.info("assignee_recorded", conversation_id=conversation_id, agent_id=agent_id)

    async def send_reply(self, conversation_id: str, agent_id: str, text: str, client_reply_id: str) -> StoredMessage:
        """Store the reply, then hand it to the customer's channel; a retry with the same id sends once."""
        body = validate_reply(conversation_id, agent_id, text, client_reply_id)
        message_id = reply_message_id(conversation_id, client_reply_id)
        stored, route, duplicate = await self._store.record_reply(
            conversation_id, agent_id, body, message_id, client_reply_id, now_us()
        )
        outbound = channel_events.OutboundMessage(
            message_id=stored.message_id,
            conversation_id=conversation_id,
            customer_id=stored.customer_id,
            channel=route.channel,  # type: ignore[arg-type]
            inbox_id=route.inbox_id,
            recipient=message_pb2.ContactPoint(kind=route.recipient.kind, value=route.recipient.value),  # type: ignore[arg-type]
            text=stored.text,
            idempotency_key=stored.message_id,
            agent_id=agent_id,
            created_at=to_timestamp(stored.sent_at_us),
            in_reply_to_message_id=route.in_reply_to_message_id,
        )
        await self._bus.publish_all(
            [
                Outgoing(outbound, f"outbound:{stored.message_id}", correlation_id=stored.message_id),
                self._message_added(stored, stored.message_id),
            ]
        )
        log.info(
            "reply_sent",
            conversation_id=conversation_id,
            agent_id=agent_id,
            message_id=stored.message_id,
            duplicate=duplicate,
        )
        return stored

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._store.get_conversation(conversation_id)

    async def list_conversations(
        self, assignee_agent_id: str, statuses: tuple[ConversationStatus, ...], page_size: int, cursor: str
    ) -> tuple[list[Conversation], str]:
        limit = min(page_size or 50, MAX_PAGE_SIZE)
        return await self._store.list_conversations(assignee_agent_id, statuses, limit, cursor)

    async def list_messages(self, conversation_id: str, page_size: int, after_sequence: int) -> list[StoredMessage]:
        limit = min(page_size or 100, MAX_PAGE_SIZE)
        return await self._store.list_messages(conversation_id, limit, after_sequence)

    @staticmethod
    def _message_added(message: StoredMessage, correlation_id: str) -> Outgoing:
        event = conversation_events.MessageAdded(message=message_to_proto(message))
        return Outgoing(event, f"message-added:{message.message_id}", correlation_id)
