"""MongoDB implementation of EmailRecords, selected when the host has `MONGODB_URI`."""

from __future__ import annotations

from collections.abc import Sequence

from inbox_runtime.mongo import MongoStore
from pymongo import ASCENDING, IndexModel

from inbox_channel_email.compose import ReplyContext
from inbox_channel_email.store import ReceivedMail, SentMail

RECEIVED = "email_received_mail"
SENT = "email_sent_mail"
INDEXES = {
    SENT: [IndexModel([("mail_key", ASCENDING)], unique=True)],
    RECEIVED: [IndexModel([("sender", ASCENDING)])],
}


class MongoEmailRecords(MongoStore):
    SERVICE = "channels-email"
    INDEXES = INDEXES

    async def remember_received(self, mail: ReceivedMail) -> None:
        await self._insert_if_absent(
            RECEIVED,
            {
                "_id": mail.message_id,
                "email_message_id": mail.email_message_id,
                "references": list(mail.references),
                "subject": mail.subject,
                "inbox_address": mail.inbox_address,
                "sender": mail.sender.lower(),
                "files": list(mail.files),
            },
        )

    async def erase_senders(self, senders: Sequence[str]) -> tuple[int, list[str]]:
        query = {"sender": {"$in": [s.lower() for s in senders]}}
        files = {
            digest async for mail in self._db[RECEIVED].find(query, {"files": 1}) for digest in mail.get("files", [])
        }
        removed = (await self._db[RECEIVED].delete_many(query)).deleted_count
        still_used = {
            digest
            async for mail in self._db[RECEIVED].find({"files": {"$in": sorted(files)}}, {"files": 1})
            for digest in mail["files"]
        }
        return removed, sorted(files - still_used)

    async def reply_context(self, message_id: str) -> tuple[ReplyContext, str]:
        found = await self._db[RECEIVED].find_one({"_id": message_id})
        if found is None:
            return ReplyContext(), ""
        context = ReplyContext(found["email_message_id"], tuple(found["references"]), found["subject"])
        return context, str(found["inbox_address"])

    async def mark_sent(self, message_id: str, conversation_id: str, mail_key: str, now_us: int) -> None:
        await self._insert_if_absent(
            SENT, {"_id": message_id, "conversation_id": conversation_id, "mail_key": mail_key, "sent_at_us": now_us}
        )

    async def sent(self, *, message_id: str = "", mail_key: str = "") -> SentMail | None:
        query = {"_id": message_id} if message_id else {"mail_key": mail_key}
        found = await self._db[SENT].find_one(query)
        return SentMail(found["_id"], found["conversation_id"]) if found else None
