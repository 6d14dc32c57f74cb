"""MongoDB implementation of EmailRecords, selected when the host has `MONGODB_URI`."""

from __future__ import annotations

from inbox_runtime.mongo import MongoStore
from pymongo import ASCENDING, IndexModel

from inbox_channel_email.compose import ReplyContext
from inbox_channel_email.store import SentMail

RECEIVED = "email_received_mail"
SENT = "email_sent_mail"
INDEXES = {SENT: [IndexModel([("mail_key", ASCENDING)], unique=True)]}


class MongoEmailRecords(MongoStore):
    SERVICE = "channels-email"
    INDEXES = INDEXES

    async def remember_received(
        self, message_id: str, email_message_id: str, references: tuple[str, ...], subject: str, inbox_address: str
    ) -> None:
        await self._insert_if_absent(
            RECEIVED,
            {
                "_id": message_id,
                "email_message_id": email_message_id,
                "references": list(references),
                "subject": subject,
                "inbox_address": inbox_address,
            },
        )

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
