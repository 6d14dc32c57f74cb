"""SQLite files as an earlier release left them, for testing the migrations that follow on real data."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path


def written_by(path: Path, migrations: Sequence[str]) -> sqlite3.Connection:
    """A new file at `path` with `migrations` applied (and counted, as `SqliteDatabase.open` counts them):
    what a release that stopped there wrote. Insert its rows, commit and close; the store's `open` then
    runs the migrations after these."""
    older = sqlite3.connect(path)
    for script in migrations:
        older.executescript(script)
    older.execute(f"PRAGMA user_version = {len(migrations)}")
    return older
