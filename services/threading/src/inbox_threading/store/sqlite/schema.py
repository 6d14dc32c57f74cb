"""The SQLite schema, as migrations applied in order at open (append; never edit a released one).

Invariants held by the schema: one item per message id and per (channel, provider id); one reply per
(conversation, client_reply_id); one active conversation per customer (a partial unique index, beside the
customer's guarded version that the actions rely on).
"""

from __future__ import annotations

from inbox_events.channels import sql_name_of_enum

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    created_at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_points (
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX IF NOT EXISTS contact_points_by_customer ON contact_points(customer_id);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    status INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    inbox_id TEXT NOT NULL,
    assignee_agent_id TEXT NOT NULL DEFAULT '',
    opened_at_us INTEGER NOT NULL,
    last_activity_at_us INTEGER NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_one_active_per_customer
    ON conversations(customer_id) WHERE status != 4;
CREATE INDEX IF NOT EXISTS conversations_by_activity
    ON conversations(last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_assignee
    ON conversations(assignee_agent_id, last_activity_at_us DESC, conversation_id DESC);
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    customer_id TEXT NOT NULL,
    direction INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    inbox_id TEXT NOT NULL,
    agent_id TEXT NOT NULL DEFAULT '',
    contact_kind INTEGER NOT NULL,
    contact_value TEXT NOT NULL,
    text TEXT NOT NULL,
    provider_message_id TEXT,
    client_reply_id TEXT,
    sent_at_us INTEGER NOT NULL,
    received_at_us INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    kind INTEGER NOT NULL DEFAULT 1,
    metadata TEXT NOT NULL DEFAULT '{}',
    attachments TEXT NOT NULL DEFAULT '[]',
    UNIQUE (conversation_id, sequence)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_provider_id
    ON messages(channel, provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_reply_id
    ON messages(conversation_id, client_reply_id) WHERE client_reply_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_last_inbound
    ON messages(conversation_id, direction, sequence DESC);
"""

# Lifecycle, tags, participants, timelines, reply references, opt-outs.
MIGRATION_V2 = """
ALTER TABLE conversations ADD COLUMN item_count INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET item_count = message_count;
ALTER TABLE conversations ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN previous_conversation_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN snoozed_until_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN resolved_at_us INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_by_customer ON conversations(customer_id, last_activity_at_us DESC);
CREATE INDEX conversations_by_team ON conversations(team, last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX conversations_by_status ON conversations(status, last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX conversations_by_channel ON conversations(channel, last_activity_at_us DESC, conversation_id DESC);
CREATE INDEX conversations_by_language ON conversations(language, last_activity_at_us DESC, conversation_id DESC);
CREATE TABLE conversation_tags (
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    tag TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_by_tag ON conversation_tags(tag, conversation_id);
CREATE TABLE conversation_participants (
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id),
    agent_id TEXT NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);
-- Ids other messages may answer (an email's Message-ID, our replies' ids) -> their conversation.
CREATE TABLE message_refs (
    ref TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id)
);
CREATE TABLE opt_outs (
    channel INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (channel, kind, value)
);
CREATE INDEX messages_timeline ON messages(customer_id, sent_at_us, received_at_us, conversation_id, sequence);
"""

# Search, identity (suggested merges), audit, erasure tombstones.
MIGRATION_V3 = """
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind != 6 BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind != 6 BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
INSERT INTO messages_fts(rowid, text) SELECT rowid, text FROM messages WHERE kind != 6;
CREATE TABLE merge_suggestions (
    suggestion_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    other_customer_id TEXT NOT NULL,
    contact_kind INTEGER NOT NULL,
    contact_value TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at_us INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX merge_suggestions_pending ON merge_suggestions(status, created_at_us);
CREATE TABLE audit_log (
    audit_id TEXT PRIMARY KEY,
    at_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_by_customer ON audit_log(customer_id, at_us);
CREATE TABLE erasures (
    customer_id TEXT PRIMARY KEY,
    erased_at_us INTEGER NOT NULL,
    erased_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    counts TEXT NOT NULL
);
CREATE INDEX messages_by_customer ON messages(customer_id);
"""

# A customer's conversations, newest first, without sorting.
MIGRATION_V4 = """
DROP INDEX conversations_by_customer;
CREATE INDEX conversations_by_customer ON conversations(customer_id, last_activity_at_us DESC, conversation_id DESC);
"""

# Customer attributes (for routing rules and agents).
MIGRATION_V5 = """
ALTER TABLE customers ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
"""

# Languages and translations.
MIGRATION_V6 = """
ALTER TABLE messages ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN translations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN translation_status TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN language TEXT NOT NULL DEFAULT '';
"""

# The customer's guard: a version raised by every change of its active conversation, which a change
# names to be written (see changes.CustomerGuard); and the provider's id as one key.
MIGRATION_V7 = """
ALTER TABLE customers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE customers ADD COLUMN active_conversation_id TEXT NOT NULL DEFAULT '';
UPDATE customers SET active_conversation_id = COALESCE(
    (SELECT conversation_id FROM conversations c WHERE c.customer_id = customers.customer_id AND c.status != 4), ''
);
ALTER TABLE messages ADD COLUMN provider_key TEXT;
UPDATE messages SET provider_key = channel || ':' || provider_message_id WHERE provider_message_id IS NOT NULL;
CREATE UNIQUE INDEX messages_by_provider_key ON messages(provider_key) WHERE provider_key IS NOT NULL;
CREATE INDEX conversations_snoozed ON conversations(status, snoozed_until_us);
"""

# What lists show of a conversation: its latest message either way, and since when the customer waits.
MIGRATION_V8 = """
ALTER TABLE conversations ADD COLUMN preview TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN preview_direction INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN waiting_since_us INTEGER NOT NULL DEFAULT 0;
"""

# An agent's conversations shared with them (mentioned in a note, added to help).
MIGRATION_V9 = """
CREATE INDEX conversation_participants_by_agent ON conversation_participants(agent_id, conversation_id);
"""

# What an integrator's list needs in one call: the first email's subject, the customer's messages since an
# agent answered, and how the latest message sent to the customer fared (each message's delivery too).
MIGRATION_V10 = """
ALTER TABLE conversations ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN unanswered_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN last_outbound_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN last_delivery_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN delivery_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN delivery_detail TEXT NOT NULL DEFAULT '';
UPDATE conversations SET subject = COALESCE((
    SELECT json_extract(m.metadata, '$.subject') FROM messages m
    WHERE m.conversation_id = conversations.conversation_id AND m.channel = 2 AND m.direction = 1
        AND json_extract(m.metadata, '$.subject') IS NOT NULL
    ORDER BY m.sequence LIMIT 1
), '');
UPDATE conversations SET unanswered_count = (
    SELECT COUNT(*) FROM messages m
    WHERE m.conversation_id = conversations.conversation_id AND m.direction = 1 AND m.kind IN (1, 2, 3, 4)
        AND m.sent_at_us >= conversations.waiting_since_us
) WHERE waiting_since_us > 0;
UPDATE conversations SET last_outbound_id = COALESCE((
    SELECT m.message_id FROM messages m
    WHERE m.conversation_id = conversations.conversation_id AND m.direction = 2
    ORDER BY m.sequence DESC LIMIT 1
), '');
"""

# Channels by name (`sms`, `telegram`) instead of the v1 enum's number, in the messages (and their provider
# keys, "<channel>:<provider id>"), the conversations and the opt-outs. The columns keep their declared type:
# SQLite keeps a name in them as text and compares it as text.
MIGRATION_V11 = f"""
UPDATE messages SET channel = {sql_name_of_enum("channel")} WHERE typeof(channel) = 'integer';
UPDATE messages SET provider_key = channel || ':' || provider_message_id WHERE provider_message_id IS NOT NULL;
UPDATE conversations SET channel = {sql_name_of_enum("channel")} WHERE typeof(channel) = 'integer';
UPDATE opt_outs SET channel = {sql_name_of_enum("channel")} WHERE typeof(channel) = 'integer';
"""

# Sentiment: each customer's message's score (NULL until scored) and the conversation's mood, a JSON object
# of `domain.Mood`'s fields ('' until a message was scored).
MIGRATION_V12 = """
ALTER TABLE messages ADD COLUMN sentiment REAL;
ALTER TABLE messages ADD COLUMN sentiment_translated_from TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN mood TEXT NOT NULL DEFAULT '';
"""

# Customer satisfaction: the survey and its answer, a JSON object of `domain.Satisfaction`'s fields ('' until
# the survey was sent), and when it was answered, indexed for the scores of a period.
MIGRATION_V13 = """
ALTER TABLE conversations ADD COLUMN satisfaction TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN satisfaction_answered_at_us INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_by_satisfaction ON conversations(satisfaction_answered_at_us)
    WHERE satisfaction_answered_at_us > 0;
"""

# Two indexes every stored item paid for and no query needs: `messages_timeline` starts with the customer, and
# `messages_by_provider_key` holds the channel and the provider's id as one unique key.
MIGRATION_V14 = """
DROP INDEX messages_by_customer;
DROP INDEX messages_by_provider_id;
"""

# The search index takes a transaction's new items in one go, just before it commits (`INDEX_NEW_ITEMS`), not
# one by one: FTS5 writes out what it holds at every savepoint, each change is one, so every item made an index
# segment of its own, to be merged later. The delete trigger leaves out an item not indexed yet, in one trigger
# as SQLite does not promise the order of two.
MIGRATION_V15 = """
CREATE TABLE messages_fts_pending (message_rowid INTEGER PRIMARY KEY);
DROP TRIGGER messages_fts_insert;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind != 6 BEGIN
    INSERT INTO messages_fts_pending (message_rowid) VALUES (new.rowid);
END;
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind != 6 BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) SELECT 'delete', old.rowid, old.text
        WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE message_rowid = old.rowid);
    DELETE FROM messages_fts_pending WHERE message_rowid = old.rowid;
END;
"""

INDEX_NEW_ITEMS = (
    "INSERT INTO messages_fts(rowid, text) "
    "SELECT m.rowid, m.text FROM messages_fts_pending p JOIN messages m ON m.rowid = p.message_rowid",
    "DELETE FROM messages_fts_pending",
)

MIGRATIONS = (
    SCHEMA_V1,
    MIGRATION_V2,
    MIGRATION_V3,
    MIGRATION_V4,
    MIGRATION_V5,
    MIGRATION_V6,
    MIGRATION_V7,
    MIGRATION_V8,
    MIGRATION_V9,
    MIGRATION_V10,
    MIGRATION_V11,
    MIGRATION_V12,
    MIGRATION_V13,
    MIGRATION_V14,
    MIGRATION_V15,
)
