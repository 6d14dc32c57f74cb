"""Writing changes: each inside the caller's transaction, under a savepoint so a failed guard undoes
only its own change."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence

from inbox_threading.changes import (
    Committed,
    ConversationPatch,
    CustomerGuard,
    CustomerPatch,
    CustomerRecord,
    ItemPatch,
    NewItem,
    ThreadChange,
    Tombstone,
)
from inbox_threading.domain import ContactPoint, Direction, ErasureReceipt
from inbox_threading.plans import COUNTED_KINDS
from inbox_threading.store.sqlite import rows


class _GuardFailed(Exception):
    pass


def apply_changes(conn: sqlite3.Connection, changes: Sequence[ThreadChange]) -> list[Committed]:
    results = []
    for change in changes:
        conn.execute("SAVEPOINT change")
        try:
            sequences = _apply(conn, change)
        except _GuardFailed:
            conn.execute("ROLLBACK TO change")
            conn.execute("RELEASE change")
            results.append(Committed(applied=False))
            continue
        except BaseException:
            conn.execute("ROLLBACK TO change")
            conn.execute("RELEASE change")
            raise
        conn.execute("RELEASE change")
        results.append(Committed(applied=True, sequences=sequences))
    return results


def _apply(conn: sqlite3.Connection, change: ThreadChange) -> dict[str, int]:
    if change.guard is not None:
        _guard(conn, change.guard)
    for contact, customer_id, at_us in change.contact_links:
        conn.execute(
            "INSERT OR IGNORE INTO contact_points (kind, value, customer_id, created_at_us) VALUES (?, ?, ?, ?)",
            (contact.kind, contact.value, customer_id, at_us),
        )
    for new in change.conversations:
        conn.execute(
            "INSERT OR IGNORE INTO conversations (conversation_id, customer_id, status, channel, inbox_id, "
            "assignee_agent_id, opened_at_us, last_activity_at_us, previous_conversation_id, team) "
            "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.conversation_id,
                new.customer_id,
                new.channel,
                new.inbox_id,
                new.assignee_agent_id,
                new.opened_at_us,
                new.opened_at_us,
                new.previous_conversation_id,
                new.team,
            ),
        )
    # A conversation's patched columns are written by the UPDATE that appends the change's first item to it
    # (one rewrite of the row and its indexes, not two); those with no item appended are written after.
    unwritten: dict[str, dict[str, object]] = {}
    for patch in change.patches:
        unwritten.setdefault(patch.conversation_id, {}).update(_patched_columns(patch))
        _patch_conversation_sets(conn, patch)
    sequences = {}
    for item in change.items:
        sequence = _append(conn, item, unwritten.get(item.conversation_id, {}))
        if sequence is not None:
            sequences[item.message_id] = sequence
            unwritten.pop(item.conversation_id, None)
    for conversation_id, columns in unwritten.items():
        if columns:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            conn.execute(
                f"UPDATE conversations SET {assignments} WHERE conversation_id = ?",
                (*columns.values(), conversation_id),
            )
    for item_patch in change.item_patches:
        _patch_item(conn, item_patch)
    for customer_patch in change.customer_patches:
        _patch_customer(conn, customer_patch)
    # Most changes carry none of these: an empty executemany still runs its statement (~2 us each, twice a
    # message), so each is skipped when there is nothing to write.
    if change.refs:
        conn.executemany("INSERT OR IGNORE INTO message_refs (ref, conversation_id) VALUES (?, ?)", change.refs)
    if change.audit:
        conn.executemany(
            "INSERT OR IGNORE INTO audit_log VALUES (?, ?, ?, ?, ?, ?)",
            [
                (a.audit_id, a.at_us, a.actor, a.action, a.customer_id, json.dumps(a.details, sort_keys=True))
                for a in change.audit
            ],
        )
    if change.suggestions:
        conn.executemany(
            "INSERT OR IGNORE INTO merge_suggestions (suggestion_id, customer_id, other_customer_id, contact_kind, "
            "contact_value, reason, status, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    s.suggestion_id,
                    s.customer_id,
                    s.other_customer_id,
                    s.claimed_contact.kind,
                    s.claimed_contact.value,
                    s.reason,
                    s.status,
                    s.created_at_us,
                )
                for s in change.suggestions
            ],
        )
    if change.suggestion_decisions:
        conn.executemany(
            "UPDATE merge_suggestions SET status = ?, decided_by = ?, decided_at_us = ? WHERE suggestion_id = ?",
            [(d.status, d.decided_by, d.decided_at_us, d.suggestion_id) for d in change.suggestion_decisions],
        )
    return sequences


def _guard(conn: sqlite3.Connection, guard: CustomerGuard) -> None:
    if guard.version == 0:
        try:
            conn.execute(
                "INSERT INTO customers (customer_id, display_name, created_at_us, version, active_conversation_id) "
                "VALUES (?, ?, ?, 1, ?)",
                (guard.customer_id, guard.display_name, guard.created_at_us, guard.active_conversation_id or ""),
            )
            if guard.contact is not None:
                conn.execute(
                    "INSERT INTO contact_points (kind, value, customer_id, created_at_us) VALUES (?, ?, ?, ?)",
                    (guard.contact.kind, guard.contact.value, guard.customer_id, guard.created_at_us),
                )
        except sqlite3.IntegrityError:
            raise _GuardFailed from None
        return
    updated = conn.execute(
        "UPDATE customers SET version = version + 1, "
        "active_conversation_id = COALESCE(?, active_conversation_id) WHERE customer_id = ? AND version = ?",
        (guard.active_conversation_id, guard.customer_id, guard.version),
    ).rowcount
    if not updated:
        raise _GuardFailed


def _patched_columns(patch: ConversationPatch) -> dict[str, object]:
    """The conversation's columns `patch` sets, with their values as stored."""
    fields: dict[str, object] = {
        "status": None if patch.status is None else int(patch.status),
        "snoozed_until_us": patch.snoozed_until_us,
        "resolved_at_us": patch.resolved_at_us,
        "assignee_agent_id": patch.assignee_agent_id,
        "language": patch.language,
        "preview": patch.preview,
        "preview_direction": patch.preview_direction,
        "waiting_since_us": patch.waiting_since_us,
        "subject": patch.subject,
        "unanswered_count": patch.unanswered_count,
        "last_outbound_id": patch.last_outbound_id,
        "last_delivery_status": patch.last_delivery_status,
        "mood": None if patch.mood is None else rows.mood_column(patch.mood),
        "satisfaction": None if patch.satisfaction is None else rows.satisfaction_column(patch.satisfaction),
        "satisfaction_answered_at_us": None if patch.satisfaction is None else patch.satisfaction.answered_at_us,
    }
    return {column: value for column, value in fields.items() if value is not None}


def _patch_conversation_sets(conn: sqlite3.Connection, patch: ConversationPatch) -> None:
    """The tags and participants `patch` adds or removes."""
    if patch.add_tags:
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_tags VALUES (?, ?)",
            [(patch.conversation_id, t) for t in patch.add_tags],
        )
    if patch.remove_tags:
        conn.executemany(
            "DELETE FROM conversation_tags WHERE conversation_id = ? AND tag = ?",
            [(patch.conversation_id, t) for t in patch.remove_tags],
        )
    if patch.add_participants:
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_participants VALUES (?, ?)",
            [(patch.conversation_id, a) for a in patch.add_participants],
        )


def _append(conn: sqlite3.Connection, item: NewItem, patched: dict[str, object]) -> int | None:
    """Append an item at the conversation's next position, setting the `patched` columns with it; None when it
    is already stored (nothing written)."""
    if conn.execute("SELECT 1 FROM messages WHERE message_id = ?", (item.message_id,)).fetchone():
        return None
    counted = 1 if item.kind in COUNTED_KINDS else 0
    patched_sets = "".join(f", {column} = ?" for column in patched)
    row = conn.execute(
        "UPDATE conversations SET item_count = item_count + 1, message_count = message_count + ?, "
        "last_activity_at_us = MAX(last_activity_at_us, ?), channel = CASE WHEN ? THEN ? ELSE channel END"
        f"{patched_sets} WHERE conversation_id = ? RETURNING item_count",
        (
            counted,
            item.at_us,
            counted and item.direction == Direction.INBOUND,
            item.channel,
            *patched.values(),
            item.conversation_id,
        ),
    ).fetchone()
    if row is None:
        raise LookupError(f"conversation {item.conversation_id} is not stored")
    provider_id = item.provider_key.partition(":")[2] or None
    conn.execute(
        "INSERT INTO messages (message_id, conversation_id, customer_id, direction, channel, inbox_id, "
        "agent_id, contact_kind, contact_value, text, provider_message_id, provider_key, client_reply_id, "
        "sent_at_us, received_at_us, sequence, kind, metadata, attachments) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            item.message_id,
            item.conversation_id,
            item.customer_id,
            int(item.direction),
            item.channel,
            item.inbox_id,
            item.agent_id,
            item.contact.kind,
            item.contact.value,
            item.text,
            provider_id,
            item.provider_key or None,
            item.client_reply_id or None,
            item.sent_at_us,
            item.received_at_us,
            int(row["item_count"]),
            int(item.kind),
            json.dumps(dict(item.metadata)),
            json.dumps([dataclasses.asdict(a) for a in item.attachments]),
        ),
    )
    return int(row["item_count"])


def _patch_item(conn: sqlite3.Connection, patch: ItemPatch) -> None:
    if patch.language is not None:
        conn.execute("UPDATE messages SET language = ? WHERE message_id = ?", (patch.language, patch.message_id))
    if patch.translation is not None:
        row = conn.execute("SELECT translations FROM messages WHERE message_id = ?", (patch.message_id,)).fetchone()
        if row is not None:
            language, text = patch.translation
            translations = {**json.loads(row[0]), language: text}
            conn.execute(
                "UPDATE messages SET translations = ? WHERE message_id = ?",
                (json.dumps(translations, sort_keys=True), patch.message_id),
            )
    if patch.translation_status is not None:
        conn.execute(
            "UPDATE messages SET translation_status = ? WHERE message_id = ? AND NOT (translation_status = 'done' "
            "AND ? = 'pending')",
            (patch.translation_status, patch.message_id, patch.translation_status),
        )
    if patch.sentiment is not None:
        conn.execute(
            "UPDATE messages SET sentiment = ?, sentiment_translated_from = ? WHERE message_id = ?",
            (*patch.sentiment, patch.message_id),
        )
    if patch.delivery is not None:
        status, detail, replaces = patch.delivery
        marks = ", ".join("?" * len(replaces))
        conn.execute(
            f"UPDATE messages SET delivery_status = ?, delivery_detail = ? "
            f"WHERE message_id = ? AND delivery_status IN ({marks})",
            (status, detail, patch.message_id, *replaces),
        )


def _patch_customer(conn: sqlite3.Connection, patch: CustomerPatch) -> None:
    if patch.language is not None:
        conn.execute("UPDATE customers SET language = ? WHERE customer_id = ?", (patch.language, patch.customer_id))
    if patch.attributes is not None:
        conn.execute(
            "UPDATE customers SET attributes = ? WHERE customer_id = ?",
            (json.dumps(dict(patch.attributes)), patch.customer_id),
        )
    if patch.display_name_if_empty:
        conn.execute(
            "UPDATE customers SET display_name = ? WHERE customer_id = ? AND display_name = ''",
            (patch.display_name_if_empty, patch.customer_id),
        )


def merge_customers(conn: sqlite3.Connection, surviving: str, merged: str, active_conversation_id: str) -> None:
    for table in ("contact_points", "conversations", "messages", "audit_log"):
        conn.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", (surviving, merged))
    conn.execute("UPDATE merge_suggestions SET customer_id = ? WHERE customer_id = ?", (surviving, merged))
    conn.execute("UPDATE merge_suggestions SET other_customer_id = ? WHERE other_customer_id = ?", (surviving, merged))
    conn.execute(
        "UPDATE customers SET active_conversation_id = ?, version = version + 1 WHERE customer_id = ?",
        (active_conversation_id, surviving),
    )
    conn.execute("DELETE FROM customers WHERE customer_id = ?", (merged,))


def move_to_customer(
    conn: sqlite3.Connection,
    new_customer: CustomerRecord,
    contacts: Sequence[ContactPoint],
    conversation_ids: Sequence[str],
) -> None:
    conn.execute(
        "INSERT INTO customers (customer_id, display_name, created_at_us, version, active_conversation_id) "
        "VALUES (?, ?, ?, ?, ?)",
        (
            new_customer.customer_id,
            new_customer.display_name,
            new_customer.created_at_us,
            new_customer.version,
            new_customer.active_conversation_id,
        ),
    )
    conn.executemany(
        "UPDATE contact_points SET customer_id = ? WHERE kind = ? AND value = ?",
        [(new_customer.customer_id, c.kind, c.value) for c in contacts],
    )
    for conversation_id in conversation_ids:
        for table in ("conversations", "messages"):
            conn.execute(
                f"UPDATE {table} SET customer_id = ? WHERE conversation_id = ?",
                (new_customer.customer_id, conversation_id),
            )


def set_opt_out(conn: sqlite3.Connection, channel: str, contact: ContactPoint, opted_out: bool) -> None:
    values = (channel, contact.kind, contact.value)
    if opted_out:
        conn.execute("INSERT OR IGNORE INTO opt_outs VALUES (?, ?, ?)", values)
    else:
        conn.execute("DELETE FROM opt_outs WHERE channel = ? AND kind = ? AND value = ?", values)


def merge_search_index(conn: sqlite3.Connection) -> None:
    """Rewrite the full-text index as one segment: the words of deleted rows are gone from it (costs a
    pass over the index; run after an erasure, not on every delete)."""
    conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")


def erase_customer(conn: sqlite3.Connection, tombstone: Tombstone) -> ErasureReceipt:
    customer_id = tombstone.customer_id
    contacts = tuple(
        ContactPoint(k, v)
        for k, v in conn.execute("SELECT kind, value FROM contact_points WHERE customer_id = ?", (customer_id,))
    )
    conversation_ids = [
        r[0] for r in conn.execute("SELECT conversation_id FROM conversations WHERE customer_id = ?", (customer_id,))
    ]
    items = conn.execute("DELETE FROM messages WHERE customer_id = ?", (customer_id,)).rowcount
    for table in ("conversation_tags", "conversation_participants", "message_refs"):
        conn.executemany(f"DELETE FROM {table} WHERE conversation_id = ?", [(c,) for c in conversation_ids])
    conn.execute("DELETE FROM conversations WHERE customer_id = ?", (customer_id,))
    conn.executemany("DELETE FROM opt_outs WHERE kind = ? AND value = ?", [(c.kind, c.value) for c in contacts])
    conn.execute(
        "DELETE FROM merge_suggestions WHERE customer_id = ? OR other_customer_id = ?", (customer_id, customer_id)
    )
    conn.execute("DELETE FROM contact_points WHERE customer_id = ?", (customer_id,))
    conn.execute("DELETE FROM audit_log WHERE customer_id = ?", (customer_id,))
    conn.execute("DELETE FROM customers WHERE customer_id = ?", (customer_id,))
    counts = {"conversations": len(conversation_ids), "items": items, "contact_points": len(contacts)}
    conn.execute(
        "INSERT OR REPLACE INTO erasures VALUES (?, ?, ?, ?, ?)",
        (customer_id, tombstone.erased_at_us, tombstone.erased_by, tombstone.reason, json.dumps(counts)),
    )
    return ErasureReceipt(customer_id, contacts, tuple(conversation_ids), items, tombstone.erased_at_us)
