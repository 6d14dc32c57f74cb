"""The SMS adapter's records: opt-outs, and which provider sid is which of our messages. Two
implementations: SQLite (a file in the adapter's folder) and MongoDB (when the host has `MONGODB_URI`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from inbox_channel_sdk import AdapterHost


@dataclass(frozen=True)
class ProviderItem:
    message_id: str
    provider_sid: str
    conversation_id: str


class TwilioRecords(Protocol):
    async def set_opt_out(self, number: str, keyword: str, now_us: int) -> None: ...

    async def clear_opt_out(self, number: str) -> None: ...

    async def is_opted_out(self, number: str) -> bool: ...

    async def erase_numbers(self, numbers: Sequence[str]) -> int:
        """Forget these numbers (an erased customer's): how many records went. Twilio itself keeps
        refusing messages to a number that sent STOP, so no opt-out is lost by it."""
        ...

    async def remember(self, item: ProviderItem, kind: str, now_us: int) -> None:
        """Keep which sid carried which message; the first record of either wins."""
        ...

    async def by_message(self, message_id: str) -> ProviderItem | None: ...

    async def by_sid(self, sid: str) -> ProviderItem | None: ...

    async def close(self) -> None: ...


async def open_twilio_records(host: AdapterHost, name: str) -> TwilioRecords:
    """The records of the adapter called `name` (its SQLite file, or its collections' prefix)."""
    if host.mongodb is not None:
        from inbox_channel_twilio.store.mongo import MongoTwilioRecords

        return await MongoTwilioRecords.open_named(host.mongodb, name)
    from inbox_channel_twilio.store.sqlite import SqliteTwilioRecords

    return await SqliteTwilioRecords.open(host.data_dir / f"{name}.sqlite3")
