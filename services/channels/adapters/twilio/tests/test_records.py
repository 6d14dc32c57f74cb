"""TwilioRecords contract, against SQLite and MongoDB alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from inbox_channel_twilio.store import ProviderItem, TwilioRecords
from inbox_channel_twilio.store.mongo import MongoTwilioRecords
from inbox_channel_twilio.store.sqlite import SqliteTwilioRecords
from inbox_devstack.plugin import StoreBackend
from inbox_runtime.mongo import MongoTarget


async def open_sms_records(target: MongoTarget) -> MongoTwilioRecords:
    return await MongoTwilioRecords.open_named(target, "sms")


@pytest.fixture
async def records(store_backend: StoreBackend) -> AsyncIterator[TwilioRecords]:
    async with store_backend.opened(open_sms_records, SqliteTwilioRecords.open, "sms.sqlite3") as opened:
        yield opened


async def test_opt_outs_come_and_go(records: TwilioRecords) -> None:
    assert not await records.is_opted_out("+14155550100")
    await records.set_opt_out("+14155550100", "STOP", 1)
    await records.set_opt_out("+14155550100", "UNSUBSCRIBE", 2)
    assert await records.is_opted_out("+14155550100")
    await records.clear_opt_out("+14155550100")
    assert not await records.is_opted_out("+14155550100")


async def test_an_erased_customer_s_numbers_leave_the_opt_outs(records: TwilioRecords) -> None:
    await records.set_opt_out("+14155550100", "STOP", 1)
    await records.set_opt_out("+14155550101", "STOP", 1)
    assert await records.erase_numbers(["+14155550100", "+14155550199"]) == 1
    assert not await records.is_opted_out("+14155550100") and await records.is_opted_out("+14155550101")


async def test_provider_sids_map_to_our_messages_once(records: TwilioRecords) -> None:
    item = ProviderItem("m1", "SM1", "conv-1")
    await records.remember(item, "sms", 1)
    await records.remember(ProviderItem("m1", "SM9", "conv-9"), "sms", 2)  # the first record wins
    assert await records.by_message("m1") == item and await records.by_sid("SM1") == item
    assert await records.by_sid("SM9") is None and await records.by_message("m2") is None
