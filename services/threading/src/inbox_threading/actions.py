"""Use cases: the only place that writes to the store and publishes events."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox_events import EventBus, Outgoing
from inbox_runtime.timestamps import now_us, to_timestamp

from inbox_threading.domain import (
    MAX_TAGS,
    SYSTEM_AGENT,
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    ErasureReceipt,
    FailedPrecondition,
    InboundOutcome,
    InvalidInput,
    MergeReceipt,
    MergeSuggestion,
    NewInboundMessage,
    NewProactiveMessage,
    NotFound,
    StoredMessage,
    ThreadPolicies,
    Viewer,
    derived_id,
    export_document,
    fts_query,
    normalise_tags,
    queue_notice,
    reply_message_id,
    status_change,
    status_text,
    validate_inbound,
    validate_note,
    validate_reply,
)
from inbox_threading.protos import message_to_proto
from inbox_threading.store import ConversationStore

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE = 200


def _page_size(requested: int, default: int) -> int:
    if requested < 0:
        raise InvalidInput("page_size must not be negative")
    return min(requested or default, MAX_PAGE_SIZE)


class ThreadingActions:
    def __init__(
        self,
        store: ConversationStore,
        bus: EventBus,
        policies: ThreadPolicies | None = None,
        queue_notice_channels: frozenset[int] = frozenset(),
    ) -> None:
        self._store = store
        self._bus = bus
        self._policies = policies or ThreadPolicies()
        self._queue_notice_channels = queue_notice_channels

    async def record_inbound(self, message: NewInboundMessage, correlation_id: str = "") -> InboundOutcome:
        """Store an inbound item in its customer's conversation and announce it.

        Idempotent: a redelivery stores nothing new and republishes the same event ids, which JetStream
        drops within its duplicate window and consumers treat as no-ops after it.
        """
        validate_inbound(message)
        outcome = await self._store.record_inbound(message, now_us(), self._policies.for_inbox(message.inbox_id))
        conversation = outcome.conversation
        events: list[Outgoing] = []
        if outcome.opened:
            opened = conversation_events.ConversationOpened(
                conversation_id=conversation.conversation_id,
                customer_id=conversation.customer_id,
                channel=message.channel,  # type: ignore[arg-type]
                inbox_id=conversation.inbox_id,
                opened_at=to_timestamp(conversation.opened_at_us),
                language=conversation.language,
                text=message.text[:2000],
                tags=list(conversation.tags),
                customer_attributes=dict(outcome.customer_attributes),
            )
            events.append(Outgoing(opened, f"conv-opened:{conversation.conversation_id}", correlation_id))
        if outcome.reopened:
            reopened = conversation_events.ConversationReopened(
                conversation_id=conversation.conversation_id,
                customer_id=conversation.customer_id,
                channel=message.channel,  # type: ignore[arg-type]
                inbox_id=conversation.inbox_id,
                reopened_at=to_timestamp(message.received_at_us or now_us()),
                previous_agent_id=outcome.previous_agent_id,
                text=message.text[:2000],
                tags=list(conversation.tags),
                customer_attributes=dict(outcome.customer_attributes),
                language=conversation.language,
            )
            events.append(Outgoing(reopened, f"conv-reopened:{message.message_id}", correlation_id))
        events.extend(self._merged(receipt) for receipt in outcome.merges)
        events.extend(self._added(item, correlation_id) for item in outcome.activities)
        events.append(self._added(outcome.message, correlation_id))
        await self._bus.publish_all(events)
        log.info(
            "inbound_threaded",
            message_id=message.message_id,
            conversation_id=conversation.conversation_id,
            customer_id=conversation.customer_id,
            opened=outcome.opened,
            reopened=outcome.reopened,
            duplicate=outcome.duplicate,
        )
        return outcome

    async def record_proactive(self, message: NewProactiveMessage, correlation_id: str = "") -> InboundOutcome:
        """Record a proactive message sent through ChannelService in the recipient's thread.

        A conversation it opens belongs to its sender from the start: the customer has not written, so
        there is nothing to route yet; their answer continues this conversation.
        """
        outcome = await self._store.record_proactive(message, now_us())
        await self._bus.publish_all([self._added(outcome.message, correlation_id)])
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
        activity = await self._store.set_assignee(
            conversation_id, agent_id, derived_id("assigned", source_event_id), now_us()
        )
        if activity is None:
            log.info("assignment_unchanged_or_unknown", conversation_id=conversation_id, agent_id=agent_id)
            return
        changed = conversation_events.AssigneeChanged(conversation_id=conversation_id, agent_id=agent_id)
        changed.changed_at.GetCurrentTime()
        await self._bus.publish_all(
            [Outgoing(changed, f"assignee-changed:{source_event_id}"), self._added(activity, source_event_id)]
        )
        log.info("assignee_recorded", conversation_id=conversation_id, agent_id=agent_id)

    async def record_transfer(
        self, conversation_id: str, from_agent: str, to_agent: str, to_team: str, note: str, source_event_id: str
    ) -> None:
        """A transfer: the note travels to the new owner as a private note; a transfer to a team's queue
        leaves the conversation unassigned until routing places it."""
        destination = to_agent or f"team {to_team}"
        text = f"Transferred by {from_agent} to {destination}" + (f": {note}" if note.strip() else "")
        try:
            await self.add_note(conversation_id, from_agent or "routing", text, f"transfer:{source_event_id}")
        except NotFound:
            log.warning("transfer_of_unknown_conversation", conversation_id=conversation_id)
            return
        if not to_agent:
            await self.record_assignment(conversation_id, "", source_event_id)

    async def tell_queue_position(
        self, conversation_id: str, position: int, estimated_wait_seconds: int, source_event_id: str
    ) -> StoredMessage | None:
        """Tell a waiting customer their place and a rough wait, on the channels configured for it."""
        conversation = await self._store.get_conversation(conversation_id)
        if conversation is None or conversation.status == ConversationStatus.RESOLVED:
            return None
        if conversation.channel not in self._queue_notice_channels or position <= 0:
            return None
        try:
            return await self.send_reply(
                conversation_id,
                SYSTEM_AGENT,
                queue_notice(position, estimated_wait_seconds),
                f"queue:{source_event_id}"[:128],
            )
        except FailedPrecondition as exc:  # opted out of the channel, for instance
            log.info("queue_notice_not_sent", conversation_id=conversation_id, reason=str(exc))
            return None

    async def record_language(self, message_id: str, language: str, fallback: bool) -> None:
        item = await self._store.record_language(message_id, language, fallback)
        if item is not None:
            await self._bus.publish_all([self._updated(item, f"language:{message_id}:{language}")])

    async def record_translation(self, message_id: str, language: str, text: str) -> None:
        item = await self._store.record_translation(message_id, language, text)
        if item is not None:
            await self._bus.publish_all([self._updated(item, f"translated:{message_id}:{language}")])
            log.info("translation_recorded", message_id=message_id, conversation_id=item.conversation_id)

    async def mark_translation_pending(self, message_id: str) -> None:
        item = await self._store.mark_translation_pending(message_id)
        if item is not None and item.translation_status == "pending":
            await self._bus.publish_all([self._updated(item, f"translation-pending:{message_id}")])

    async def deliver_translated_reply(
        self, outbound: channel_events.OutboundMessage, language: str, provider: str
    ) -> None:
        """The reply in the customer's language: kept beside the agent's original, then delivered."""
        if provider:
            await self.record_translation(outbound.message_id, language, outbound.text)
        await self._bus.publish(
            outbound, event_id=f"outbound:{outbound.message_id}", correlation_id=outbound.message_id
        )
        log.info("translated_reply_sent", message_id=outbound.message_id, conversation_id=outbound.conversation_id)

    async def record_opt_out(self, channel: int, contact: ContactPoint, opted_out: bool) -> None:
        await self._store.set_opt_out(channel, contact, opted_out)
        log.info("opt_out_recorded", channel=channel, opted_out=opted_out)

    async def send_reply(
        self, conversation_id: str, agent_id: str, text: str, client_reply_id: str, channel: int = 0
    ) -> StoredMessage:
        """Store the reply, then hand it to the customer's channel; a retry with the same id sends once."""
        body = validate_reply(conversation_id, agent_id, text, client_reply_id)
        if channel == message_pb2.CHANNEL_VOICE:
            raise InvalidInput("the phone channel takes no text replies; start a call-back instead")
        message_id = reply_message_id(conversation_id, client_reply_id)
        stored, route, duplicate = await self._store.record_reply(
            conversation_id, agent_id, body, message_id, client_reply_id, now_us(), channel
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
        conversation = await self._store.get_conversation(conversation_id)
        customer_language = conversation.language if conversation else ""
        if customer_language:
            # Delivered once translated into the customer's language (translation.reply_translated).
            waiting = conversation_events.ReplyNeedsTranslation(
                outbound=outbound, customer_language=customer_language, agent_id=agent_id
            )
            delivery = Outgoing(waiting, f"reply-needs-translation:{stored.message_id}", stored.message_id)
        else:
            delivery = Outgoing(outbound, f"outbound:{stored.message_id}", correlation_id=stored.message_id)
        await self._bus.publish_all([delivery, self._added(stored, stored.message_id)])
        log.info(
            "reply_sent",
            conversation_id=conversation_id,
            agent_id=agent_id,
            message_id=stored.message_id,
            duplicate=duplicate,
        )
        return stored

    async def add_note(self, conversation_id: str, agent_id: str, text: str, client_note_id: str) -> StoredMessage:
        body = validate_note(conversation_id, agent_id, text, client_note_id)
        note_id = derived_id("note", conversation_id, client_note_id)
        note, duplicate = await self._store.add_note(conversation_id, agent_id, body, note_id, now_us())
        await self._bus.publish_all([self._added(note, note_id)])
        log.info("note_added", conversation_id=conversation_id, agent_id=agent_id, duplicate=duplicate)
        return note

    async def set_status(self, conversation_id: str, status: int, snoozed_until_us: int, actor: str) -> Conversation:
        if not conversation_id or not actor:
            raise InvalidInput("conversation_id and agent_id are required")
        current = await self._store.get_conversation(conversation_id)
        if current is None:
            raise NotFound(f"conversation {conversation_id} not found")
        at = now_us()
        new_status, until = status_change(current, status, snoozed_until_us, at)
        until_text = datetime.fromtimestamp(until / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M UTC") if until else ""
        conversation, previous, activity = await self._store.set_status(
            conversation_id, new_status, until, actor, status_text(new_status, actor, until_text), at
        )
        if activity is not None:
            await self._announce_status(conversation, previous, actor, activity)
        return conversation

    async def wake_snoozed(self) -> int:
        """Reopen snoozed conversations whose time has come; returns how many."""
        woken = await self._store.wake_snoozed(now_us())
        for conversation, activity in woken:
            await self._announce_status(conversation, ConversationStatus.SNOOZED, "system", activity)
        return len(woken)

    async def _announce_status(
        self, conversation: Conversation, previous: ConversationStatus, actor: str, activity: StoredMessage
    ) -> None:
        changed = conversation_events.ConversationStatusChanged(
            conversation_id=conversation.conversation_id,
            customer_id=conversation.customer_id,
            status=int(conversation.status),  # type: ignore[arg-type]
            previous_status=int(previous),  # type: ignore[arg-type]
            actor=actor,
            changed_at=to_timestamp(activity.sent_at_us),
            assignee_agent_id=conversation.assignee_agent_id,
            channel=conversation.channel,  # type: ignore[arg-type]
        )
        if conversation.snoozed_until_us:
            changed.snoozed_until.CopyFrom(to_timestamp(conversation.snoozed_until_us))
        await self._bus.publish_all(
            [Outgoing(changed, f"status:{activity.message_id}"), self._added(activity, activity.message_id)]
        )
        log.info(
            "status_changed",
            conversation_id=conversation.conversation_id,
            status=conversation.status.name.lower(),
            actor=actor,
        )

    async def update_tags(self, conversation_id: str, add: list[str], remove: list[str], actor: str) -> Conversation:
        if not conversation_id or not actor:
            raise InvalidInput("conversation_id and agent_id are required")
        to_add, to_remove = normalise_tags(add), normalise_tags(remove)
        current = await self._store.get_conversation(conversation_id)
        if current is None:
            raise NotFound(f"conversation {conversation_id} not found")
        if len((set(current.tags) | set(to_add)) - set(to_remove)) > MAX_TAGS:
            raise InvalidInput(f"a conversation carries at most {MAX_TAGS} tags")
        conversation, activity = await self._store.update_tags(conversation_id, to_add, to_remove, actor, now_us())
        if activity is not None:
            changed = conversation_events.TagsChanged(
                conversation_id=conversation_id, tags=list(conversation.tags), actor=actor
            )
            changed.changed_at.CopyFrom(to_timestamp(activity.sent_at_us))
            await self._bus.publish_all(
                [Outgoing(changed, f"tags:{activity.message_id}"), self._added(activity, activity.message_id)]
            )
        return conversation

    async def add_participant(self, conversation_id: str, participant: str, actor: str) -> Conversation:
        if not conversation_id or not participant or not actor:
            raise InvalidInput("conversation_id, participant_agent_id and agent_id are required")
        conversation, activity = await self._store.add_participant(conversation_id, participant, actor, now_us())
        if activity is not None:
            await self._bus.publish_all([self._added(activity, activity.message_id)])
        return conversation

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._store.get_conversation(conversation_id)

    async def list_conversations(
        self,
        *,
        assignee_agent_id: str = "",
        statuses: tuple[ConversationStatus, ...] = (),
        team: str = "",
        channels: tuple[int, ...] = (),
        language: str = "",
        tag: str = "",
        customer_id: str = "",
        page_size: int = 0,
        cursor: str = "",
    ) -> tuple[list[Conversation], str]:
        return await self._store.list_conversations(
            assignee_agent_id=assignee_agent_id,
            statuses=statuses,
            team=team,
            channels=channels,
            language=language,
            tag=tag.strip().lower(),
            customer_id=customer_id,
            limit=_page_size(page_size, 50),
            cursor=cursor,
        )

    async def list_messages(self, conversation_id: str, page_size: int, after_sequence: int) -> list[StoredMessage]:
        return await self._store.list_messages(conversation_id, _page_size(page_size, 100), after_sequence)

    async def timeline(
        self, customer_id: str, page_size: int, cursor: str, exclude_notes: bool
    ) -> tuple[list[StoredMessage], str]:
        if not customer_id:
            raise InvalidInput("customer_id is required")
        return await self._store.timeline(customer_id, _page_size(page_size, 100), cursor, exclude_notes)

    async def profile(self, customer_id: str) -> CustomerFacts:
        if not customer_id:
            raise InvalidInput("customer_id is required")
        facts = await self._store.profile(customer_id)
        if facts is None:
            raise NotFound(f"customer {customer_id} not found")
        return facts

    async def update_attributes(self, customer_id: str, changes: dict[str, str], actor: str) -> CustomerFacts:
        if not customer_id or not actor:
            raise InvalidInput("customer_id and agent_id are required")
        await self._store.update_attributes(customer_id, changes, actor, now_us())
        log.info("customer_attributes_changed", customer_id=customer_id, agent_id=actor, keys=sorted(changes))
        return await self.profile(customer_id)

    async def search(
        self, text: str, viewer: Viewer, page_size: int, page_token: str
    ) -> tuple[list[StoredMessage], str]:
        query = fts_query(text)
        if page_token and not page_token.isdigit():
            raise InvalidInput("page_token is not one this service issued")
        offset = int(page_token or 0)
        limit = _page_size(page_size, 25)
        found = await self._store.search(query, viewer, limit + 1, offset)
        next_token = str(offset + limit) if len(found) > limit else ""
        return found[:limit], next_token

    async def export_customer(self, customer_id: str, actor: str) -> dict[str, object]:
        facts = await self.profile(customer_id)
        if not actor:
            raise InvalidInput("agent_id is required: exports are audited")
        at = now_us()
        await self._store.record_audit(actor, "exported", customer_id, {}, at)
        conversations, items, audit = await self._store.export(customer_id)
        log.info("customer_exported", customer_id=customer_id, agent_id=actor)
        return export_document(facts, conversations, items, audit, at)

    async def erase_customer(self, customer_id: str, actor: str, reason: str) -> ErasureReceipt:
        if not customer_id or not actor or not reason.strip():
            raise InvalidInput("customer_id, agent_id and reason are required: erasures are audited")
        receipt = await self._store.erase_customer(customer_id, actor, reason.strip()[:500], now_us())
        erased = conversation_events.CustomerErased(
            customer_id=customer_id,
            contact_points=[message_pb2.ContactPoint(kind=c.kind, value=c.value) for c in receipt.contact_points],  # type: ignore[arg-type]
            erased_at=to_timestamp(receipt.erased_at_us),
        )
        await self._bus.publish(erased, event_id=f"customer-erased:{customer_id}")
        log.info("customer_erased", customer_id=customer_id, agent_id=actor, items=receipt.items)
        return receipt

    async def merge_customers(self, a: str, b: str, actor: str, reason: str) -> MergeReceipt:
        if not a or not b or a == b:
            raise InvalidInput("customer_id and other_customer_id must name two customers")
        if not actor or not reason.strip():
            raise InvalidInput("agent_id and reason are required: merges are audited")
        receipt = await self._store.merge_customers(a, b, actor, reason.strip()[:500], now_us())
        await self._bus.publish_all([self._merged(receipt)])
        log.info(
            "customers_merged",
            customer_id=receipt.surviving_customer_id,
            merged_customer_id=receipt.merged_customer_id,
            agent_id=actor,
        )
        return receipt

    async def split_customer(
        self, customer_id: str, contacts: tuple[ContactPoint, ...], actor: str, reason: str
    ) -> tuple[str, list[str]]:
        if not customer_id or not actor or not reason.strip():
            raise InvalidInput("customer_id, agent_id and reason are required: splits are audited")
        new_customer, moved = await self._store.split_customer(
            customer_id, contacts, actor, reason.strip()[:500], now_us()
        )
        log.info("customer_split", customer_id=customer_id, new_customer_id=new_customer, agent_id=actor)
        return new_customer, moved

    async def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        return await self._store.merge_suggestions(customer_id)

    async def decide_suggestion(
        self, suggestion_id: str, accept: bool, actor: str
    ) -> tuple[MergeSuggestion, MergeReceipt | None]:
        if not suggestion_id or not actor:
            raise InvalidInput("suggestion_id and agent_id are required")
        suggestion, receipt = await self._store.decide_suggestion(suggestion_id, accept, actor, now_us())
        if receipt is not None:
            await self._bus.publish_all([self._merged(receipt)])
        log.info("merge_suggestion_decided", suggestion_id=suggestion_id, accepted=accept, agent_id=actor)
        return suggestion, receipt

    @staticmethod
    def _merged(receipt: MergeReceipt) -> Outgoing:
        merged = conversation_events.CustomersMerged(
            surviving_customer_id=receipt.surviving_customer_id, merged_customer_id=receipt.merged_customer_id
        )
        merged.merged_at.GetCurrentTime()
        return Outgoing(merged, f"customers-merged:{receipt.merged_customer_id}")

    @staticmethod
    def _updated(item: StoredMessage, event_id: str) -> Outgoing:
        return Outgoing(conversation_events.MessageUpdated(message=message_to_proto(item)), event_id, item.message_id)

    @staticmethod
    def _added(item: StoredMessage, correlation_id: str) -> Outgoing:
        event = conversation_events.MessageAdded(message=message_to_proto(item))
        return Outgoing(event, f"message-added:{item.message_id}", correlation_id)
