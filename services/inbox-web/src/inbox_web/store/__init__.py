"""inbox-web's repository: its users (login names, password hashes, the agent each one is), in a
SQLite file or, when `MONGODB_URI` is set, in MongoDB."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from inbox_runtime.mongo import MongoTarget

from inbox_web.domain import WebUser


class UserStore(Protocol):
    async def put(self, user: WebUser) -> None: ...

    async def get(self, username: str) -> WebUser | None: ...

    async def close(self) -> None: ...


async def open_user_store(mongodb: MongoTarget | None, db_path: Path) -> UserStore:
    if mongodb is not None:
        from inbox_web.store.mongo import MongoUserStore

        return await MongoUserStore.open(mongodb)
    from inbox_web.store.sqlite import SqliteUserStore

    return await SqliteUserStore.open(db_path)
