"""MongoDB implementation of UserStore, selected by `MONGODB_URI`."""

from __future__ import annotations

from inbox_runtime.mongo import MongoStore
from pymongo import ASCENDING, IndexModel

from inbox_web.domain import AGENT, CannedResponse, WebSession, WebUser

USERS = "web_users"
SESSIONS = "web_sessions"
CANNED = "web_canned_responses"
READS = "web_conversation_reads"
INDEXES = {
    SESSIONS: [IndexModel([("username", ASCENDING)]), IndexModel([("expires_at_us", ASCENDING)])],
    CANNED: [IndexModel([("team", ASCENDING), ("title", ASCENDING)])],
    READS: [IndexModel([("agent_id", ASCENDING), ("conversation_id", ASCENDING)])],
}


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

    async def remove(self, username: str) -> bool:
        await self._db[SESSIONS].delete_many({"username": username})
        return (await self._db[USERS].delete_one({"_id": username})).deleted_count > 0

    async def create_session(self, session: WebSession, now_us: int) -> None:
        await self._db[SESSIONS].delete_many({"expires_at_us": {"$lte": now_us}})
        await self._db[SESSIONS].insert_one(
            {
                "_id": session.key,
                "username": session.username,
                "agent_id": session.agent_id,
                "role": session.role,
                "expires_at_us": session.expires_at_us,
            }
        )

    async def session(self, key: str) -> WebSession | None:
        d = await self._db[SESSIONS].find_one({"_id": key})
        return WebSession(d["_id"], d["username"], d["agent_id"], d["role"], int(d["expires_at_us"])) if d else None

    async def end_session(self, key: str) -> None:
        await self._db[SESSIONS].delete_one({"_id": key})

    async def end_sessions_of(self, username: str) -> int:
        return int((await self._db[SESSIONS].delete_many({"username": username})).deleted_count)

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

    async def mark_read(self, agent_id: str, conversation_id: str, message_count: int) -> None:
        # $max keeps the furthest point read when two pages of the agent report at once.
        await self._db[READS].update_one(
            {"_id": f"{agent_id}/{conversation_id}"},
            {
                "$set": {"agent_id": agent_id, "conversation_id": conversation_id},
                "$max": {"message_count": message_count},
            },
            upsert=True,
        )

    async def read_counts(self, agent_id: str, conversation_ids: list[str]) -> dict[str, int]:
        found = self._db[READS].find({"_id": {"$in": [f"{agent_id}/{c}" for c in conversation_ids]}})
        return {d["conversation_id"]: int(d["message_count"]) async for d in found}
