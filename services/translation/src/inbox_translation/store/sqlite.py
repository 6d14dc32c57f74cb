from __future__ import annotations

from pathlib import Path

from inbox_runtime.sqlite import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    cache_key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    provider TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
"""


class SqliteTranslationStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    @classmethod
    async def open(cls, path: Path | str) -> SqliteTranslationStore:
        database = SqliteDatabase(path)
        await database.open(SCHEMA)
        return cls(database)

    async def close(self) -> None:
        await self._db.close()

    async def cached(self, key: str) -> tuple[str, str] | None:
        row = await self._db.read(
            lambda conn: conn.execute("SELECT text, provider FROM translations WHERE cache_key = ?", (key,)).fetchone()
        )
        return (str(row[0]), str(row[1])) if row else None

    async def remember(self, key: str, text: str, provider: str, now_us: int) -> None:
        values = (key, text, provider, now_us)
        await self._db.write(
            lambda conn: conn.execute("INSERT OR IGNORE INTO translations VALUES (?, ?, ?, ?)", values)
        )
