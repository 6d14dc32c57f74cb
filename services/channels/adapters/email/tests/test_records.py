"""EmailRecords contract, against SQLite and MongoDB alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inbox_channel_email.compose import ReplyContext
from inbox_channel_email.store import EmailRecords, SentMail
from inbox_channel_email.store.mongo import MongoEmailRecords
from inbox_channel_email.store.sqlite import SqliteEmailRecords
from inbox_devstack.plugin import StoreBackend


@pytest.fixture
async def records(store_backend: StoreBackend) -> AsyncIterator[EmailRecords]:
    async with store_backend.opened(MongoEmailRecords.open, SqliteEmailRecords.open, "email.sqlite3") as opened:
        yield opened


async def test_received_mail_gives_the_reply_its_threading_headers(records: EmailRecords) -> None:
    assert await records.reply_context("unknown") == (ReplyContext(), "")
    await records.remember_received("m1", "<a@x>", ("<r1@x>", "<r2@x>"), "Parcel", "support@inbox.test")
    await records.remember_received("m1", "<other@x>", (), "Again", "sales@inbox.test")  # first one stays
    assert await records.reply_context("m1") == (
        ReplyContext("<a@x>", ("<r1@x>", "<r2@x>"), "Parcel"),
        "support@inbox.test",
    )


async def test_a_sent_mail_is_found_by_our_id_or_its_key(records: EmailRecords) -> None:
    await records.mark_sent("m2", "conv-1", "key-2", 5)
    await records.mark_sent("m2", "conv-1", "key-2", 6)
    assert await records.sent(message_id="m2") == SentMail("m2", "conv-1")
    assert await records.sent(mail_key="key-2") == SentMail("m2", "conv-1")
    assert await records.sent(mail_key="nope") is None
