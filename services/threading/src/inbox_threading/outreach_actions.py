"""Use cases of outreach: may a message go to this customer now (contact pressure), and engagement events
turned into nudges, sent through the customer's preferred reachable channel and kept in their thread."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import nats.js.errors
import structlog
from inbox.channels.v1 import events_pb2 as channel_events
from inbox_events import EventBus, Outgoing
from inbox_events.channels import channel_fields, channel_label, contact_kind
from inbox_events.streams import OUTREACH_BUCKET
from inbox_runtime.optimistic import until_applied
from inbox_runtime.timestamps import now_us, to_timestamp
from nats.js.kv import KeyValue

from inbox_threading.actions import open_conversation_of
from inbox_threading.changes import ConversationQuery, CustomerRecord
from inbox_threading.domain import (
    SYSTEM_AGENT,
    ContactPoint,
    Conversation,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    ReplyRoute,
    StoredMessage,
    derived_id,
)
from inbox_threading.outreach import (
    HOUR_US,
    Held,
    OutreachKind,
    OutreachPolicy,
    SentOutreach,
    cooling_down,
    held_back,
    nudge_channel,
    nudge_text,
    parse_policy,
)
from inbox_threading.plans import plan_nudge
from inbox_threading.protos import contact_to_proto, message_added
from inbox_threading.store import ConversationStore

log = structlog.get_logger(__name__)

DEFAULT_TENANT = "default"
CHANNEL_ACCOUNT = 5  # inbox.message.v1.ContactPointKind: an account on one channel, kept as "<channel>:<id>"
# The conversations a decision looks at: the customer's latest.
RECENT_CONVERSATIONS = 20
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def tenant_of(tenant_id: str) -> str:
    tenant = tenant_id or DEFAULT_TENANT
    if not _TENANT.match(tenant):
        raise InvalidInput("tenant_id must be lower-case letters, digits, '_' or '-'")
    return tenant


class OutreachPolicies:
    """Each tenant's rules, one key (`policy.<tenant>`) in a bucket on the broker, shared by every replica."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, bus: EventBus) -> OutreachPolicies:
        return cls(await bus.key_value(OUTREACH_BUCKET))

    async def get(self, tenant: str) -> tuple[OutreachPolicy, int]:
        """The tenant's rules and their version (0: never set, the defaults)."""
        try:
            entry = await self._kv.get(f"policy.{tenant}")
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return OutreachPolicy(), 0
        if entry.value is None or entry.revision is None:
            return OutreachPolicy(), 0
        return parse_policy(json.loads(entry.value)), int(entry.revision)

    async def put(self, tenant: str, policy: OutreachPolicy) -> int:
        return int(await self._kv.put(f"policy.{tenant}", json.dumps(policy.document()).encode()))


@dataclass(frozen=True)
class NudgeSent:
    rule_id: str
    message: StoredMessage


class OutreachActions:
    def __init__(
        self,
        store: ConversationStore,
        bus: EventBus,
        policies: OutreachPolicies,
        *,
        low_score: int,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self._store = store
        self._bus = bus
        self._policies = policies
        # The satisfaction score at or under which a customer counts as unhappy (the survey's follow-up line).
        self._low_score = low_score
        self._now = clock

    async def policy(self, tenant_id: str) -> tuple[OutreachPolicy, int]:
        return await self._policies.get(tenant_of(tenant_id))

    async def update_policy(self, tenant_id: str, document: Mapping[str, object]) -> int:
        tenant = tenant_of(tenant_id)
        policy = parse_policy(document)
        version = await self._policies.put(tenant, policy)
        log.info("outreach_policy_updated", tenant_id=tenant, nudges=len(policy.nudges), version=version)
        return version

    async def _recent(self, customer_id: str) -> list[Conversation]:
        found, _ = await self._store.list_conversations(
            ConversationQuery(customer_id=customer_id, limit=RECENT_CONVERSATIONS)
        )
        return found

    async def check(self, recipient: ContactPoint, kind: OutreachKind, tenant_id: str) -> tuple[Held | None, str]:
        """Why a message of `kind` to `recipient` must not go now (None: it may), and whose contact it is."""
        if not recipient.value:
            raise InvalidInput("recipient is required")
        policy, _ = await self.policy(tenant_id)
        customer = await self._store.customer_by_contact(recipient)
        if customer is None:
            return None, ""  # someone we never heard from: nothing holds it back
        now = self._now()
        since = now - policy.contact_pressure.window_hours * HOUR_US
        sent = await self._store.outreach_sent(customer.customer_id, since)
        held = self._held(customer, kind, policy, await self._recent(customer.customer_id), sent, now)
        return held, customer.customer_id

    def _held(
        self,
        customer: CustomerRecord,
        kind: OutreachKind,
        policy: OutreachPolicy,
        conversations: list[Conversation],
        sent: list[SentOutreach],
        now: int,
    ) -> Held | None:
        """The contact-pressure verdict on what was read (`held_back`), logged when it holds."""
        held = held_back(kind, conversations, sent, policy.contact_pressure, low_score=self._low_score, now_us=now)
        if held is not None:
            log.info("outreach_held", customer_id=customer.customer_id, rule=held.rule, kind=kind.name.lower())
        return held

    async def record_engagement(
        self,
        *,
        event_id: str,
        event_type: str,
        customer_id: str,
        contact: ContactPoint | None,
        attributes: Mapping[str, str],
        tenant_id: str,
    ) -> tuple[str, list[NudgeSent]]:
        """Nudge the customer as the tenant's rules for this event say; FailedPrecondition when contact
        pressure (or a rule's cooldown) holds it back or no channel reaches them."""
        if not _EVENT_ID.match(event_id):
            raise InvalidInput("event_id must be 1-128 letters, digits, '_', '.', ':' or '-'")
        if not event_type:
            raise InvalidInput("event_type is required")
        tenant = tenant_of(tenant_id)
        customer = await self._customer(customer_id, contact)
        policy, _ = await self._policies.get(tenant)
        rules = [r for r in policy.nudges if r.event == event_type]
        if not rules:
            return customer.customer_id, []
        sent: list[NudgeSent] = []
        for rule in rules:
            message_id = derived_id("nudge", tenant, event_id, rule.rule_id)
            stored = await self._store.item(message_id)
            if stored is None:
                stored = await self._nudge(customer, rule.rule_id, message_id, event_type, event_id, attributes, policy)
            sent.append(NudgeSent(rule.rule_id, stored))
        return customer.customer_id, sent

    async def _customer(self, customer_id: str, contact: ContactPoint | None) -> CustomerRecord:
        if bool(customer_id) == bool(contact and contact.value):
            raise InvalidInput("either customer_id or a contact point is required")
        found = (
            await self._store.customer(customer_id) if customer_id else await self._store.customer_by_contact(contact)  # type: ignore[arg-type]
        )
        if found is None:
            raise NotFound("no such customer")
        return found

    async def _nudge(
        self,
        customer: CustomerRecord,
        rule_id: str,
        message_id: str,
        event_type: str,
        event_id: str,
        attributes: Mapping[str, str],
        policy: OutreachPolicy,
    ) -> StoredMessage:
        rule = next(r for r in policy.nudges if r.rule_id == rule_id)
        now = self._now()
        # One read of what the customer got, as far back as the window and the rule's cooldown both look.
        hours = max(policy.contact_pressure.window_hours, rule.cooldown_hours)
        sent = await self._store.outreach_sent(customer.customer_id, now - hours * HOUR_US)
        recent = await self._recent(customer.customer_id)
        held = self._held(customer, OutreachKind.NUDGE, policy, recent, sent, now)
        if held is not None:
            raise FailedPrecondition(f"{held.rule}: {held.reason}")
        if cooling_down(rule, sent, now):
            raise FailedPrecondition(f"cooldown: the customer got this nudge in the last {rule.cooldown_hours} hours")
        routes = {channel: await self._route(customer, channel) for channel in rule.channels}
        preferred = recent[0].channel if recent else ""
        channel = nudge_channel(rule, preferred, {c: r is not None for c, r in routes.items()})
        if channel is None:
            raise FailedPrecondition(f"no_channel: none of {', '.join(rule.channels)} reaches the customer")
        route = routes[channel]
        assert route is not None
        label = recent[0].customer_label if recent else customer.display_name
        text = nudge_text(rule, label, attributes)
        metadata = (
            ("engagement", event_type),
            ("engagement_id", event_id),
            ("nudge_rule", rule.rule_id),
            ("outreach", "nudge"),
        )
        why = f"Nudged by {channel_label(channel)} after {event_type.replace('_', ' ')} (rule {rule.rule_id})"

        async def attempt() -> StoredMessage | None:
            current = await self._store.customer(customer.customer_id)
            if current is None:
                raise NotFound("no such customer")
            active = await open_conversation_of(self._store, current)
            plan = plan_nudge(
                customer=current,
                active=active,
                route=route,
                message_id=message_id,
                text=text,
                why=why,
                metadata=metadata,
                now_us=now,
            )
            [committed] = await self._store.commit([plan.change])
            if not committed.applied:
                return None
            return await self._store.item(message_id)

        stored = await until_applied(attempt)
        line = await self._store.item(derived_id("nudged", message_id))
        outbound = channel_events.OutboundMessage(
            message_id=stored.message_id,
            conversation_id=stored.conversation_id,
            customer_id=stored.customer_id,
            **channel_fields(route.channel),
            inbox_id=route.inbox_id,
            recipient=contact_to_proto(route.recipient),
            text=stored.text,
            idempotency_key=stored.message_id,
            agent_id=SYSTEM_AGENT,
            created_at=to_timestamp(stored.sent_at_us),
            metadata=dict(stored.metadata),
        )
        events = [Outgoing(outbound, f"outbound:{stored.message_id}", correlation_id=stored.message_id)]
        events.extend(message_added(item, stored.message_id) for item in (line, stored) if item is not None)
        await self._bus.publish_all(events)
        log.info(
            "nudge_sent",
            customer_id=customer.customer_id,
            conversation_id=stored.conversation_id,
            message_id=stored.message_id,
            rule_id=rule.rule_id,
            channel=channel,
        )
        return stored

    async def _route(self, customer: CustomerRecord, channel: str) -> ReplyRoute | None:
        """Where a nudge on `channel` reaches the customer (None: no contact point there, or opted out)."""
        kind = contact_kind(channel)
        value = await self._store.latest_contact(customer.customer_id, kind) if kind else None
        if not value or (kind == CHANNEL_ACCOUNT and not value.startswith(f"{channel}:")):
            return None
        recipient = ContactPoint(kind, value)
        if await self._store.is_opted_out(channel, recipient):
            return None
        return ReplyRoute(channel, "", recipient, "")
