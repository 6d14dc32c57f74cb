"""MongoDB, the production store: the setting, the client, and the few error facts every store needs.

Stores use PyMongo's asyncio API (`AsyncMongoClient`). Invariants rest on unique indexes and
single-document conditional writes, never on multi-document transactions, so they hold on a sharded
cluster and on FerretDB (what the tests run against) alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

import structlog
from bson.errors import BSONError
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, ConnectionFailure, InvalidURI, PyMongoError, WriteError
from pymongo.uri_parser import parse_uri

from inbox_runtime.config import ConfigError
from inbox_runtime.errors import InvalidInput

log = structlog.get_logger(__name__)

Document = dict[str, Any]
DEFAULT_DATABASE = "inbox"
# Fail an operation within seconds when the server is gone, so a consumer naks and retries instead of
# holding its batch past the broker's ack wait.
SERVER_SELECTION_TIMEOUT_MS = 5000
DUPLICATE_KEY = 11000
_INVALID_DOCUMENT_CODES = {2, 121, 10334, 17419}  # BadValue, DocumentValidationFailure, BSONObjectTooLarge


@dataclass(frozen=True)
class MongoTarget:
    """Where a store lives: the server (`uri`) and the database in it."""

    uri: str
    database: str


def mongo_target(raw: str, key: str = "MONGODB_URI") -> MongoTarget:
    """Check a MongoDB URI without connecting; a bad one fails start-up with a line naming the setting."""
    try:
        parsed = parse_uri(raw, validate=True, warn=False)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        raise ConfigError(f"environment variable {key} is not a usable MongoDB URI: {exc}") from None
    return MongoTarget(uri=raw, database=parsed.get("database") or DEFAULT_DATABASE)


def with_database(uri: str, database: str) -> str:
    """The same server and options, naming another database."""
    scheme, _, rest = uri.partition("://")
    head, _, options = rest.partition("?")
    hosts = head.split("/", 1)[0]
    return f"{scheme}://{hosts}/{database}" + (f"?{options}" if options else "")


def connect_database(target: MongoTarget) -> AsyncDatabase[Document]:
    """A client for `target`; it connects on first use (and again after an outage, by itself)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        target.uri,
        serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        tz_aware=False,
        # Acknowledged only once journaled on a majority: an event is acked after its write, so the write
        # must survive a crash and a failover.
        w="majority",
        journal=True,
    )
    return client[target.database]


async def wait_for_server(database: AsyncDatabase[Document], *, service: str, retry_seconds: float = 2.0) -> None:
    """Return once the server answers a ping; until then retry, saying so in the log."""
    attempt = 0
    while True:
        try:
            await database.client.admin.command("ping")
            break
        except PyMongoError as exc:
            attempt += 1
            log.warning("store_unreachable", service=service, store="mongodb", attempt=attempt, error=str(exc)[:200])
            await asyncio.sleep(retry_seconds)
    log.info("store_connected", service=service, store="mongodb", database=database.name)


async def prepare_database(
    database: AsyncDatabase[Document],
    indexes: Mapping[str, Sequence[IndexModel]],
    *,
    service: str,
    retry_seconds: float = 2.0,
    upgrade: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Return once the server answers, the indexes exist and `upgrade` ran; until then retry, saying so in
    the log. A connection lost on the way (a failover, a store restarting, or FerretDB dropping one of two
    replicas creating the same indexes at once) is retried like a server not there yet."""
    attempt = 0
    while True:
        await wait_for_server(database, service=service, retry_seconds=retry_seconds)
        try:
            await ensure_indexes(database, indexes)
            if upgrade is not None:
                await upgrade()
            return
        except ConnectionFailure as exc:
            attempt += 1
            log.warning("store_setup_retried", service=service, store="mongodb", attempt=attempt, error=str(exc)[:200])
            await asyncio.sleep(retry_seconds)


async def ensure_indexes(database: AsyncDatabase[Document], indexes: Mapping[str, Sequence[IndexModel]]) -> None:
    """Create the declared indexes that are missing; every replica does it at start. (Only the missing
    ones: FerretDB 1.24 fails a createIndexes that names existing indexes, which MongoDB would accept.)"""
    for collection, models in indexes.items():
        existing = {index["name"] async for index in await database[collection].list_indexes()}
        missing = [model for model in models if model.document["name"] not in existing]
        if missing:
            await database[collection].create_indexes(missing)


async def replace_values(
    database: AsyncDatabase[Document], collection: str, field: str, replacements: Sequence[tuple[Any, Any]]
) -> None:
    """Set `field` to the new value in every document holding an old one (an upgrade's usual step)."""
    for old, new in replacements:
        await database[collection].update_many({field: old}, {"$set": {field: new}})


def is_duplicate_key(exc: PyMongoError) -> bool:
    return isinstance(exc, WriteError) and exc.code == DUPLICATE_KEY


@contextmanager
def invalid_documents_refused() -> Iterator[None]:
    """A document the server will never accept (too large, a forbidden key, failing validation) is the
    caller's input, not an outage: InvalidInput, so an event carrying it is dead-lettered with the
    reason instead of retried."""
    try:
        yield
    except BSONError as exc:
        raise InvalidInput(f"the store refused the document: {str(exc)[:200]}") from exc
    except WriteError as exc:
        if exc.code in _INVALID_DOCUMENT_CODES:
            raise InvalidInput(f"the store refused the document: {str(exc)[:200]}") from exc
        raise


async def close_database(database: AsyncDatabase[Document]) -> None:
    await database.client.close()


class MongoStore:
    """Base of a service's MongoDB repository: its indexes created at open, the database, close, and
    the one write the invariants rest on: an insert that a unique key lets only one writer make.

    Subclasses name their `SERVICE` and `INDEXES` and add their queries; they never touch another
    service's collections (all of a service's collections carry its name as a prefix).
    """

    SERVICE = ""
    INDEXES: Mapping[str, Sequence[IndexModel]] = {}
    # Named changes to documents written by earlier releases, run once each, in order, at start (the
    # names done are kept in `<SERVICE>_upgrades`). Append; never rename one. Each must be safe to run
    # again (a replica may start while another is running it).
    UPGRADES: Sequence[tuple[str, Callable[[AsyncDatabase[Document]], Awaitable[None]]]] = ()

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._db = database

    @classmethod
    def connect(cls, target: MongoTarget) -> Self:
        """The store, not yet talking to the server (see `wait_ready`)."""
        return cls(connect_database(target))

    @classmethod
    async def open(cls, target: MongoTarget) -> Self:
        store = cls.connect(target)
        await store.wait_ready()
        return store

    async def wait_ready(self, retry_seconds: float = 2.0) -> None:
        """Return once the server answers and the indexes exist; until then retry, saying so in the log
        (a service stays NOT_SERVING meanwhile)."""
        await prepare_database(
            self._db, self.INDEXES, service=self.SERVICE, retry_seconds=retry_seconds, upgrade=self._upgrade
        )

    async def _upgrade(self) -> None:
        done_in = self._db[f"{self.SERVICE}_upgrades"]
        done = {document["_id"] async for document in done_in.find({}, {"_id": 1})}
        for name, upgrade in self.UPGRADES:
            if name in done:
                continue
            await upgrade(self._db)
            # Replicas starting together each run it; the first to finish marks it, the others find it marked.
            await self._create(done_in.name, name, {"done": True})
            log.info("store_upgraded", service=self.SERVICE, upgrade=name)

    async def close(self) -> None:
        await close_database(self._db)

    async def _put(self, collection: str, document_id: str, fields: Document) -> None:
        """Write document `document_id` whole, creating or replacing it (the last writer's fields stay).
        Two writers creating it at once can meet a duplicate key on some servers: the loser replaces."""
        for attempt in range(2):
            try:
                with invalid_documents_refused():
                    await self._db[collection].replace_one({"_id": document_id}, fields, upsert=True)
                return
            except PyMongoError as exc:
                if attempt or not is_duplicate_key(exc):
                    raise

    async def _create(self, collection: str, document_id: str, fields: Document) -> None:
        """Create document `document_id` unless it exists (then it stays as it is)."""
        try:
            with invalid_documents_refused():
                await self._db[collection].update_one({"_id": document_id}, {"$setOnInsert": fields}, upsert=True)
        except PyMongoError as exc:
            if not is_duplicate_key(exc):  # created meanwhile by another writer
                raise

    async def _insert_if_absent(self, collection: str, document: Document) -> bool:
        """Insert; False when a document with the same unique key is there already."""
        try:
            with invalid_documents_refused():
                await self._db[collection].insert_one(document)
        except PyMongoError as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True
