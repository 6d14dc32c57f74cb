"""The chat adapter's records (the outbox of replies per visitor, identities, uploads) and its files.

`ChatRecords` is data access with two implementations, SQLite (a file in the adapter's folder) and
MongoDB (when the host has `MONGODB_URI`); `ChatStore` adds the uploaded files kept on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from inbox_channel_sdk import AdapterHost
from inbox_channel_sdk.files import FileStore


@dataclass(frozen=True)
class PendingReply:
    message_id: str
    conversation_id: str
    text: str
    created_at_us: int
    # A satisfaction survey: the widget shows rating buttons under it.
    survey: bool = False


@dataclass(frozen=True)
class VisitorIdentity:
    user_id: str
    email: str
    name: str
    verified: bool


@dataclass(frozen=True)
class Upload:
    attachment_id: str
    filename: str
    content_type: str
    size_bytes: int


class ChatRecords(Protocol):
    async def hold(
        self, message_id: str, conversation_id: str, visitor_id: str, text: str, now_us: int, survey: bool = False
    ) -> None:
        """Keep a reply until the visitor has it; a second hold of the same message changes nothing."""
        ...

    async def pending(self, visitor_id: str) -> list[PendingReply]:
        """Replies not yet delivered to the visitor, in the order they were held."""
        ...

    async def mark_delivered(self, message_id: str, now_us: int) -> bool:
        """True for the first caller only: a reply counts as delivered once."""
        ...

    async def conversation_of(self, message_id: str, visitor_id: str) -> str | None:
        """The conversation of a reply sent to this visitor (None if it was not theirs)."""
        ...

    async def set_identity(self, visitor_id: str, identity: VisitorIdentity) -> None: ...

    async def identity(self, visitor_id: str) -> VisitorIdentity | None: ...

    async def add_upload(self, visitor_id: str, upload: Upload) -> None: ...

    async def upload(self, attachment_id: str, visitor_id: str | None) -> Upload | None: ...

    async def erase_visitors(self, visitor_ids: Sequence[str]) -> tuple[int, list[str]]:
        """Delete the outbox, identity and uploads of these visitors; returns how many records went, and
        the attachments nobody else uploaded (whose files can go too)."""
        ...

    async def close(self) -> None: ...


class ChatStore:
    """The records, and the uploaded files beside them (content-addressed, shared between visitors)."""

    def __init__(self, records: ChatRecords, files: FileStore) -> None:
        self.records = records
        self._files = files

    @classmethod
    async def open(cls, host: AdapterHost) -> ChatStore:
        records: ChatRecords
        if host.mongodb is not None:
            from inbox_channel_chat.store.mongo import MongoChatRecords

            records = await MongoChatRecords.open(host.mongodb)
        else:
            from inbox_channel_chat.store.sqlite import SqliteChatRecords

            records = await SqliteChatRecords.open(host.data_dir / "chat.sqlite3")
        return cls(records, FileStore(host.data_dir / "chat-uploads"))

    async def close(self) -> None:
        await self.records.close()

    async def save_upload(self, visitor_id: str, filename: str, content_type: str, data: bytes) -> Upload:
        upload = Upload(self._files.save(data), filename, content_type, len(data))
        await self.records.add_upload(visitor_id, upload)
        return upload

    async def erase_visitors(self, visitor_ids: list[str]) -> int:
        """Delete everything of these visitors, and the files nobody else uploaded too."""
        removed, orphans = await self.records.erase_visitors(visitor_ids)
        for digest in orphans:
            self._files.delete(digest)
        return removed

    async def upload(self, attachment_id: str, visitor_id: str | None = None) -> tuple[Upload, Path] | None:
        """An upload (of this visitor, when given) and its file."""
        found = await self.records.upload(attachment_id, visitor_id)
        path = self._files.path(attachment_id) if found is not None else None
        return (found, path) if found is not None and path is not None else None
