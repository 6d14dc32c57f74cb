"""MongoDB implementation of UserStore, selected by `MONGODB_URI`."""

from __future__ import annotations

from inbox_runtime.mongo import MongoStore
from pymongo import ASCENDING, IndexModel

from inbox_web.domain import AGENT, CannedResponse, WebUser

USERS = "web_users"
CANNED = "web_canned_responses"
INDEXES = {CANNED: [IndexModel([("team", ASCENDING), ("title", ASCENDING)])]}


class MongoUserStore(MongoStore):
    SERVICE = "inbox-web"
    INDEXES = INDEXES

    async def put(self, user: WebUser) -> None:
        await self._put(
            USERS, user.username, {"agent_id": user.agent_id, "password_hash": user.password_hash, "role": user.role}
        )

    async def get(self, username: str) -> WebUser | None:
        found = await self._db[USERS].find_one({"_id": username})
        return (
            WebUser(found["_id"], found["agent_id"], found["password_hash"], found.get("role", AGENT))
            if found
            else None
        )

    async def add_canned(self, response: CannedResponse, now_us: int) -> None:
        await self._insert_if_absent(
            CANNED,
            {
                "_id": response.response_id,
                "team": response.team,
                "title": response.title,
                "text": response.text,
                "created_by": response.created_by,
                "created_at_us": now_us,
            },
        )

    async def canned_for(self, teams: tuple[str, ...]) -> list[CannedResponse]:
        found = self._db[CANNED].find({"team": {"$in": ["", *teams]}}).sort([("title", ASCENDING), ("_id", ASCENDING)])
        return [CannedResponse(d["_id"], d["team"], d["title"], d["text"], d["created_by"]) async for d in found]

    async def canned(self, response_id: str) -> CannedResponse | None:
        d = await self._db[CANNED].find_one({"_id": response_id})
        return CannedResponse(d["_id"], d["team"], d["title"], d["text"], d["created_by"]) if d else None

    async def delete_canned(self, response_id: str) -> None:
        await self._db[CANNED].delete_one({"_id": response_id})
