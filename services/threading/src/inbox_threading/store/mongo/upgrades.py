"""Documents written by earlier releases, brought up to date once at start (`MongoStore.UPGRADES`)."""

from __future__ import annotations

import contextlib

from inbox_events.channels import enum_names
from inbox_runtime.mongo import Document, replace_values
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from inbox_threading.store.mongo.indexes import CONVERSATIONS, MESSAGES, OPT_OUTS, PROVIDER_KEYS


async def channels_by_name(database: AsyncDatabase[Document]) -> None:
    """Channels were the v1 enum's numbers: in the messages, the conversations and the opt-outs, and at the
    head of the provider keys' and the opt-outs' ids ("2:<Message-ID>"), which move to their new ids."""
    numbered = enum_names()
    for collection in (MESSAGES, CONVERSATIONS, OPT_OUTS):
        await replace_values(database, collection, "channel", numbered)
    names = {str(number): name for number, name in numbered}
    for collection in (PROVIDER_KEYS, OPT_OUTS):
        async for document in database[collection].find({"_id": {"$regex": "^[0-9]+:"}}):
            number, _, rest = str(document["_id"]).partition(":")
            moved = {**document, "_id": f"{names.get(number, number)}:{rest}"}
            with contextlib.suppress(DuplicateKeyError):  # moved by a replica starting alongside
                await database[collection].insert_one(moved)
            await database[collection].delete_one({"_id": document["_id"]})


UPGRADES = (("channels-by-name", channels_by_name),)
