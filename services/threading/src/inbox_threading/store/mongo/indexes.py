"""Collections and indexes of the MongoDB store, created idempotently at open.

Uniqueness that the invariants rest on: `_id` everywhere (a message id, a provider key, a contact
point, a reference, a customer's next version), and one position per conversation. No partial, sparse
or TTL index and no text index: the same declarations serve FerretDB (the tests) and MongoDB 7+.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

CUSTOMERS = "threading_customers"
# The customer's guard as an append-only log: one document per version, `_id` "<customer>#<version>".
CLAIMS = "threading_customer_claims"
CONTACT_POINTS = "threading_contact_points"
CONVERSATIONS = "threading_conversations"
MESSAGES = "threading_messages"
PROVIDER_KEYS = "threading_provider_keys"
MESSAGE_REFS = "threading_message_refs"
OPT_OUTS = "threading_opt_outs"
SUGGESTIONS = "threading_merge_suggestions"
AUDIT_LOG = "threading_audit_log"
ERASURES = "threading_erasures"


def _newest(*leading: str) -> IndexModel:
    keys = [(field, ASCENDING) for field in leading]
    return IndexModel([*keys, ("last_activity_at_us", DESCENDING), ("_id", DESCENDING)])


INDEXES = {
    CLAIMS: [IndexModel([("customer_id", ASCENDING), ("version", DESCENDING)])],
    CONTACT_POINTS: [IndexModel([("customer_id", ASCENDING), ("created_at_us", ASCENDING)])],
    CONVERSATIONS: [
        _newest(),
        _newest("assignee_agent_id"),
        _newest("team"),
        _newest("status"),
        _newest("channel"),
        _newest("language"),
        _newest("customer_id"),
        _newest("tags"),
        IndexModel([("participants", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("snoozed_until_us", ASCENDING)]),
        IndexModel([("satisfaction.answered_at_us", ASCENDING)]),
    ],
    MESSAGES: [
        IndexModel([("conversation_id", ASCENDING), ("sequence", ASCENDING)], unique=True),
        IndexModel(
            [
                ("customer_id", ASCENDING),
                ("sent_at_us", ASCENDING),
                ("received_at_us", ASCENDING),
                ("conversation_id", ASCENDING),
                ("sequence", ASCENDING),
            ]
        ),
        IndexModel([("conversation_id", ASCENDING), ("direction", ASCENDING), ("sequence", DESCENDING)]),
        IndexModel([("terms", ASCENDING), ("stored_at_us", DESCENDING)]),
    ],
    PROVIDER_KEYS: [IndexModel([("customer_id", ASCENDING)])],
    MESSAGE_REFS: [IndexModel([("conversation_id", ASCENDING)])],
    SUGGESTIONS: [
        IndexModel([("customer_id", ASCENDING)]),
        IndexModel([("other_customer_id", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("created_at_us", ASCENDING)]),
    ],
    AUDIT_LOG: [IndexModel([("customer_id", ASCENDING), ("at_us", ASCENDING)])],
}
