"""MongoDB implementation of UserStore, selected by `MONGODB_URI`."""

from __future__ import annotations

from inbox_runtime.mongo import MongoStore

from inbox_web.domain import WebUser

USERS = "web_users"


class MongoUserStore(MongoStore):
    SERVICE = "inbox-web"

    async def put(self, user: WebUser) -> None:
        await self._put(USERS, user.username, {"agent_id": user.agent_id, "password_hash": user.password_hash})

    async def get(self, username: str) -> WebUser | None:
        found = await self._db[USERS].find_one({"_id": username})
        return WebUser(found["_id"], found["agent_id"], found["password_hash"]) if found else None
