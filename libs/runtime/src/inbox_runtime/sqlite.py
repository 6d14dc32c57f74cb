"""SQLite, the embedded store: WAL, durable commits, one worker thread per connection.

Writes run inside `BEGIN IMMEDIATE`, which serialises writers across processes, so a
read-then-write in one `write()` call is atomic even with several replicas on one file.
Reads never wait for a write's fsync (WAL) and see every write that has returned. Two kinds:
`lookup` (through an index: by key, or a bounded range) runs at once on the caller's thread on a connection
of its own, which costs microseconds where a hop to another thread costs more than the read (routing's
candidates: 210 -> 120 us of CPU a call, alone; half of routing's CPU under concurrent decisions); `read` (a query
that may scan: lists, search, export) runs on the reader thread, so the event loop never waits on it.

Group commit: the writes that arrive while a transaction is committing share the next one, each in
its own savepoint. One fsync carries all of them (durability is unchanged: `write()` returns only
after the commit that holds it), and a write that fails rolls back to its savepoint alone.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass
class _Write:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    committed: Callable[[Any], None] | None = None
    result: Any = None
    error: BaseException | None = None


class SqliteDatabase:
    def __init__(self, path: str | Path, *, before_commit: Sequence[str] = ()) -> None:
        """`before_commit`: statements run in every write transaction just before it commits, after all of
        its writes: work that a group's writes share (threading's search index takes a group's new items in
        one go)."""
        self._path = str(path)
        self._before_commit = tuple(before_commit)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None
        self._reader_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._reader: sqlite3.Connection | None = None
        self._looker: sqlite3.Connection | None = None
        self._queued: list[_Write] = []
        self._committer: asyncio.Task[None] | None = None

    def _open_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        # Savepoints' statement journals and sorts in memory, not in a temporary file opened and
        # unlinked for each group commit.
        conn.execute("PRAGMA temp_store = MEMORY")
        # 8 MB of pages per connection (SQLite's default is 2 MB): the indexes' hot pages stay in memory
        # instead of being read again from the file for every write.
        conn.execute("PRAGMA cache_size = -8192")
        return conn

    def _open_reader(self) -> sqlite3.Connection:
        reader = self._open_connection()
        reader.execute("PRAGMA foreign_keys = ON")
        return reader

    def _connect(self, migrations: Sequence[str]) -> None:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._open_connection()
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed write survives power loss, so acking the event after it is safe.
        conn.execute("PRAGMA synchronous = FULL")
        # The log is copied into the file every 10,000 pages (about 40 MB) rather than SQLite's 1,000: a page
        # written many times between two copies (an index's hot pages) is copied once, and the file is
        # fsync'd a tenth as often (threading's writer, flat out: 0.32-0.35 -> 0.29-0.30 ms a message).
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted content is overwritten, not just unlinked: an erased customer's text must not stay
        # readable in free pages of the file.
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(migrations, start=1):
                if number <= version:
                    continue
                for statement in _split_statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._connection = conn

    async def open(self, *migrations: str) -> None:
        """Connect and bring the schema up to date: each migration runs once, in order, in one transaction
        (the file's `user_version` records how many ran). Append migrations; never edit a released one."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._connect, migrations)
        self._reader = await loop.run_in_executor(self._reader_executor, self._open_reader)
        self._looker = self._open_reader()

    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("database is not open")
        return self._connection

    def _read_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A query that may scan, on the reader thread."""
        conn = self._read_conn()
        return await asyncio.get_running_loop().run_in_executor(self._reader_executor, fn, conn)

    def lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read through an index (by key, or a bounded range such as a roster of candidates), here and
        now: no thread hop, which under load cost routing more CPU than its reads themselves."""
        if self._looker is None:
            raise RuntimeError("database is not open")
        return fn(self._looker)

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, committed: Callable[[T], None] | None = None) -> T:
        """Run `fn` in an immediate transaction and return once it is committed; if `fn` raises, nothing
        of it is written. Writes queued meanwhile share one transaction (see the module's note).
        `committed` gets `fn`'s result on the event loop once the transaction is committed, before any
        writer of the group resumes, in the order the group wrote: what keeps a copy in memory in step
        with the file."""
        self._conn()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append(_Write(fn, future, committed))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="sqlite-group-commit")
        return await future

    async def _commit_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queued:
            group, self._queued = self._queued, []
            try:
                await loop.run_in_executor(self._executor, self._run_group, self._conn(), group, self._before_commit)
            except BaseException as exc:  # the commit itself failed: none of the group is written
                for write in group:
                    write.error, write.result = exc, None
            for write in group:
                if write.committed is not None and write.error is None:
                    try:
                        write.committed(write.result)
                    except Exception:  # the write is committed whatever a copy in memory made of it
                        log.exception("sqlite_committed_callback_failed")
            for write in group:
                if write.future.done():
                    continue
                if write.error is not None:
                    write.future.set_exception(write.error)
                else:
                    write.future.set_result(write.result)

    @staticmethod
    def _run_group(conn: sqlite3.Connection, group: list[_Write], before_commit: Sequence[str]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if len(group) == 1:
                group[0].result = group[0].fn(conn)
            else:
                for write in group:
                    conn.execute("SAVEPOINT write")
                    try:
                        write.result = write.fn(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO write")
                        write.error = exc
                    conn.execute("RELEASE write")
            for statement in before_commit:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def query_plans(self, run: Callable[[], Awaitable[object]]) -> list[str]:
        """The query plan of every statement `run` executes here (for tests that guard against scans)."""
        connections = [self._read_conn(), self._looker]
        executed: list[str] = []

        def trace(statement: str) -> None:
            # Our statements only: a virtual table module's own (FTS5 reading its config on a connection's
            # first use: `... FROM 'main'.'x_config'`) are not ours to plan.
            if statement.lstrip().upper().startswith("SELECT") and "'main'." not in statement:
                executed.append(statement)

        for conn in connections:
            if conn is not None:
                conn.set_trace_callback(trace)
        try:
            await run()
        finally:
            for conn in connections:
                if conn is not None:
                    conn.set_trace_callback(None)

        def explain(connection: sqlite3.Connection) -> list[str]:
            return [
                " / ".join(str(row[3]) for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}"))
                for statement in executed
            ]

        return await self.read(explain)

    async def scrub(self) -> None:
        """After an erasure: copy the write-ahead log into the file and truncate it, so no old copy of an
        erased page stays in the WAL (with secure_delete, the file's own free pages are already zeroed)."""
        conn = self._conn()
        await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        if self._looker is not None:
            self._looker.close()
            self._looker = None
        if self._reader is not None:
            reader = self._reader
            self._reader = None
            await loop.run_in_executor(self._reader_executor, reader.close)
        if self._connection is not None:
            conn = self._connection
            self._connection = None
            await loop.run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
        self._reader_executor.shutdown(wait=True)


def _split_statements(script: str) -> list[str]:
    """Split a script into complete statements (a trigger's body keeps its inner semicolons)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


class SqliteStore:
    """Base of a service's SQLite repository: `MIGRATIONS` applied at open, the database, close.

    Subclasses list their schema versions in order and add their queries; they never touch another
    service's tables.
    """

    MIGRATIONS: tuple[str, ...] = ()
    # Run in every write transaction before it commits (see SqliteDatabase).
    BEFORE_COMMIT: tuple[str, ...] = ()

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    @classmethod
    async def open(cls, path: Path | str) -> Self:
        database = SqliteDatabase(path, before_commit=cls.BEFORE_COMMIT)
        await database.open(*cls.MIGRATIONS)
        return cls(database)

    async def wait_ready(self) -> None:
        """A SQLite file is ready once open (the same call as a MongoDB store's, which may have to wait)."""

    async def close(self) -> None:
        await self._db.close()

    @property
    def database(self) -> SqliteDatabase:
        return self._db
