"""From a decision to the change that records it, pure: which rows a use case writes, and the timeline
texts it writes with them. No I/O; the actions load what these need and hand the result to the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from inbox_events.channels import channel_label, contact_kind

from inbox_threading.changes import (
    AuditEntry,
    ConversationPatch,
    CustomerGuard,
    CustomerPatch,
    CustomerRecord,
    ItemPatch,
    NewConversation,
    NewItem,
    ReplySource,
    ThreadChange,
)
from inbox_threading.domain import (
    EMAIL,
    FOLLOW_UP_TAG,
    MAX_TAGS,
    SYSTEM_AGENT,
    ContactPoint,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    FailedPrecondition,
    IdentityAction,
    InvalidInput,
    ItemKind,
    MergeSuggestion,
    NewInboundMessage,
    NewProactiveMessage,
    NotFound,
    ReplyRoute,
    StoredMessage,
    SurveyPolicy,
    ThreadAction,
    ThreadPolicy,
    continued_by,
    decide_identity,
    decide_thread,
    delivery_moves_on,
    derived_id,
    preview_of,
    replaceable_by,
    rolled_mood,
    sent_by_agent,
)

# Notes and activity are timeline items, not messages between customer and agent.
COUNTED_KINDS = frozenset({ItemKind.TEXT, ItemKind.CALL_EVENT, ItemKind.VOICEMAIL, ItemKind.MISSED_CALL})
NO_CONTACT = ContactPoint(0, "")
MAX_SUBJECT_LENGTH = 300
MAX_DELIVERY_DETAIL = 500


def provider_key(channel: str, provider_message_id: str) -> str:
    return f"{channel}:{provider_message_id}" if provider_message_id else ""


def conversation_id_for(message_id: str) -> str:
    """The id of the conversation a message opens: derived, so a retried open writes the same one."""
    return derived_id("conversation", message_id)


def internal_item(
    conversation: Conversation,
    text: str,
    *,
    item_id: str,
    actor: str,
    at_us: int,
    data: dict[str, str],
    kind: ItemKind = ItemKind.ACTIVITY,
) -> NewItem:
    """A timeline item never sent to the customer: a line about the conversation itself ("Resolved by
    ada", "Continued by SMS") or, with `kind=NOTE`, an agent's private note."""
    return NewItem(
        message_id=item_id,
        conversation_id=conversation.conversation_id,
        customer_id=conversation.customer_id,
        direction=Direction.INTERNAL,
        channel=conversation.channel,
        inbox_id=conversation.inbox_id,
        agent_id=actor,
        contact=NO_CONTACT,
        text=text,
        sent_at_us=at_us,
        received_at_us=at_us,
        at_us=at_us,
        kind=kind,
        metadata=tuple(sorted(data.items())),
    )


@dataclass(frozen=True)
class InboundPlan:
    change: ThreadChange
    conversation_id: str
    customer_id: str
    opened: bool
    reopened: bool
    previous_agent_id: str
    activities: tuple[NewItem, ...]
    message: NewItem


def inbound_item(message: NewInboundMessage, conversation_id: str, customer_id: str, now_us: int) -> NewItem:
    """The customer's item as it is stored in `conversation_id`."""
    return NewItem(
        message_id=message.message_id,
        conversation_id=conversation_id,
        customer_id=customer_id,
        direction=Direction.INBOUND,
        channel=message.channel,
        inbox_id=message.inbox_id,
        agent_id="",
        contact=message.sender,
        text=message.text,
        sent_at_us=message.sent_at_us or message.received_at_us,
        received_at_us=message.received_at_us,
        at_us=now_us,
        kind=message.kind,
        provider_key=provider_key(message.channel, message.provider_message_id),
        metadata=message.metadata,
        attachments=message.attachments,
    )


def plan_inbound(
    message: NewInboundMessage,
    *,
    customer: CustomerRecord,
    active: Conversation | None,
    latest_resolved: Conversation | None,
    referenced: Conversation | None,
    policy: ThreadPolicy,
    now_us: int,
    extra: ThreadChange | None = None,
    language: str = "",
    sentiment: float | None = None,
) -> InboundPlan:
    """Which conversation the item joins (see `decide_thread`) and everything written with it, guarded
    by the customer's version so a concurrent writer makes this plan start over instead of opening a
    second active conversation. `extra` carries identity links, suggestions and their audit lines.
    `language`, the customer's known language or a confident detection of the item's, becomes the item's
    at once, and the conversation's and the customer's where they have none yet (a language already known
    is not overridden here: translation's detection of every message corrects a switch). `sentiment`, the
    item's score when it was read as it is stored (English), is kept with it and rolled into the mood."""
    extra = extra or ThreadChange()
    at = message.sent_at_us or now_us
    interrupted_open = customer.active_conversation_id if active is None else ""
    decision = decide_thread(
        active=active, latest_resolved=latest_resolved, referenced=referenced, now_us=now_us, policy=policy
    )
    conversations: tuple[NewConversation, ...] = ()
    patches: list[ConversationPatch] = []
    activities: list[NewItem] = []
    previous_agent = ""
    new_active: str | None = None
    waiting_since = at  # a new or reopened conversation: the customer waits from this message
    unanswered = 1
    current: Conversation | None = None  # the conversation it joins, when not a new one
    if decision.action is ThreadAction.OPEN_NEW:
        # An open interrupted before its conversation was written (a crash between two writes on a store
        # without transactions) is finished under the id the customer already points to.
        conversation_id = interrupted_open or conversation_id_for(message.message_id)
        conversations = (
            NewConversation(
                conversation_id=conversation_id,
                customer_id=customer.customer_id,
                channel=message.channel,
                inbox_id=message.inbox_id,
                opened_at_us=now_us,
                team=policy.team,
                previous_conversation_id=decision.previous_conversation_id,
            ),
        )
        new_active = conversation_id
    else:
        current = next(
            c for c in (referenced, active, latest_resolved) if c and c.conversation_id == decision.conversation_id
        )
        conversation_id = current.conversation_id
        if decision.action is ThreadAction.REOPEN:
            previous_agent = current.assignee_agent_id
            new_active = conversation_id
            patches.append(
                ConversationPatch(
                    conversation_id,
                    status=ConversationStatus.OPEN,
                    resolved_at_us=0,
                    snoozed_until_us=0,
                    assignee_agent_id="",
                )
            )
            activities.append(
                internal_item(
                    current,
                    "Reopened: the customer wrote again",
                    item_id=derived_id("reopened", message.message_id),
                    actor="customer",
                    at_us=at,
                    data={"activity": "reopened", "previous_agent_id": previous_agent},
                )
            )
        elif current.status in (ConversationStatus.PENDING, ConversationStatus.SNOOZED):
            # The customer answered: it needs an agent again.
            patches.append(ConversationPatch(conversation_id, status=ConversationStatus.OPEN, snoozed_until_us=0))
        if decision.action is ThreadAction.CONTINUE and current.waiting_since_us:
            waiting_since = current.waiting_since_us  # still waiting since their first unanswered message
            unanswered = current.unanswered_count + 1
        switched = continued_by(current.channel, message.channel)
        if switched and message.kind in COUNTED_KINDS:
            activities.append(
                internal_item(
                    current,
                    switched,
                    item_id=derived_id("continued", message.message_id),
                    actor="customer",
                    at_us=at,
                    data={"activity": "channel_switched", "channel": channel_label(message.channel)},
                )
            )
    item = inbound_item(message, conversation_id, customer.customer_id, now_us)
    conversation_language = language if current is None or not current.language else ""
    if message.kind in COUNTED_KINDS:
        patches.append(
            ConversationPatch(
                conversation_id,
                preview=preview_of(message.text, message.kind),
                preview_direction=Direction.INBOUND,
                waiting_since_us=waiting_since,
                unanswered_count=unanswered,
                language=conversation_language or None,
                subject=first_subject(message, current),
                mood=None if sentiment is None else rolled_mood(current.mood if current else None, sentiment),
            )
        )
    elif conversation_language:
        patches.append(ConversationPatch(conversation_id, language=conversation_language))
    email_id = dict(message.metadata).get("email_message_id", "")
    customer_patches = extra.customer_patches
    if language and not customer.language:
        customer_patches += (CustomerPatch(customer.customer_id, language=language),)
    if customer.version and message.sender_name and not customer.display_name:
        customer_patches += (CustomerPatch(customer.customer_id, display_name_if_empty=message.sender_name),)
    change = ThreadChange(
        guard=CustomerGuard(
            customer.customer_id,
            customer.version,
            new_active,
            display_name=customer.display_name,
            created_at_us=customer.created_at_us,
            contact=None if customer.version else message.sender,
        ),
        contact_links=extra.contact_links,
        conversations=conversations,
        patches=tuple(patches),
        items=(*activities, item),
        item_patches=(
            (ItemPatch(item.message_id, language=language or None, sentiment=_scored(sentiment)),)
            if language or sentiment is not None
            else ()
        ),
        customer_patches=customer_patches,
        refs=((email_id, conversation_id),) if email_id else (),
        audit=extra.audit,
        suggestions=extra.suggestions,
    )
    return InboundPlan(
        change=change,
        conversation_id=conversation_id,
        customer_id=customer.customer_id,
        opened=decision.action is ThreadAction.OPEN_NEW,
        reopened=decision.action is ThreadAction.REOPEN,
        previous_agent_id=previous_agent,
        activities=tuple(activities),
        message=item,
    )


def plan_automatic(
    message: NewInboundMessage, *, customer: CustomerRecord, target: Conversation, now_us: int
) -> ThreadChange:
    """An automatic message kept on the conversation it answers (`automatic_target`), as it stands: no
    status, preview or waiting time changes, nothing opens or reopens. Guarded by the customer's version
    like every inbound write, so it never lands beside a concurrent open."""
    item = inbound_item(message, target.conversation_id, customer.customer_id, now_us)
    guard = CustomerGuard(customer.customer_id, customer.version, None, display_name=customer.display_name)
    return ThreadChange(guard=guard, items=(item,))


def plan_feedback(
    message: NewInboundMessage,
    *,
    customer: CustomerRecord,
    target: Conversation,
    score: int,
    comment: str,
    policy: SurveyPolicy,
    now_us: int,
) -> ThreadChange:
    """The customer's answer to the survey, kept in the conversation it was asked in (nothing reopens); the
    conversation keeps the score for the agent and team that had it. A low score tags the conversation
    `follow-up` with a note saying why: a supervisor's task, listed in their view until done."""
    asked = target.satisfaction
    assert asked is not None
    answered = replace(asked, score=score, comment=comment, answered_at_us=now_us)
    item = replace(
        inbound_item(message, target.conversation_id, customer.customer_id, now_us),
        text=comment,
        kind=ItemKind.FEEDBACK,
        metadata=(*message.metadata, ("satisfaction_score", str(score))),
    )
    items: tuple[NewItem, ...] = (item,)
    patch = ConversationPatch(target.conversation_id, satisfaction=answered)
    if score <= policy.low_score:
        patch = replace(patch, add_tags=(FOLLOW_UP_TAG,))
        why = f"Follow-up for a supervisor: the customer rated {score}/5" + (f": “{comment}”" if comment else "")
        note = internal_item(
            target,
            why,
            item_id=derived_id("follow-up", target.conversation_id),
            actor=SYSTEM_AGENT,
            at_us=now_us,
            data={"follow_up": "satisfaction", "score": str(score)},
            kind=ItemKind.NOTE,
        )
        items = (item, note)
    guard = CustomerGuard(customer.customer_id, customer.version, None, display_name=customer.display_name)
    return ThreadChange(guard=guard, items=items, patches=(patch,))


@dataclass(frozen=True)
class NudgePlan:
    change: ThreadChange
    conversation_id: str
    # The line saying why the customer got it, then the nudge itself.
    items: tuple[NewItem, NewItem]


def plan_nudge(
    *,
    customer: CustomerRecord,
    active: Conversation | None,
    route: ReplyRoute,
    message_id: str,
    text: str,
    why: str,
    metadata: tuple[tuple[str, str], ...],
    now_us: int,
) -> NudgePlan:
    """A nudge joins the customer's open conversation, or goes in a new one that is resolved at once: the
    customer has not asked for anything, so nobody owns it, and their answer reopens it and is routed like
    any other (with the nudge, and the line saying why they got it, in the thread)."""
    conversation_id = active.conversation_id if active is not None else conversation_id_for(message_id)
    conversations: tuple[NewConversation, ...] = ()
    patches: tuple[ConversationPatch, ...] = ()
    if active is None:
        conversations = (NewConversation(conversation_id, customer.customer_id, route.channel, route.inbox_id, now_us),)
        patches = (ConversationPatch(conversation_id, status=ConversationStatus.RESOLVED, resolved_at_us=now_us),)
    base = active or Conversation(
        conversation_id,
        customer.customer_id,
        ConversationStatus.RESOLVED,
        route.channel,
        route.inbox_id,
        "",
        now_us,
        now_us,
        0,
    )
    line = internal_item(
        base, why, item_id=derived_id("nudged", message_id), actor=SYSTEM_AGENT, at_us=now_us, data=dict(metadata)
    )
    nudge = replace(
        reply_item(
            base,
            route,
            message_id=message_id,
            agent_id=SYSTEM_AGENT,
            text=text,
            client_reply_id=f"nudge:{message_id}",
            now_us=now_us,
        ),
        metadata=metadata,
    )
    change = ThreadChange(
        guard=CustomerGuard(customer.customer_id, customer.version, None, display_name=customer.display_name),
        conversations=conversations,
        patches=(
            *patches,
            ConversationPatch(
                conversation_id,
                preview=preview_of(text),
                preview_direction=Direction.OUTBOUND,
                last_outbound_id=message_id,
                last_delivery_status=DeliveryStatus.UNSPECIFIED,
            ),
        ),
        items=(line, nudge),
        refs=((message_id, conversation_id),),
    )
    return NudgePlan(change, conversation_id, (line, nudge))


def plan_proactive(
    message: NewProactiveMessage, *, customer: CustomerRecord, active: Conversation | None, now_us: int
) -> tuple[ThreadChange, str, bool]:
    """A proactive message joins the recipient's active conversation, or opens one. An agent's belongs to the
    agent from the start (the customer has not written, so there is nothing to route; their answer continues
    it with that agent). One from an integration or the system has nobody to answer it: its conversation is
    resolved at once, so the customer's answer reopens it and routing places it, like a nudge's. Returns
    (change, conversation, opened)."""
    opened = active is None
    from_agent = sent_by_agent(message.agent_id)
    conversation_id = (
        active.conversation_id
        if active is not None
        else (customer.active_conversation_id if from_agent else "") or conversation_id_for(message.message_id)
    )
    item = NewItem(
        message_id=message.message_id,
        conversation_id=conversation_id,
        customer_id=customer.customer_id,
        direction=Direction.OUTBOUND,
        channel=message.channel,
        inbox_id=message.inbox_id,
        agent_id=message.agent_id,
        contact=message.recipient,
        text=message.text,
        sent_at_us=message.sent_at_us or now_us,
        received_at_us=now_us,
        at_us=now_us,
        metadata=message.metadata,
    )
    change = ThreadChange(
        guard=CustomerGuard(
            customer.customer_id,
            customer.version,
            conversation_id if opened and from_agent else None,
            created_at_us=customer.created_at_us,
            contact=None if customer.version else message.recipient,
        ),
        conversations=(
            NewConversation(
                conversation_id,
                customer.customer_id,
                message.channel,
                message.inbox_id,
                now_us,
                assignee_agent_id=message.agent_id if from_agent else "",
            ),
        )
        if opened
        else (),
        patches=(
            *(
                (ConversationPatch(conversation_id, status=ConversationStatus.RESOLVED, resolved_at_us=now_us),)
                if opened and not from_agent
                else ()
            ),
            answered(conversation_id, message.text, message.message_id),
        ),
        items=(item,),
        refs=((message.message_id, conversation_id),),
    )
    return change, conversation_id, opened


def reply_route(
    conversation: Conversation, channel: str, source: ReplySource | None, contact_value: str | None
) -> ReplyRoute:
    """Where a reply goes: the customer's last message (on `channel`, when one is chosen), else their
    contact point for the chosen channel."""
    if source is not None and source.contact.kind > 0:
        route = ReplyRoute(source.channel, source.inbox_id, source.contact, source.message_id)
    elif channel:
        if contact_value is None:
            raise FailedPrecondition(f"the customer has no {channel_label(channel, 'such')} contact")
        route = ReplyRoute(channel, conversation.inbox_id, ContactPoint(contact_kind(channel), contact_value), "")
    else:
        raise NotFound(f"conversation {conversation.conversation_id} has no customer message to reply to")
    return route


def refuse_opted_out(route: ReplyRoute, opted_out: bool) -> None:
    if opted_out:
        raise FailedPrecondition(f"the customer opted out of {channel_label(route.channel, 'this channel')}")


def stored_message(item: NewItem, sequence: int) -> StoredMessage:
    """The item as the timeline shows it once written."""
    return StoredMessage(
        message_id=item.message_id,
        conversation_id=item.conversation_id,
        customer_id=item.customer_id,
        direction=item.direction,
        channel=item.channel,
        agent_id=item.agent_id,
        text=item.text,
        sent_at_us=item.sent_at_us,
        received_at_us=item.received_at_us,
        sequence=sequence,
        kind=item.kind,
        metadata=tuple(sorted(item.metadata)),
        attachments=item.attachments,
    )


def reference_candidates(references: tuple[str, ...]) -> tuple[str, ...]:
    """Ids an email may answer, in order: our replies go out as "<message id>@<domain>", customers'
    mails are known by their full id."""
    candidates: list[str] = []
    for ref in references:
        candidates.extend((ref, ref.rpartition("@")[0]))
    return tuple(dict.fromkeys(c for c in candidates if c))


def first_subject(message: NewInboundMessage, current: Conversation | None) -> str | None:
    """An email's subject becomes its conversation's when the conversation has none yet (None: no change)."""
    subject = dict(message.metadata).get("subject", "").strip() if message.channel == EMAIL else ""
    if not subject or (current is not None and current.subject):
        return None
    return subject[:MAX_SUBJECT_LENGTH]


def answered(conversation_id: str, text: str, message_id: str) -> ConversationPatch:
    """An agent's message: the list shows it, the customer no longer waits, and its delivery is the one the
    conversation reports."""
    return ConversationPatch(
        conversation_id,
        preview=preview_of(text),
        preview_direction=Direction.OUTBOUND,
        waiting_since_us=0,
        unanswered_count=0,
        last_outbound_id=message_id,
        last_delivery_status=DeliveryStatus.UNSPECIFIED,
    )


def plan_delivery(
    item: StoredMessage, conversation: Conversation | None, status: int, detail: str
) -> ThreadChange | None:
    """A channel's report of a message's delivery, kept on the message and, for the latest message sent in
    its conversation, on the conversation; None when it says nothing new (a late or repeated report)."""
    if item.direction != Direction.OUTBOUND or not delivery_moves_on(item.delivery_status, status):
        return None
    patches: tuple[ConversationPatch, ...] = ()
    if (
        conversation is not None
        and conversation.last_outbound_id == item.message_id
        and delivery_moves_on(conversation.last_delivery_status, status)
    ):
        patches = (ConversationPatch(conversation.conversation_id, last_delivery_status=status),)
    item_patch = ItemPatch(item.message_id, delivery=(status, detail[:MAX_DELIVERY_DETAIL], replaceable_by(status)))
    return ThreadChange(patches=patches, item_patches=(item_patch,))


def plan_reply(
    conversation: Conversation,
    route: ReplyRoute,
    *,
    message_id: str,
    agent_id: str,
    text: str,
    client_reply_id: str,
    now_us: int,
    by_agent: bool,
    metadata: tuple[tuple[str, str], ...] = (),
) -> ThreadChange:
    """A reply stored with where it goes; an agent's (not an automatic notice) answers the customer.
    `metadata` travels with it to the channel (a survey asks the chat widget for its rating buttons)."""
    item = replace(
        reply_item(
            conversation,
            route,
            message_id=message_id,
            agent_id=agent_id,
            text=text,
            client_reply_id=client_reply_id,
            now_us=now_us,
        ),
        metadata=metadata,
    )
    patch = (
        answered(conversation.conversation_id, text, message_id)
        if by_agent
        else ConversationPatch(
            conversation.conversation_id,
            preview=preview_of(text),
            preview_direction=Direction.OUTBOUND,
            # The conversation's latest message to the customer: its delivery is unknown until reported.
            last_outbound_id=message_id,
            last_delivery_status=DeliveryStatus.UNSPECIFIED,
        )
    )
    return ThreadChange(items=(item,), patches=(patch,), refs=((message_id, conversation.conversation_id),))


def reply_item(
    conversation: Conversation,
    route: ReplyRoute,
    *,
    message_id: str,
    agent_id: str,
    text: str,
    client_reply_id: str,
    now_us: int,
) -> NewItem:
    return NewItem(
        message_id=message_id,
        conversation_id=conversation.conversation_id,
        customer_id=conversation.customer_id,
        direction=Direction.OUTBOUND,
        channel=route.channel,
        inbox_id=route.inbox_id,
        agent_id=agent_id,
        contact=route.recipient,
        text=text,
        sent_at_us=now_us,
        received_at_us=now_us,
        at_us=now_us,
        client_reply_id=client_reply_id,
    )


def plan_status(
    current: Conversation,
    customer: CustomerRecord,
    status: ConversationStatus,
    snoozed_until_us: int,
    *,
    actor: str,
    text: str,
    activity_id: str,
    now_us: int,
) -> ThreadChange | None:
    """A status change and its timeline line; None when nothing changes. Resolving frees the customer's
    one active conversation; reopening takes it, which is refused while another conversation holds it."""
    if current.status == status and current.snoozed_until_us == snoozed_until_us:
        return None
    new_active: str | None = None
    if status == ConversationStatus.RESOLVED and current.status != ConversationStatus.RESOLVED:
        new_active = "" if customer.active_conversation_id == current.conversation_id else None
    elif current.status == ConversationStatus.RESOLVED and status != ConversationStatus.RESOLVED:
        if customer.active_conversation_id and customer.active_conversation_id != current.conversation_id:
            raise FailedPrecondition(
                f"the customer already has an active conversation ({customer.active_conversation_id}); continue there"
            )
        new_active = current.conversation_id
    return ThreadChange(
        guard=CustomerGuard(customer.customer_id, customer.version, new_active),
        patches=(
            ConversationPatch(
                current.conversation_id,
                status=status,
                snoozed_until_us=snoozed_until_us,
                resolved_at_us=now_us if status == ConversationStatus.RESOLVED else 0,
            ),
        ),
        items=(
            internal_item(
                current,
                text,
                item_id=activity_id,
                actor=actor,
                at_us=now_us,
                data={"activity": "status_changed", "status": status.name.lower()},
            ),
        ),
    )


def tags_text(added: list[str], removed: list[str], actor: str) -> str:
    parts = [f"added {', '.join(added)}" if added else "", f"removed {', '.join(removed)}" if removed else ""]
    return f"Tags {' and '.join(p for p in parts if p)} by {actor}"


@dataclass(frozen=True)
class IdentityStep:
    """What one claimed contact point does (see `decide_identity`): lines for the inbound change, and
    whether the message's customer becomes the contact's owner, or must first be merged with them."""

    change: ThreadChange = field(default_factory=ThreadChange)
    adopt_owner: bool = False
    merge_with_owner: bool = False


def plan_identity(
    customer: CustomerRecord,
    contact: ContactPoint,
    owner: CustomerRecord | None,
    *,
    verified: bool,
    sender: ContactPoint,
    message_id: str,
    now_us: int,
) -> IdentityStep:
    action = decide_identity(customer.customer_id, owner.customer_id if owner else None, verified)
    if action is IdentityAction.LINK:
        linked = audit_entry(
            "verified identity",
            "contact_linked",
            customer.customer_id,
            {"contact": contact.value},
            now_us,
            derived_id("linked", message_id, contact.value),
        )
        return IdentityStep(ThreadChange(contact_links=((contact, customer.customer_id, now_us),), audit=(linked,)))
    if owner is None or action is IdentityAction.NOTHING:
        return IdentityStep()
    if action is IdentityAction.MERGE:
        if customer.version == 0:
            # A first message from a new contact point of a known, verified person: their record takes
            # the contact point; the new record is never written.
            return IdentityStep(ThreadChange(contact_links=((sender, owner.customer_id, now_us),)), adopt_owner=True)
        return IdentityStep(merge_with_owner=True)
    suggestion_id = derived_id("suggestion", customer.customer_id, owner.customer_id, str(contact.kind), contact.value)
    suggestion = MergeSuggestion(
        suggestion_id,
        customer.customer_id,
        owner.customer_id,
        contact,
        "claimed without verification",
        "pending",
        now_us,
    )
    suggested = audit_entry(
        "customer",
        "merge_suggested",
        customer.customer_id,
        {"other_customer_id": owner.customer_id},
        now_us,
        derived_id("suggested", suggestion_id),
    )
    return IdentityStep(ThreadChange(audit=(suggested,), suggestions=(suggestion,)))


def combined(changes: Sequence[ThreadChange]) -> ThreadChange:
    """The lines of several changes (without guards) as one."""
    return ThreadChange(
        contact_links=tuple(link for c in changes for link in c.contact_links),
        audit=tuple(entry for c in changes for entry in c.audit),
        suggestions=tuple(s for c in changes for s in c.suggestions),
    )


def plan_tags(
    current: Conversation, add: tuple[str, ...], remove: tuple[str, ...], *, actor: str, activity_id: str, now_us: int
) -> ThreadChange | None:
    """Tags added and removed, with their timeline line; None when nothing changes."""
    if len((set(current.tags) | set(add)) - set(remove)) > MAX_TAGS:
        raise InvalidInput(f"a conversation carries at most {MAX_TAGS} tags")
    added = [t for t in add if t not in current.tags]
    removed = [t for t in remove if t in current.tags]
    if not added and not removed:
        return None
    return ThreadChange(
        patches=(ConversationPatch(current.conversation_id, add_tags=tuple(added), remove_tags=tuple(removed)),),
        items=(
            internal_item(
                current,
                tags_text(added, removed, actor),
                item_id=activity_id,
                actor=actor,
                at_us=now_us,
                data={"activity": "tags_changed", "added": ",".join(added), "removed": ",".join(removed)},
            ),
        ),
    )


def plan_participant(
    current: Conversation, participant: str, *, actor: str, activity_id: str, now_us: int
) -> ThreadChange | None:
    if participant in current.participants:
        return None
    return ThreadChange(
        patches=(ConversationPatch(current.conversation_id, add_participants=(participant,)),),
        items=(
            internal_item(
                current,
                f"{participant} joined, added by {actor}",
                item_id=activity_id,
                actor=actor,
                at_us=now_us,
                data={"activity": "participant_added", "agent_id": participant},
            ),
        ),
    )


def plan_assignment(current: Conversation, agent_id: str, *, activity_id: str, now_us: int) -> ThreadChange | None:
    """Routing's decision recorded, with its timeline line; None when it changes nothing."""
    if current.assignee_agent_id == agent_id:
        return None
    return ThreadChange(
        patches=(ConversationPatch(current.conversation_id, assignee_agent_id=agent_id),),
        items=(
            internal_item(
                current,
                f"Assigned to {agent_id}" if agent_id else "Back in the queue",
                item_id=activity_id,
                actor="routing",
                at_us=now_us,
                data={"activity": "assigned", "agent_id": agent_id},
            ),
        ),
    )


def plan_wake(due: Conversation, customer: CustomerRecord, *, now_us: int) -> tuple[ThreadChange, str]:
    """A snooze that ran out opens the conversation again; the line's id comes from the snooze, so
    replicas waking it at once write it once. Returns the change and that id."""
    activity_id = derived_id("snooze-ended", due.conversation_id, str(due.snoozed_until_us))
    change = ThreadChange(
        guard=CustomerGuard(customer.customer_id, customer.version),
        patches=(ConversationPatch(due.conversation_id, status=ConversationStatus.OPEN, snoozed_until_us=0),),
        items=(
            internal_item(
                due,
                "Snooze ended",
                item_id=activity_id,
                actor="system",
                at_us=now_us,
                data={"activity": "status_changed", "status": "open"},
            ),
        ),
    )
    return change, activity_id


def plan_language(
    item: StoredMessage,
    language: str,
    *,
    fallback: bool,
    conversation_language: str = "",
    customer_language: str = "",
) -> ThreadChange | None:
    """The message's language; a confident detection (not a fallback) also becomes the conversation's
    and the customer's. A detection that corrects the language stored with the message (see
    `plan_inbound`) also takes the guess back where it spread (the conversation's and customer's language
    still equal to it), even when the detection is a fallback or finds nothing. None: nothing to write."""
    guess = item.language if item.language != language else ""
    if not language and not guess:
        return None
    conversation = not fallback or (guess != "" and conversation_language == guess)
    customer = not fallback or (guess != "" and customer_language == guess)
    return ThreadChange(
        item_patches=(ItemPatch(item.message_id, language=language),),
        patches=(ConversationPatch(item.conversation_id, language=language),) if conversation else (),
        customer_patches=(CustomerPatch(item.customer_id, language=language),) if customer else (),
    )


def _scored(sentiment: float | None) -> tuple[float, str] | None:
    return None if sentiment is None else (sentiment, "")


def plan_sentiment(
    item: StoredMessage, conversation: Conversation, score: float, translated_from: str
) -> ThreadChange | None:
    """A customer's message scored after it was stored (by translation): kept with it and rolled into its
    conversation's mood. A score that replaces the one stored with the message (read from the text before
    translation knew it was not English) counts once. None: already written (a redelivery)."""
    if item.sentiment == score and item.sentiment_translated_from == translated_from:
        return None
    mood = rolled_mood(conversation.mood, score, replaces=item.sentiment is not None)
    return ThreadChange(
        item_patches=(ItemPatch(item.message_id, sentiment=(score, translated_from)),),
        patches=(ConversationPatch(conversation.conversation_id, mood=mood),),
    )


def plan_merged_away(
    ending: Conversation, merged: CustomerRecord, surviving_active_id: str, *, actor: str, now_us: int
) -> ThreadChange:
    """Two records merge and both have an active conversation: the merged one's is resolved, pointing to
    the survivor's (one active conversation per customer), under the merged record's guard."""
    return ThreadChange(
        guard=CustomerGuard(merged.customer_id, merged.version, ""),
        patches=(ConversationPatch(ending.conversation_id, status=ConversationStatus.RESOLVED, resolved_at_us=now_us),),
        items=(
            internal_item(
                ending,
                f"Customer records merged: continued in conversation {surviving_active_id}",
                item_id=derived_id("merged", ending.conversation_id, surviving_active_id),
                actor=actor,
                at_us=now_us,
                data={"activity": "merged", "conversation_id": surviving_active_id},
            ),
        ),
    )


def audit_entry(
    actor: str, action: str, customer_id: str, details: Mapping[str, object], at_us: int, audit_id: str
) -> AuditEntry:
    return AuditEntry(audit_id, at_us, actor, action, customer_id, dict(details))
