"""inbox-web's repository: its users (login names, password hashes, the agent each one is)."""

from __future__ import annotations

from typing import Protocol

from inbox_web.domain import WebUser


class UserStore(Protocol):
    async def put(self, user: WebUser) -> None: ...

    async def get(self, username: str) -> WebUser | None: ...

    async def close(self) -> None: ...
