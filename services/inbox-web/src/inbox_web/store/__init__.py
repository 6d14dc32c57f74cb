"""inbox-web's repository: its users (login names, password hashes, the agent each one is), their
signed-in sessions, the teams' canned responses and how far each agent has read each conversation, in a
SQLite file or, when `MONGODB_URI` is set, in MongoDB."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from inbox_runtime.mongo import MongoTarget

from inbox_web.domain import CannedResponse, WebSession, WebUser


class UserStore(Protocol):
    async def put(self, user: WebUser) -> None: ...

    async def get(self, username: str) -> WebUser | None: ...

    async def remove(self, username: str) -> bool:
        """Delete the login; whether there was one."""
        ...

    async def create_session(self, session: WebSession, now_us: int) -> None:
        """Keep a new session (and forget the sessions expired by `now_us`)."""
        ...

    async def session(self, key: str) -> WebSession | None: ...

    async def end_session(self, key: str) -> None: ...

    async def end_sessions_of(self, username: str) -> int:
        """End every session of the login; how many there were."""
        ...

    async def close(self) -> None: ...


class CannedStore(Protocol):
    async def add_canned(self, response: CannedResponse, now_us: int) -> None: ...

    async def canned_for(self, teams: tuple[str, ...]) -> list[CannedResponse]:
        """The responses shared with everyone or with one of `teams`, by title."""
        ...

    async def canned(self, response_id: str) -> CannedResponse | None: ...

    async def delete_canned(self, response_id: str) -> None: ...


class ReadStore(Protocol):
    async def mark_read(self, agent_id: str, conversation_id: str, message_count: int) -> None:
        """The agent has seen the conversation up to its `message_count`th message."""
        ...

    async def read_counts(self, agent_id: str, conversation_ids: list[str]) -> dict[str, int]:
        """How many messages of each conversation the agent has seen (absent: never opened)."""
        ...


class WebStore(UserStore, CannedStore, ReadStore, Protocol):
    """Everything inbox-web keeps, in one database."""


async def open_user_store(mongodb: MongoTarget | None, db_path: Path) -> WebStore:
    if mongodb is not None:
        from inbox_web.store.mongo import MongoUserStore

        return await MongoUserStore.open(mongodb)
    from inbox_web.store.sqlite import SqliteUserStore

    return await SqliteUserStore.open(db_path)
