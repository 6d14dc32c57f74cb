"""The embedded store's write path: group commit keeps each write whole and isolated."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from inbox_runtime.sqlite import SqliteDatabase

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "notes.sqlite")
    await db.open(SCHEMA)
    yield db
    await db.close()


def _insert(note_id: int, text: str | None = "note") -> Callable[[sqlite3.Connection], int]:
    def insert(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO notes (id, text) VALUES (?, ?)", (note_id, "first"))
        # A second statement, so a failure here must also undo the first.
        conn.execute("UPDATE notes SET text = ? WHERE id = ?", (text, note_id))
        return note_id

    return insert


async def _ids(db: SqliteDatabase) -> list[int]:
    return await db.read(lambda conn: [int(row[0]) for row in conn.execute("SELECT id FROM notes ORDER BY id")])


async def test_concurrent_writes_share_one_commit(database: SqliteDatabase) -> None:
    statements: list[str] = []
    await database.write(lambda conn: conn.set_trace_callback(statements.append))
    statements.clear()

    results = await asyncio.gather(*(database.write(_insert(n)) for n in range(1, 21)))

    assert results == list(range(1, 21))
    assert await _ids(database) == list(range(1, 21))
    # All twenty were queued before the first transaction began: one commit (one fsync) holds them.
    assert statements.count("COMMIT") == 1


async def test_a_failing_write_is_rolled_back_alone(database: SqliteDatabase) -> None:
    writes = [database.write(_insert(n, None if n == 3 else "ok")) for n in range(1, 6)]

    results = await asyncio.gather(*writes, return_exceptions=True)

    assert isinstance(results[2], sqlite3.IntegrityError)
    assert [r for i, r in enumerate(results) if i != 2] == [1, 2, 4, 5]
    assert await _ids(database) == [1, 2, 4, 5]


async def test_a_write_alone_that_fails_leaves_nothing(database: SqliteDatabase) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await database.write(_insert(7, None))

    assert await _ids(database) == []
    assert await database.write(_insert(7)) == 7
