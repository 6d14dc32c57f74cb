"""The email adapter's records: mails received (to thread replies) and sent (send once), with two
implementations, SQLite (a file in the adapter's folder) and MongoDB (when the host has
`MONGODB_URI`). Attachments and original mails are files on disk, content-addressed (`FileStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from inbox_channel_sdk import AdapterHost

from inbox_channel_email.compose import ReplyContext


@dataclass(frozen=True)
class ReceivedMail:
    message_id: str
    email_message_id: str
    references: tuple[str, ...]
    subject: str
    inbox_address: str
    # Lower-cased: what an erasure finds the sender's mails by.
    sender: str
    # Digests of the files kept for it (the original, the attachments).
    files: tuple[str, ...]


@dataclass(frozen=True)
class SentMail:
    message_id: str
    conversation_id: str


class EmailRecords(Protocol):
    async def remember_received(self, mail: ReceivedMail) -> None: ...

    async def erase_senders(self, senders: Sequence[str]) -> tuple[int, list[str]]:
        """Forget the mails received from these (lower-cased) addresses: how many went, and the files
        no other mail still uses (for the caller to delete)."""
        ...

    async def reply_context(self, message_id: str) -> tuple[ReplyContext, str]:
        """Threading headers for answering `message_id`, and the inbox address it was sent to."""
        ...

    async def mark_sent(self, message_id: str, conversation_id: str, mail_key: str, now_us: int) -> None: ...

    async def sent(self, *, message_id: str = "", mail_key: str = "") -> SentMail | None:
        """A sent mail, found by our message id or by the key in its Message-ID."""
        ...

    async def close(self) -> None: ...


async def open_email_records(host: AdapterHost) -> EmailRecords:
    if host.mongodb is not None:
        from inbox_channel_email.store.mongo import MongoEmailRecords

        return await MongoEmailRecords.open(host.mongodb)
    from inbox_channel_email.store.sqlite import SqliteEmailRecords

    return await SqliteEmailRecords.open(host.data_dir / "email.sqlite3")
