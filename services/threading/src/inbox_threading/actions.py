"""Use cases: the only place that writes to the store and publishes events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from enum import Enum

import structlog
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.message.v1 import message_pb2
from inbox_events import BadCursor, ConsumerSpec, Event, EventBus, FeedCursor, Outgoing, Postponed
from inbox_events.channels import channel_fields, contact_kind
from inbox_events.erasure import ErasureScope, is_about, notice_wait_seconds
from inbox_events.feed import Feed
from inbox_language import SENTIMENT_LANGUAGE, Detector, SentimentModel
from inbox_runtime.optimistic import until_applied
from inbox_runtime.timestamps import now_us, stamp_now, to_timestamp

from inbox_threading.changes import (
    ConversationPatch,
    ConversationQuery,
    CustomerGuard,
    CustomerPatch,
    CustomerRecord,
    ItemPatch,
    SearchQuery,
    SuggestionDecision,
    ThreadChange,
    Tombstone,
)
from inbox_threading.domain import (
    FOLLOW_UP_TAG,
    MAX_COMMENT,
    SURVEY_CLIENT_ID,
    SYSTEM_AGENT,
    VOICE,
    ContactPoint,
    Conversation,
    ConversationStatus,
    CustomerFacts,
    ErasureReceipt,
    FailedPrecondition,
    InboundOutcome,
    InvalidInput,
    ItemKind,
    MergeReceipt,
    MergeSuggestion,
    NewInboundMessage,
    NewProactiveMessage,
    NotFound,
    Satisfaction,
    ScoreLine,
    StoredMessage,
    SurveyPolicy,
    ThreadPolicies,
    Viewer,
    automatic_target,
    derived_id,
    export_document,
    identity_claim,
    merge_attributes,
    new_id,
    normalise_tags,
    parse_rating,
    predecessor_wait,
    queue_notice,
    reply_message_id,
    score_board,
    search_terms,
    status_change,
    status_text,
    survey_answer_target,
    survey_due,
    survey_text,
    surviving_customer,
    validate_inbound,
    validate_note,
    validate_reply,
)
from inbox_threading.plans import (
    audit_entry,
    combined,
    internal_item,
    plan_assignment,
    plan_automatic,
    plan_delivery,
    plan_feedback,
    plan_identity,
    plan_inbound,
    plan_language,
    plan_merged_away,
    plan_participant,
    plan_proactive,
    plan_reply,
    plan_sentiment,
    plan_status,
    plan_tags,
    plan_wake,
    provider_key,
    reference_candidates,
    refuse_opted_out,
    reply_route,
    stored_message,
)
from inbox_threading.protos import contact_to_proto, message_added, message_to_proto, sentiment_to_proto
from inbox_threading.store import ConversationStore
from inbox_threading.summaries import (
    Said,
    Summarizer,
    Summary,
    reading_language,
    said_in,
    transcript_said,
    who_line,
)

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE = 200
# A summary reads a conversation's latest items, at most this many.
SUMMARY_ITEMS = 1000
# What the integrators' feed carries: each stream's events that say what happened to a conversation.
FEED_SUBJECTS = {"CONVERSATIONS": "conv.>", "ROUTING": "routing.>", "DELIVERY": "delivery.>"}
# How long a delivery report for a message not stored yet waits, each time it is asked again.
DELIVERY_WAITS_SECONDS = (0.5, 2.0, 5.0)
# What a new customer's language is detected on as it is stored: what translation detects and translates.
GUESSED_KINDS = (ItemKind.TEXT, ItemKind.VOICEMAIL)


def _page_size(requested: int, default: int) -> int:
    if requested < 0:
        raise InvalidInput("page_size must not be negative")
    return min(requested or default, MAX_PAGE_SIZE)


async def open_conversation_of(store: ConversationStore, customer: CustomerRecord) -> Conversation | None:
    """The customer's active conversation unless it is resolved: where a message we send first joins."""
    if not customer.active_conversation_id:
        return None
    active = await store.get_conversation(customer.active_conversation_id)
    return None if active is None or active.status == ConversationStatus.RESOLVED else active


class SurveyAnswer(Enum):
    """What an inbound item is to the satisfaction survey."""

    NONE = "none"  # not an answer: a message like any other
    KEEP = "keep"  # the answer, kept in the conversation it was asked in
    DROP = "drop"  # an answer to a survey answered already (or not the sender's): not kept


class NotKept:
    """An automatic message with nowhere to be kept: from nobody we know, answering nothing of theirs."""


class ThreadingActions:
    def __init__(
        self,
        store: ConversationStore,
        bus: EventBus,
        policies: ThreadPolicies | None = None,
        queue_notice_channels: frozenset[str] = frozenset(),
        clock: Callable[[], int] = now_us,
        guesser: Detector | None = None,
        sentiment: SentimentModel | None = None,
        summarizer: Summarizer | None = None,
        surveys: SurveyPolicy | None = None,
    ) -> None:
        self._store = store
        # Detects a new customer's language as their message is stored (None: leave it to translation).
        self._guesser = guesser
        # Scores a customer's English text as it is stored (None: leave every message to translation).
        self._sentiment = sentiment
        # Writes what the next agent reads first whenever a conversation is handed over.
        self._summarizer = summarizer or Summarizer()
        # When the satisfaction survey goes out on resolving, and how an answer is read.
        self._surveys = surveys or SurveyPolicy()
        # Microseconds since the epoch; injected so tests decide what time it is.
        self._now = clock
        self._bus = bus
        self._policies = policies or ThreadPolicies()
        self._queue_notice_channels = queue_notice_channels

    # --- inbound -------------------------------------------------------------------------------

    async def predecessor_wait(self, message: NewInboundMessage, deliveries: int) -> float | None:
        """Seconds `message` must wait for its sender's earlier item to be stored (None: store it now)."""
        stored = bool(message.previous_message_id) and await self._store.item(message.previous_message_id) is not None
        return predecessor_wait(message, stored, deliveries)

    async def record_inbound(self, message: NewInboundMessage, correlation_id: str = "") -> InboundOutcome | None:
        """Store an inbound item in its customer's conversation and announce it; None for an automatic
        message that answers nothing of its sender's (not kept).

        Idempotent: a redelivery stores nothing new and republishes the same event ids, which JetStream
        drops within its duplicate window and consumers treat as no-ops after it.
        """
        validate_inbound(message)
        answer = await self._survey_answer(message)
        if answer is SurveyAnswer.KEEP:
            return await until_applied(lambda: self._keep_feedback(message, correlation_id))
        if answer is SurveyAnswer.DROP:
            log.info("survey_answer_not_kept", message_id=message.message_id)
            return None
        if message.kind == ItemKind.AUTOMATIC:
            kept: InboundOutcome | NotKept = await until_applied(lambda: self._keep_automatic(message))
            if isinstance(kept, NotKept):
                log.info("automatic_message_not_kept", message_id=message.message_id)
                return None
            await self._bus.publish_all([self._added(kept.message, correlation_id)])
            log.info(
                "automatic_message_kept",
                message_id=message.message_id,
                conversation_id=kept.conversation.conversation_id,
                customer_id=kept.conversation.customer_id,
            )
            return kept
        outcome = await until_applied(lambda: self._thread_inbound(message))
        conversation = outcome.conversation
        events: list[Outgoing] = []
        opened: conversation_events.ConversationOpened | None = None
        if outcome.opened:
            opened = conversation_events.ConversationOpened(
                conversation_id=conversation.conversation_id,
                customer_id=conversation.customer_id,
                **channel_fields(message.channel),
                inbox_id=conversation.inbox_id,
                opened_at=to_timestamp(conversation.opened_at_us),
                language=conversation.language,
                text=message.text[:2000],
                tags=list(conversation.tags),
                customer_attributes=dict(outcome.customer_attributes),
                team=conversation.team,
                sentiment=sentiment_to_proto(outcome.message.sentiment),
            )
        if outcome.reopened:
            reopened = conversation_events.ConversationReopened(
                conversation_id=conversation.conversation_id,
                customer_id=conversation.customer_id,
                **channel_fields(message.channel),
                inbox_id=conversation.inbox_id,
                reopened_at=to_timestamp(message.received_at_us or self._now()),
                previous_agent_id=outcome.previous_agent_id,
                text=message.text[:2000],
                tags=list(conversation.tags),
                customer_attributes=dict(outcome.customer_attributes),
                language=conversation.language,
                sentiment=sentiment_to_proto(outcome.message.sentiment),
            )
            events.append(Outgoing(reopened, f"conv-reopened:{message.message_id}", correlation_id))
        events.extend(self._merged(receipt) for receipt in outcome.merges)
        events.extend(self._added(item, correlation_id) for item in outcome.activities)
        events.append(self._added(outcome.message, correlation_id, opened=opened))
        await self._bus.publish_all(events)
        handoff = await self._handoff_by(outcome, message.message_id)
        if handoff:
            await self.note_summary(conversation.conversation_id, handoff, f"inbound:{message.message_id}")
        log.info(
            "inbound_threaded",
            message_id=message.message_id,
            previous_message_id=message.previous_message_id,
            conversation_id=conversation.conversation_id,
            customer_id=conversation.customer_id,
            opened=outcome.opened,
            reopened=outcome.reopened,
            duplicate=outcome.duplicate,
        )
        return outcome

    def _rating_in(self, message: NewInboundMessage) -> tuple[int, str, str] | None:
        """(score, comment, the survey it answers or "") when the item carries a survey answer: the chat
        widget's buttons and the email page name the survey; a text starting with a number may be one."""
        metadata = dict(message.metadata)
        explicit = metadata.get("satisfaction_score", "")
        comment = " ".join(message.text.split())[:MAX_COMMENT]
        if explicit:
            if explicit not in ("1", "2", "3", "4", "5"):
                raise InvalidInput("satisfaction_score must be a whole number from 1 to 5")
            return int(explicit), comment, metadata.get("satisfaction_survey", "")
        if message.kind != ItemKind.TEXT or message.attachments:
            return None
        rating = parse_rating(message.text)
        return None if rating is None else (*rating, "")

    async def _survey_target(self, message: NewInboundMessage) -> tuple[Conversation, CustomerRecord] | None:
        """The conversation whose survey this item answers, and its customer (None: not an answer)."""
        rating = self._rating_in(message)
        if rating is None:
            return None
        customer = await self._store.customer_by_contact(message.sender)
        if customer is None:
            return None
        survey_id = rating[2]
        if survey_id:
            survey = await self._store.item(survey_id)
            if survey is None or survey.customer_id != customer.customer_id:
                return None
            latest = await self._store.get_conversation(survey.conversation_id)
        elif customer.active_conversation_id:
            return None  # they are talking to us again: a number is part of that
        else:
            latest = await self._store.latest_resolved(customer.customer_id)
        target = survey_answer_target(latest, self._now(), self._surveys, survey_id)
        return None if target is None else (target, customer)

    async def _survey_answer(self, message: NewInboundMessage) -> SurveyAnswer:
        """Whether the item answers a survey (or is an answer already kept: a redelivery). An answer from the
        widget or the email page that comes when the survey was answered already is dropped: one per survey."""
        if self._rating_in(message) is None:
            return SurveyAnswer.NONE  # most messages: no store read
        stored = await self._store.item(message.message_id)
        if stored is not None:
            return SurveyAnswer.KEEP if stored.kind == ItemKind.FEEDBACK else SurveyAnswer.NONE
        if await self._survey_target(message) is not None:
            return SurveyAnswer.KEEP
        return SurveyAnswer.DROP if "satisfaction_score" in dict(message.metadata) else SurveyAnswer.NONE

    async def _keep_feedback(self, message: NewInboundMessage, correlation_id: str) -> InboundOutcome | None:
        """One attempt at keeping a survey answer under the customer's guard (None: try again)."""
        stored = await self._store.item(message.message_id)
        if stored is None:
            found = await self._survey_target(message)
            rating = self._rating_in(message)
            if found is None or rating is None:
                raise InvalidInput("not an answer to a survey any more")
            target, customer = found
            score, comment, _ = rating
            change = plan_feedback(
                message,
                customer=customer,
                target=target,
                score=score,
                comment=comment,
                policy=self._surveys,
                now_us=self._now(),
            )
            [committed] = await self._store.commit([change])
            if not committed.applied:
                return None
            stored = await self._store.item(message.message_id)
            assert stored is not None
        conversation = await self._must(stored.conversation_id)
        answered = conversation.satisfaction
        assert answered is not None
        events = [self._added(stored, correlation_id)]
        follow_up = FOLLOW_UP_TAG in conversation.tags and answered.score <= self._surveys.low_score
        note = await self._store.item(derived_id("follow-up", conversation.conversation_id)) if follow_up else None
        if note is not None:
            events.append(self._added(note, correlation_id))
            changed = conversation_events.TagsChanged(
                conversation_id=conversation.conversation_id,
                tags=list(conversation.tags),
                actor=SYSTEM_AGENT,
                changed_at=to_timestamp(answered.answered_at_us),
            )
            events.append(Outgoing(changed, f"tags:follow-up:{conversation.conversation_id}", correlation_id))
        feedback = conversation_events.FeedbackReceived(
            conversation_id=conversation.conversation_id,
            customer_id=conversation.customer_id,
            message_id=stored.message_id,
            score=answered.score,
            comment=answered.comment,
            agent_id=answered.agent_id,
            team=answered.team,
            channel_name=stored.channel,
            answered_at=to_timestamp(answered.answered_at_us),
            follow_up=note is not None,
        )
        events.append(Outgoing(feedback, f"feedback:{conversation.conversation_id}", correlation_id))
        await self._bus.publish_all(events)
        log.info(
            "survey_answered",
            conversation_id=conversation.conversation_id,
            customer_id=conversation.customer_id,
            agent_id=answered.agent_id,
            score=answered.score,
            follow_up=note is not None,
        )
        return InboundOutcome(conversation, stored, opened=False, duplicate=False)

    async def satisfaction_scores(
        self, since_us: int, until_us: int
    ) -> tuple[ScoreLine, list[ScoreLine], list[ScoreLine]]:
        if until_us <= since_us:
            raise InvalidInput("until must be after since")
        answers = await self._store.satisfaction_answers(since_us, until_us)
        return score_board(answers, self._surveys.low_score)

    async def _handoff_by(self, outcome: InboundOutcome, message_id: str) -> str:
        """Why the next agent needs a summary after this message ("" when they do not): it reopened the
        conversation or continued it on another channel. A redelivery looks again at what the message
        wrote (the summary may not have been written before a crash)."""
        activities = outcome.activities
        if outcome.duplicate:
            found = [await self._store.item(derived_id(kind, message_id)) for kind in ("reopened", "continued")]
            activities = tuple(a for a in found if a is not None)
        for activity in activities:
            data = dict(activity.metadata)
            if data.get("activity") == "reopened":
                return "reopened: the customer wrote again"
            if data.get("activity") == "channel_switched":
                return activity.text.lower()  # "continued by sms"
        return ""

    async def _duplicate(self, message_id: str) -> InboundOutcome | None:
        stored = await self._store.item(message_id)
        if stored is None:
            return None
        conversation = await self._store.conversation_state(stored.conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {stored.conversation_id} not found")
        return InboundOutcome(conversation, stored, opened=stored.sequence == 1, duplicate=True)

    def _first_guess(self, message: NewInboundMessage, known_language: str) -> str:
        """The language stored with a customer's text until translation's detection says otherwise (it
        corrects what it disagrees with, e.g. a known customer writing in another language): the customer's
        known language, else the detector's when it is sure, else "" (nothing to say yet)."""
        if message.kind not in GUESSED_KINDS or not message.text.strip():
            return ""
        if known_language or self._guesser is None:
            return known_language
        guess = self._guesser.detect(message.text)
        return "" if guess.fallback else guess.language

    def _first_sentiment(self, message: NewInboundMessage, language: str) -> float | None:
        """The score of a customer's text stored as English (translation scores the others, on their
        English translation, and corrects this one if the language was guessed wrong)."""
        if self._sentiment is None or language != SENTIMENT_LANGUAGE or message.kind not in GUESSED_KINDS:
            return None
        scored = self._sentiment.score(message.text)
        return None if scored is None else scored.score

    async def _thread_inbound(self, message: NewInboundMessage) -> InboundOutcome | None:
        """One attempt: read, decide, write under the customer's guard; None when the guard failed."""
        now = self._now()
        key = provider_key(message.channel, message.provider_message_id)
        first_id = await self._store.message_id_for(key) if key else None
        if first_id and first_id != message.message_id:
            # The provider sent it again under another id: it is the item already known, or one whose
            # write was interrupted, finished now under its first id.
            message = replace(message, message_id=first_id)
        duplicate = await self._duplicate(message.message_id)
        if duplicate is not None:
            return duplicate
        customer = await self._store.customer_by_contact(message.sender) or CustomerRecord(
            new_id(), message.sender_name, now, 0, ""
        )
        customer, extra, merges = await self._apply_identity(customer, message, now)
        active = (
            await self._store.conversation_state(customer.active_conversation_id)
            if customer.active_conversation_id
            else None
        )
        # A customer met just now (version 0: not stored yet) has no resolved conversation to look for.
        latest_resolved = (
            await self._store.latest_resolved(customer.customer_id) if active is None and customer.version else None
        )
        referenced = await self._store.conversation_for_refs(reference_candidates(message.references()))
        if referenced is not None and referenced.customer_id != customer.customer_id:
            referenced = None  # never thread into another customer's conversation on a header they control
        language = self._first_guess(message, customer.language)
        sentiment = self._first_sentiment(message, language)
        plan = plan_inbound(
            message,
            customer=customer,
            active=active,
            latest_resolved=latest_resolved,
            referenced=referenced,
            policy=self._policies.for_inbox(message.inbox_id),
            now_us=now,
            extra=extra,
            language=language,
            sentiment=sentiment,
        )
        [committed] = await self._store.commit([plan.change])
        if not committed.applied:
            return None
        conversation = await self._store.conversation_state(plan.conversation_id)
        assert conversation is not None
        sequence = committed.sequences.get(message.message_id)
        # Written now: as planned, with its sequence (no read back). Else another replica wrote it first.
        stored = (
            replace(stored_message(plan.message, sequence), language=language, sentiment=sentiment)
            if sequence is not None
            else await self._store.item(message.message_id)
        )
        assert stored is not None
        activities = tuple(
            stored_message(a, committed.sequences[a.message_id])
            for a in plan.activities
            if a.message_id in committed.sequences
        )
        return InboundOutcome(
            conversation,
            stored,
            # The conversation's first item opened it, whoever wrote the conversation: two replicas may both
            # finish an open they saw begin, and one killed after writing the conversation but before the
            # item leaves the redelivery to append it to a conversation that looks already open.
            opened=stored.sequence == 1,
            duplicate=False,
            reopened=plan.reopened,
            activities=activities,
            previous_agent_id=plan.previous_agent_id,
            merges=tuple(merges),
            customer_attributes=customer.attributes,
        )

    async def _keep_automatic(self, message: NewInboundMessage) -> InboundOutcome | NotKept | None:
        """One attempt at keeping an automatic message (see `plan_automatic`): its outcome, NotKept when it
        answers nothing of its sender's, or None when the customer's guard failed (try again)."""
        duplicate = await self._duplicate(message.message_id)
        if duplicate is not None:
            return duplicate
        customer = await self._store.customer_by_contact(message.sender)
        if customer is None or not customer.version:
            return NotKept()
        active = (
            await self._store.get_conversation(customer.active_conversation_id)
            if customer.active_conversation_id
            else None
        )
        referenced = await self._store.conversation_for_refs(reference_candidates(message.references()))
        target = automatic_target(customer.customer_id, active, referenced)
        if target is None:
            return NotKept()
        [committed] = await self._store.commit(
            [plan_automatic(message, customer=customer, target=target, now_us=self._now())]
        )
        if not committed.applied:
            return None
        stored = await self._store.item(message.message_id)
        assert stored is not None
        return InboundOutcome(target, stored, opened=False, duplicate=False)

    async def _apply_identity(
        self, customer: CustomerRecord, message: NewInboundMessage, now: int
    ) -> tuple[CustomerRecord, ThreadChange, list[MergeReceipt]]:
        """Link, merge or suggest per the identity the customer gave (see `plan_identity`)."""
        claim = identity_claim(message.metadata)
        if claim is None:
            return customer, ThreadChange(), []
        steps: list[ThreadChange] = []
        merges: list[MergeReceipt] = []
        for contact in claim.contacts:
            owner = await self._store.customer_by_contact(contact)
            step = plan_identity(
                customer,
                contact,
                owner,
                verified=claim.verified,
                sender=message.sender,
                message_id=message.message_id,
                now_us=now,
            )
            steps.append(step.change)
            if owner is not None and step.adopt_owner:
                merges.append(MergeReceipt(owner.customer_id, customer.customer_id))
                customer = owner
            elif owner is not None and step.merge_with_owner:
                receipt = await self._merge(
                    customer.customer_id, owner.customer_id, "verified identity", "signed identify", now
                )
                merges.append(receipt)
                survivor = await self._store.customer(receipt.surviving_customer_id)
                assert survivor is not None
                customer = survivor
        return customer, combined(steps), merges

    async def record_proactive(self, message: NewProactiveMessage, correlation_id: str = "") -> InboundOutcome:
        """Record a proactive message sent through ChannelService in the recipient's thread.

        A conversation it opens belongs to its sender from the start: the customer has not written, so
        there is nothing to route yet; their answer continues this conversation.
        """

        async def attempt() -> InboundOutcome | None:
            duplicate = await self._duplicate(message.message_id)
            if duplicate is not None:
                return duplicate
            now = self._now()
            customer = await self._store.customer_by_contact(message.recipient) or CustomerRecord(
                new_id(), "", now, 0, ""
            )
            active = await open_conversation_of(self._store, customer)
            change, conversation_id, opened = plan_proactive(message, customer=customer, active=active, now_us=now)
            [committed] = await self._store.commit([change])
            if not committed.applied:
                return None
            conversation = await self._store.get_conversation(conversation_id)
            stored = await self._store.item(message.message_id)
            assert conversation is not None and stored is not None
            return InboundOutcome(conversation, stored, opened=opened, duplicate=False)

        outcome = await until_applied(attempt)
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

    # --- assignment, queue, languages ----------------------------------------------------------------

    async def _append_internal(self, change: ThreadChange, item_id: str) -> StoredMessage | None:
        """Write a change carrying one internal item; the item as written, or None when it already was."""
        [committed] = await self._store.commit([change])
        if not committed.applied or item_id not in committed.sequences:
            return None
        item = next(i for i in change.items if i.message_id == item_id)
        return stored_message(item, committed.sequences[item_id])

    async def record_assignment(self, conversation_id: str, agent_id: str, source_event_id: str) -> None:
        current = await self._store.conversation_state(conversation_id)
        activity_id = derived_id("assigned", source_event_id)
        change = plan_assignment(current, agent_id, activity_id=activity_id, now_us=self._now()) if current else None
        activity = await self._append_internal(change, activity_id) if change else None
        if activity is None:
            log.info("assignment_unchanged_or_unknown", conversation_id=conversation_id, agent_id=agent_id)
            return
        changed = conversation_events.AssigneeChanged(
            conversation_id=conversation_id, agent_id=agent_id, activity=message_to_proto(activity)
        )
        stamp_now(changed.changed_at)
        # Live-only: routing's event is the durable fact of the assignment; this tells live views it is stored.
        await self._bus.publish_live([Outgoing(changed, f"assignee-changed:{source_event_id}", source_event_id)])
        log.info("assignee_recorded", conversation_id=conversation_id, agent_id=agent_id)

    async def record_transfer(
        self,
        conversation_id: str,
        from_agent: str,
        to_agent: str,
        to_team: str,
        note: str,
        source_event_id: str,
        transcript: str = "",
    ) -> None:
        """A transfer: the note travels to the new owner as a private note; a transfer to a team's queue
        leaves the conversation unassigned until routing places it."""
        destination = to_agent or f"team {to_team}"
        text = f"Transferred by {from_agent} to {destination}" + (f": {note}" if note.strip() else "")
        try:
            noted = await self.add_note(conversation_id, from_agent or "routing", text, f"transfer:{source_event_id}")
        except NotFound:
            log.warning("transfer_of_unknown_conversation", conversation_id=conversation_id)
            return
        # A bot's transcript is read with the conversation, its lines linked to the note that carries it.
        before = transcript_said(transcript, noted.message_id)
        reason = f"handed over with a transcript, to {destination}" if before else f"transferred to {destination}"
        await self.note_summary(conversation_id, reason, f"transfer:{source_event_id}", before=before)
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
        """Translation's detection, which corrects the language stored with the message (if any)."""
        item = await self._store.item(message_id)
        if item is None:
            return
        conversation_language = customer_language = ""
        if fallback and item.language and item.language != language:
            # Taking a guess back: where did it spread?
            conversation = await self._store.get_conversation(item.conversation_id)
            customer = await self._store.customer(item.customer_id)
            conversation_language = conversation.language if conversation else ""
            customer_language = customer.language if customer else ""
        change = plan_language(
            item,
            language,
            fallback=fallback,
            conversation_language=conversation_language,
            customer_language=customer_language,
        )
        if change is not None:
            await self._store.commit([change])
            item = await self._store.item(message_id)
        if item is not None:
            await self._bus.publish_live([self._updated(item, f"language:{message_id}:{language}")])

    async def record_sentiment(self, message_id: str, score: float, translated_from: str) -> None:
        """Translation's score of a customer's message, kept with it and rolled into the conversation's mood."""

        async def attempt() -> tuple[str, bool] | None:
            """(the conversation, whether a change was written); None when the customer's guard failed.
            Under that guard: the customer's next message, as it is stored, also rolls the mood."""
            item = await self._store.item(message_id)
            customer = await self._store.customer(item.customer_id) if item else None
            conversation = await self._store.get_conversation(item.conversation_id) if item else None
            if item is None or customer is None or conversation is None:
                return "", False  # erased since
            change = plan_sentiment(item, conversation, score, translated_from)
            if change is None:
                return conversation.conversation_id, False  # a redelivery: written already
            guarded = replace(change, guard=CustomerGuard(customer.customer_id, customer.version))
            [committed] = await self._store.commit([guarded])
            return (conversation.conversation_id, True) if committed.applied else None

        conversation_id, written = await until_applied(attempt)
        if not written:
            return
        item = await self._store.item(message_id)
        if item is not None:
            await self._bus.publish_live([self._updated(item, f"sentiment:{message_id}:{score}")])
        log.info("sentiment_recorded", message_id=message_id, conversation_id=conversation_id)

    async def record_delivery(self, message_id: str, status: int, detail: str, deliveries: int) -> float | None:
        """A channel's report of how a message's delivery went, kept on the message and on its conversation
        when it is the latest sent there. A report can overtake the message it is about (a proactive
        message is recorded from another event): then how long to wait before asking again, and after
        DELIVERY_WAITS tries it is let go (None)."""
        item = await self._store.item(message_id)
        if item is None:
            if deliveries <= len(DELIVERY_WAITS_SECONDS):
                return DELIVERY_WAITS_SECONDS[deliveries - 1]
            log.info("delivery_report_for_unknown_message", message_id=message_id, status=status)
            return None
        conversation = await self._store.get_conversation(item.conversation_id)
        change = plan_delivery(item, conversation, status, detail)
        if change is None:
            return None
        await self._store.commit([change])
        updated = await self._store.item(message_id)
        if updated is not None:
            await self._bus.publish_live([self._updated(updated, f"delivery:{message_id}:{status}")])
        log.info("delivery_recorded", message_id=message_id, conversation_id=item.conversation_id, status=status)
        return None

    def follow_events(self, cursor: str, from_oldest: bool) -> contextlib.AbstractAsyncContextManager[Feed]:
        """The integrators' feed (WatchEvents): conversation, assignment and delivery events in the order
        stored, from after `cursor`, else from the oldest kept or from now."""
        streams = list(FEED_SUBJECTS)
        start: FeedCursor | None = None
        if cursor:
            try:
                start = FeedCursor.decode(cursor, streams)
            except BadCursor as exc:
                raise InvalidInput(str(exc)) from None
        elif from_oldest:
            start = FeedCursor(tuple((stream, 0) for stream in streams))
        return self._bus.follow(FEED_SUBJECTS, start)

    async def visible_in_feed(self, viewer: Viewer, conversation_id: str) -> bool:
        """Whether a feed event goes to this caller: everything to who sees everything; to an agent, the
        events of conversations they may see now (none about a customer or an agent as a whole)."""
        if viewer.sees_everything:
            return True
        if not conversation_id:
            return False
        conversation = await self._store.get_conversation(conversation_id)
        return conversation is not None and viewer.may_see(conversation)

    async def record_translation(self, message_id: str, language: str, text: str) -> None:
        """Keep a translation beside the original."""
        if await self._store.item(message_id) is None:
            return
        await self._store.commit(
            [
                ThreadChange(
                    item_patches=(ItemPatch(message_id, translation=(language, text), translation_status="done"),)
                )
            ]
        )
        item = await self._store.item(message_id)
        if item is not None:
            await self._bus.publish_live([self._updated(item, f"translated:{message_id}:{language}")])
            log.info("translation_recorded", message_id=message_id, conversation_id=item.conversation_id)

    async def mark_translation_pending(self, message_id: str) -> None:
        if await self._store.item(message_id) is None:
            return
        await self._store.commit([ThreadChange(item_patches=(ItemPatch(message_id, translation_status="pending"),))])
        item = await self._store.item(message_id)
        if item is not None and item.translation_status == "pending":
            await self._bus.publish_live([self._updated(item, f"translation-pending:{message_id}")])

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

    async def record_opt_out(self, channel: str, contact: ContactPoint, opted_out: bool) -> None:
        await self._store.set_opt_out(channel, contact, opted_out)
        log.info("opt_out_recorded", channel=channel, opted_out=opted_out)

    # --- agents' actions ---------------------------------------------------------------------------

    async def _must(self, conversation_id: str) -> Conversation:
        conversation = await self._store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return conversation

    async def send_reply(
        self,
        conversation_id: str,
        agent_id: str,
        text: str,
        client_reply_id: str,
        channel: str = "",
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> StoredMessage:
        """Store the reply, then hand it to the customer's channel; a retry with the same id sends once."""
        body = validate_reply(conversation_id, agent_id, text, client_reply_id)
        if channel == VOICE:
            raise InvalidInput("the phone channel takes no text replies; start a call-back instead")
        message_id = reply_message_id(conversation_id, client_reply_id)
        conversation = await self._must(conversation_id)
        stored = await self._store.item(message_id)
        duplicate = stored is not None
        if stored is not None:
            # A retry goes where the stored reply went, whatever changed since.
            route = await self._store.item_route(message_id)
            assert route is not None
        else:
            source = await self._store.last_inbound(conversation_id, channel)
            kind = contact_kind(channel)
            # A channel account means something on its own channel only: a reply goes there only in answer.
            contact_value = (
                await self._store.latest_contact(conversation.customer_id, kind)
                if source is None and channel and kind != message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT
                else None
            )
            route = reply_route(conversation, channel, source, contact_value)
            refuse_opted_out(route, await self._store.is_opted_out(route.channel, route.recipient))
            change = plan_reply(
                conversation,
                route,
                message_id=message_id,
                agent_id=agent_id,
                text=body,
                client_reply_id=client_reply_id,
                now_us=self._now(),
                by_agent=agent_id != SYSTEM_AGENT,
                metadata=metadata,
            )
            await self._store.commit([change])
            stored = await self._store.item(message_id)
            assert stored is not None
        outbound = channel_events.OutboundMessage(
            message_id=stored.message_id,
            conversation_id=conversation_id,
            customer_id=stored.customer_id,
            **channel_fields(route.channel),
            inbox_id=route.inbox_id,
            recipient=contact_to_proto(route.recipient),
            text=stored.text,
            idempotency_key=stored.message_id,
            agent_id=agent_id,
            created_at=to_timestamp(stored.sent_at_us),
            in_reply_to_message_id=route.in_reply_to_message_id,
            metadata=dict(stored.metadata),
        )
        customer_language = conversation.language
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
        conversation = await self._must(conversation_id)
        note = await self._store.item(note_id)
        duplicate = note is not None
        if note is None:
            item = internal_item(
                conversation, body, item_id=note_id, actor=agent_id, at_us=self._now(), data={}, kind=ItemKind.NOTE
            )
            await self._store.commit([ThreadChange(items=(item,))])
            note = await self._store.item(note_id)
            assert note is not None
        await self._bus.publish_all([self._added(note, note_id)])
        log.info("note_added", conversation_id=conversation_id, agent_id=agent_id, duplicate=duplicate)
        return note

    async def summarise(
        self, conversation_id: str, language: str = "", before: Sequence[Said] = ()
    ) -> tuple[Summary, str]:
        """A summary of the conversation for the next agent, and the language the customer was read in.
        `before`: what was said elsewhere first (a bot's transcript), read ahead of the thread."""
        conversation = await self._must(conversation_id)
        items: list[StoredMessage] = []
        after = 0
        while True:
            page = await self._store.list_messages(conversation_id, MAX_PAGE_SIZE, after)
            items = [*items, *page][-SUMMARY_ITEMS:]
            if len(page) < MAX_PAGE_SIZE:
                break
            after = page[-1].sequence
        reader = language or reading_language(items)
        facts = await self._store.profile(conversation.customer_id)
        who = who_line(conversation, facts, self._now())
        said = [*before, *said_in(items, reader)]
        return self._summarizer.summarise(who, said, reader or conversation.language), reader

    async def note_summary(
        self, conversation_id: str, reason: str, source_id: str, before: Sequence[Said] = ()
    ) -> StoredMessage | None:
        """The summary as a private note (the first thing the next agent reads), once per handoff."""
        note_id = derived_id("summary", conversation_id, source_id)
        note = await self._store.item(note_id)
        if note is None:
            conversation = await self._store.get_conversation(conversation_id)
            if conversation is None:
                return None
            summary, language = await self.summarise(conversation_id, before=before)
            data = {
                "summary": reason,
                "who": summary.who,
                "sources": " ".join(summary.sources),
                "points": summary.points_json(),
                "language": language,
            }
            item = internal_item(
                conversation,
                summary.as_note(reason),
                item_id=note_id,
                actor=SYSTEM_AGENT,
                at_us=self._now(),
                data=data,
                kind=ItemKind.NOTE,
            )
            await self._store.commit([ThreadChange(items=(item,))])
            note = await self._store.item(note_id)
            assert note is not None
        await self._bus.publish_all([self._added(note, note_id)])
        log.info("summary_noted", conversation_id=conversation_id, message_id=note_id)
        return note

    async def set_status(self, conversation_id: str, status: int, snoozed_until_us: int, actor: str) -> Conversation:
        if not conversation_id or not actor:
            raise InvalidInput("conversation_id and agent_id are required")

        async def attempt() -> tuple[Conversation, ConversationStatus, StoredMessage | None] | None:
            current = await self._must(conversation_id)
            customer = await self._store.customer(current.customer_id)
            if customer is None:
                raise NotFound(f"customer {current.customer_id} not found")
            at = self._now()
            new_status, until = status_change(current, status, snoozed_until_us, at)
            until_text = datetime.fromtimestamp(until / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M UTC") if until else ""
            activity_id = new_id()
            change = plan_status(
                current,
                customer,
                new_status,
                until,
                actor=actor,
                text=status_text(new_status, actor, until_text),
                activity_id=activity_id,
                now_us=at,
            )
            if change is None:
                return current, current.status, None
            [committed] = await self._store.commit([change])
            if not committed.applied:
                return None
            return await self._must(conversation_id), current.status, await self._store.item(activity_id)

        conversation, previous, activity = await until_applied(attempt)
        if activity is not None:
            await self._announce_status(conversation, previous, actor, activity)
            if conversation.status == ConversationStatus.RESOLVED:
                await self.ask_satisfaction(conversation)
        return conversation

    async def ask_satisfaction(self, conversation: Conversation) -> StoredMessage | None:
        """On resolving: how did we do? Once per conversation, on the channel the customer used, and never
        on a channel they opted out of (the survey is then not sent, and the conversation not marked)."""
        if not survey_due(conversation, self._surveys):
            return None
        try:
            sent = await self.send_reply(
                conversation.conversation_id,
                SYSTEM_AGENT,
                survey_text(conversation.channel),
                SURVEY_CLIENT_ID,
                metadata=(("survey", "satisfaction"),),
            )
        except FailedPrecondition as exc:
            log.info("survey_not_sent", conversation_id=conversation.conversation_id, reason=str(exc))
            return None
        asked = Satisfaction(sent.message_id, sent.sent_at_us, conversation.assignee_agent_id, conversation.team)
        patch = ConversationPatch(conversation.conversation_id, satisfaction=asked)
        await self._store.commit([ThreadChange(patches=(patch,))])
        log.info("survey_sent", conversation_id=conversation.conversation_id, message_id=sent.message_id)
        return sent

    async def wake_snoozed(self) -> int:
        """Reopen snoozed conversations whose time has come; returns how many. Each is woken once,
        whichever replica asks (the activity's id is derived from the snooze)."""
        at = self._now()
        woken = 0
        for due in await self._store.due_snoozed(at, 500):
            customer = await self._store.customer(due.customer_id)
            if customer is None:
                continue
            change, activity_id = plan_wake(due, customer, now_us=at)
            activity = await self._append_internal(change, activity_id)
            if activity is None:
                continue  # changed meanwhile, or woken by another replica; the next pass looks again
            conversation = await self._must(due.conversation_id)
            await self._announce_status(conversation, ConversationStatus.SNOOZED, "system", activity)
            woken += 1
        return woken

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
            **channel_fields(conversation.channel),
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
        current = await self._must(conversation_id)
        activity_id = new_id()
        change = plan_tags(current, to_add, to_remove, actor=actor, activity_id=activity_id, now_us=self._now())
        if change is None:
            return current
        activity = await self._append_internal(change, activity_id)
        conversation = await self._must(conversation_id)
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
        current = await self._must(conversation_id)
        activity_id = new_id()
        change = plan_participant(current, participant, actor=actor, activity_id=activity_id, now_us=self._now())
        if change is None:
            return current
        activity = await self._append_internal(change, activity_id)
        if activity is not None:
            await self._bus.publish_all([self._added(activity, activity.message_id)])
        return await self._must(conversation_id)

    # --- reading -----------------------------------------------------------------------------------

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._store.get_conversation(conversation_id)

    async def list_conversations(self, query: ConversationQuery, page_size: int = 0) -> tuple[list[Conversation], str]:
        return await self._store.list_conversations(
            replace(query, tag=query.tag.strip().lower(), limit=_page_size(page_size, 50))
        )

    async def customer_conversations(self, customer_id: str) -> list[Conversation]:
        """Every conversation of a customer, for the visibility of customer-wide reads and changes."""
        found: list[Conversation] = []
        cursor = ""
        while True:
            page, cursor = await self._store.list_conversations(
                ConversationQuery(customer_id=customer_id, limit=MAX_PAGE_SIZE, cursor=cursor)
            )
            found.extend(page)
            if not cursor or not page:
                return found

    async def list_messages(
        self, conversation_id: str, page_size: int, after_sequence: int
    ) -> tuple[list[StoredMessage], int]:
        """A page of the conversation's items (at most MAX_PAGE_SIZE, whatever was asked), and the sequence
        the next page starts after, 0 when this is the last one."""
        limit = _page_size(page_size, 100)
        found = await self._store.list_messages(conversation_id, limit + 1, after_sequence)
        page = found[:limit]
        return page, (page[-1].sequence if len(found) > limit else 0)

    async def timeline(
        self, customer_id: str, page_size: int, cursor: str, exclude_notes: bool
    ) -> tuple[list[StoredMessage], str]:
        if not customer_id:
            raise InvalidInput("customer_id is required")
        await self._known_customer(customer_id)
        return await self._store.timeline(customer_id, _page_size(page_size, 100), cursor, exclude_notes)

    async def _known_customer(self, customer_id: str) -> None:
        """NOT_FOUND for a customer id that names nobody (or somebody erased), rather than an empty answer."""
        if await self._store.customer(customer_id) is None:
            raise NotFound(f"customer {customer_id} not found")

    async def profile(self, customer_id: str, contact: ContactPoint | None = None) -> CustomerFacts:
        if bool(customer_id) == bool(contact and contact.value):
            raise InvalidInput("either customer_id or a contact point is required")
        if contact is not None and contact.value:
            found = await self._store.customer_by_contact(contact)
            if found is None:
                raise NotFound("no customer with that contact point")
            customer_id = found.customer_id
        facts = await self._store.profile(customer_id)
        if facts is None:
            raise NotFound(f"customer {customer_id} not found")
        return facts

    async def update_attributes(self, customer_id: str, changes: dict[str, str], actor: str) -> CustomerFacts:
        if not customer_id or not actor:
            raise InvalidInput("customer_id and agent_id are required")
        customer = await self._store.customer(customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        merged = merge_attributes(dict(customer.attributes), changes)
        at = self._now()
        await self._store.commit(
            [
                ThreadChange(
                    customer_patches=(CustomerPatch(customer_id, attributes=tuple(merged.items())),),
                    audit=(audit_entry(actor, "attributes_changed", customer_id, {"changes": changes}, at, new_id()),),
                )
            ]
        )
        log.info("customer_attributes_changed", customer_id=customer_id, agent_id=actor, keys=sorted(changes))
        return await self.profile(customer_id)

    async def search(
        self, text: str, viewer: Viewer, page_size: int, page_token: str
    ) -> tuple[list[StoredMessage], str]:
        query = SearchQuery(search_terms(text))
        if page_token and not page_token.isdigit():
            raise InvalidInput("page_token is not one this service issued")
        offset = int(page_token or 0)
        limit = _page_size(page_size, 25)
        found = await self._store.search(query, viewer, limit + 1, offset)
        next_token = str(offset + limit) if len(found) > limit else ""
        return found[:limit], next_token

    # --- customers: export, erasure, merge, split ---------------------------------------------------

    async def export_customer(self, customer_id: str, actor: str) -> dict[str, object]:
        facts = await self.profile(customer_id)
        if not actor:
            raise InvalidInput("agent_id is required: exports are audited")
        at = self._now()
        await self._store.commit([ThreadChange(audit=(audit_entry(actor, "exported", customer_id, {}, at, new_id()),))])
        conversations, items, audit = await self._store.export(customer_id)
        log.info("customer_exported", customer_id=customer_id, agent_id=actor)
        return export_document(facts, conversations, items, audit, at)

    async def erase_customer(self, customer_id: str, actor: str, reason: str) -> ErasureReceipt:
        if not customer_id or not actor or not reason.strip():
            raise InvalidInput("customer_id, agent_id and reason are required: erasures are audited")
        if await self._store.customer(customer_id) is None:
            raise NotFound(f"customer {customer_id} not found")
        receipt = await self._store.erase_customer(Tombstone(customer_id, self._now(), actor, reason.strip()[:500]))
        erased = conversation_events.CustomerErased(
            customer_id=customer_id,
            contact_points=[contact_to_proto(c) for c in receipt.contact_points],
            erased_at=to_timestamp(receipt.erased_at_us),
            conversation_ids=receipt.conversation_ids,
        )
        await self._bus.publish(erased, event_id=f"customer-erased:{customer_id}")
        log.info("customer_erased", customer_id=customer_id, agent_id=actor, items=receipt.items)
        return receipt

    async def erase_from_streams(
        self,
        notice: Event[conversation_events.CustomerErased],
        notice_consumer: ConsumerSpec[conversation_events.CustomerErased],
    ) -> None:
        """The erased customer's events leave every stream; the notice itself last, once every other service
        has handled it (until then it is put back, and each look catches what they published meanwhile)."""
        erased = notice.payload
        scope = ErasureScope.of(erased)
        stream = notice_consumer.stream_name()
        events = await self._bus.erase_events(
            lambda envelope: is_about(envelope, scope), keep={(stream, notice.stream_sequence)}
        )
        waiting = await self._bus.not_yet_handled_by(notice_consumer, notice.subject, notice.stream_sequence)
        if waiting:
            delay = notice_wait_seconds(notice.deliveries)
            if delay is not None:
                raise Postponed(delay, f"the erasure notice is still needed by {', '.join(waiting)}")
            log.error("erasure_notice_never_handled", customer_id=erased.customer_id, consumers=waiting)
        await self._bus.erase_event(stream, notice.stream_sequence)
        log.info("customer_erased_from_streams", customer_id=erased.customer_id, events=events)

    async def _merge(self, a: str, b: str, actor: str, reason: str, now: int) -> MergeReceipt:
        """Two records of one person become one: the older keeps everything (see `surviving_customer`).
        When both have an active conversation, the merged one's is resolved, pointing to the survivor's."""

        async def attempt() -> MergeReceipt | None:
            first, second = await self._store.customer(a), await self._store.customer(b)
            if first is None or second is None or a == b:
                raise NotFound("both customers must exist (and differ) to merge them")
            records = {first.customer_id: first, second.customer_id: second}
            surviving_id, merged_id = surviving_customer((a, first.created_at_us), (b, second.created_at_us))
            surviving, merged = records[surviving_id], records[merged_id]
            resolved = ""
            if surviving.active_conversation_id and merged.active_conversation_id:
                ending = await self._store.get_conversation(merged.active_conversation_id)
                if ending is not None:
                    ended = plan_merged_away(ending, merged, surviving.active_conversation_id, actor=actor, now_us=now)
                    [committed] = await self._store.commit([ended])
                    if not committed.applied:
                        return None
                    resolved = ending.conversation_id
            active = surviving.active_conversation_id or ("" if resolved else merged.active_conversation_id)
            settled = [
                SuggestionDecision(s.suggestion_id, "merged", actor, now)
                for s in await self._store.merge_suggestions(merged_id)
                if s.status == "pending" and surviving_id in (s.customer_id, s.other_customer_id)
            ]
            await self._store.commit(
                [
                    ThreadChange(
                        suggestion_decisions=tuple(settled),
                        customer_patches=(CustomerPatch(surviving_id, display_name_if_empty=merged.display_name),),
                        audit=(
                            audit_entry(
                                actor,
                                "merged",
                                surviving_id,
                                {"merged_customer_id": merged_id, "reason": reason},
                                now,
                                new_id(),
                            ),
                        ),
                    )
                ]
            )
            await self._store.merge_customers(surviving_id, merged_id, active)
            return MergeReceipt(surviving_id, merged_id, resolved)

        return await until_applied(attempt)

    async def merge_customers(self, a: str, b: str, actor: str, reason: str) -> MergeReceipt:
        if not a or not b or a == b:
            raise InvalidInput("customer_id and other_customer_id must name two customers")
        if not actor or not reason.strip():
            raise InvalidInput("agent_id and reason are required: merges are audited")
        receipt = await self._merge(a, b, actor, reason.strip()[:500], self._now())
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
        """Move `contacts` to a new customer, with the conversations in which only they wrote."""
        if not customer_id or not actor or not reason.strip():
            raise InvalidInput("customer_id, agent_id and reason are required: splits are audited")
        reason = reason.strip()[:500]

        async def attempt() -> tuple[str, list[str]] | None:
            customer = await self._store.customer(customer_id)
            owned = set(await self._store.contacts_of(customer_id))
            if customer is None or not owned:
                raise NotFound(f"customer {customer_id} not found")
            moving = set(contacts)
            if not moving or not moving <= owned:
                raise InvalidInput("contact_points must be some of this customer's contact points")
            if moving == owned:
                raise InvalidInput("at least one contact point must stay with the customer")
            writers = await self._store.inbound_writers(customer_id)
            moved = [c for c, wrote in writers.items() if wrote and wrote <= moving]
            active_moves = customer.active_conversation_id in moved
            now = self._now()
            new_customer = CustomerRecord(new_id(), "", now, 1, customer.active_conversation_id if active_moves else "")
            details: dict[str, object] = {
                "new_customer_id": new_customer.customer_id,
                "contact_points": sorted(c.value for c in moving),
                "conversations": moved,
                "reason": reason,
            }
            [committed] = await self._store.commit(
                [
                    ThreadChange(
                        guard=CustomerGuard(customer_id, customer.version, "" if active_moves else None),
                        audit=(audit_entry(actor, "split", customer_id, details, now, new_id()),),
                    )
                ]
            )
            if not committed.applied:
                return None
            await self._store.move_to_customer(new_customer, sorted(moving, key=lambda c: (c.kind, c.value)), moved)
            split_from = {"customer_id": customer_id, "reason": reason}
            await self._store.commit(
                [
                    ThreadChange(
                        audit=(audit_entry(actor, "split_from", new_customer.customer_id, split_from, now, new_id()),)
                    )
                ]
            )
            return new_customer.customer_id, moved

        new_customer_id, moved = await until_applied(attempt)
        log.info("customer_split", customer_id=customer_id, new_customer_id=new_customer_id, agent_id=actor)
        return new_customer_id, moved

    async def merge_suggestions(self, customer_id: str) -> list[MergeSuggestion]:
        """One customer's pending suggestions, or everyone's when `customer_id` is empty."""
        if customer_id:
            await self._known_customer(customer_id)
        return await self._store.merge_suggestions(customer_id)

    async def decide_suggestion(
        self, suggestion_id: str, accept: bool, actor: str
    ) -> tuple[MergeSuggestion, MergeReceipt | None]:
        if not suggestion_id or not actor:
            raise InvalidInput("suggestion_id and agent_id are required")
        suggestion = await self._store.merge_suggestion(suggestion_id)
        if suggestion is None:
            raise NotFound(f"merge suggestion {suggestion_id} not found")
        if suggestion.status != "pending":
            raise FailedPrecondition(f"this suggestion is already {suggestion.status}")
        now = self._now()
        receipt = None
        if accept:
            receipt = await self._merge(
                suggestion.customer_id, suggestion.other_customer_id, actor, "confirmed suggestion", now
            )
        audit = (
            ()
            if accept
            else (
                audit_entry(
                    actor, "merge_rejected", suggestion.customer_id, {"suggestion_id": suggestion_id}, now, new_id()
                ),
            )
        )
        await self._store.commit(
            [
                ThreadChange(
                    suggestion_decisions=(
                        SuggestionDecision(suggestion_id, "accepted" if accept else "rejected", actor, now),
                    ),
                    audit=audit,
                )
            ]
        )
        decided = await self._store.merge_suggestion(suggestion_id)
        assert decided is not None
        if receipt is not None:
            await self._bus.publish_all([self._merged(receipt)])
        log.info("merge_suggestion_decided", suggestion_id=suggestion_id, accepted=accept, agent_id=actor)
        return decided, receipt

    @staticmethod
    def _merged(receipt: MergeReceipt) -> Outgoing:
        merged = conversation_events.CustomersMerged(
            surviving_customer_id=receipt.surviving_customer_id, merged_customer_id=receipt.merged_customer_id
        )
        stamp_now(merged.merged_at)
        return Outgoing(merged, f"customers-merged:{receipt.merged_customer_id}")

    @staticmethod
    def _updated(item: StoredMessage, event_id: str) -> Outgoing:
        """A stored message changed: for live views only (published live, not stored)."""
        return Outgoing(conversation_events.MessageUpdated(message=message_to_proto(item)), event_id, item.message_id)

    @staticmethod
    def _added(
        item: StoredMessage, correlation_id: str, opened: conversation_events.ConversationOpened | None = None
    ) -> Outgoing:
        return message_added(item, correlation_id, opened)
