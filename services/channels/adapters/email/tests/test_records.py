"""EmailRecords contract, against SQLite and MongoDB alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inbox_channel_email.compose import ReplyContext
from inbox_channel_email.store import EmailRecords, ReceivedMail, SentMail
from inbox_channel_email.store.mongo import MongoEmailRecords
from inbox_channel_email.store.sqlite import SqliteEmailRecords
from inbox_devstack.plugin import StoreBackend


@pytest.fixture
async def records(store_backend: StoreBackend) -> AsyncIterator[EmailRecords]:
    async with store_backend.opened(MongoEmailRecords.open, SqliteEmailRecords.open, "email.sqlite3") as opened:
        yield opened


def mail(
    message_id: str,
    email_message_id: str = "<a@x>",
    references: tuple[str, ...] = (),
    subject: str = "Parcel",
    inbox_address: str = "support@inbox.test",
    *,
    sender: str = "grace@example.com",
    files: tuple[str, ...] = (),
) -> ReceivedMail:
    return ReceivedMail(message_id, email_message_id, references, subject, inbox_address, sender, files)


async def test_received_mail_gives_the_reply_its_threading_headers(records: EmailRecords) -> None:
    assert await records.reply_context("unknown") == (ReplyContext(), "")
    await records.remember_received(mail("m1", "<a@x>", ("<r1@x>", "<r2@x>"), "Parcel", "support@inbox.test"))
    await records.remember_received(mail("m1", "<other@x>", (), "Again", "sales@inbox.test"))  # first one stays
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


async def test_erasing_a_sender_forgets_their_mails_and_frees_the_files_no_one_else_holds(
    records: EmailRecords,
) -> None:
    await records.remember_received(mail("m1", sender="Grace@Example.com", files=("orig-1", "shared")))
    await records.remember_received(mail("m2", sender="grace@example.com", files=("orig-2",)))
    await records.remember_received(mail("m3", sender="ada@example.com", files=("orig-3", "shared")))
    assert await records.erase_senders(["GRACE@example.com"]) == (2, ["orig-1", "orig-2"])
    assert await records.reply_context("m1") == (ReplyContext(), "")
    assert (await records.reply_context("m3"))[1] == "support@inbox.test"
    assert await records.erase_senders(["ada@example.com"]) == (1, ["orig-3", "shared"])
    assert await records.erase_senders(["nobody@example.com"]) == (0, [])
