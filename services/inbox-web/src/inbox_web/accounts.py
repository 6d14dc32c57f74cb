"""Use cases for web users: create, reset or remove a login, check a password. Hashing with Argon2id.
A reset or a removal ends the login's sessions: a copied cookie stops working with the old password."""

from __future__ import annotations

import asyncio

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from inbox_web.domain import AGENT, WebUser, normalise_username, validate_password, validate_role
from inbox_web.store import UserStore

log = structlog.get_logger(__name__)

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class Accounts:
    def __init__(self, store: UserStore) -> None:
        self._store = store

    async def set_login(self, username: str, agent_id: str, password: str, role: str = AGENT) -> WebUser:
        name = normalise_username(username)
        validate_password(password)
        user = WebUser(name, agent_id, await asyncio.to_thread(_hasher.hash, password), validate_role(role))
        await self._store.put(user)
        ended = await self._store.end_sessions_of(name)
        log.info("web_login_set", agent_id=agent_id, role=role, sessions_ended=ended)
        return user

    async def remove(self, username: str) -> bool:
        """Remove a login and end its sessions; whether there was one."""
        removed = await self._store.remove(normalise_username(username))
        log.info("web_login_removed", removed=removed)
        return removed

    async def authenticate(self, username: str, password: str) -> WebUser | None:
        try:
            name = normalise_username(username)
        except ValueError:
            return None
        user = await self._store.get(name)
        try:
            await asyncio.to_thread(_hasher.verify, user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            log.info("web_login_failed")
            return None
        if user is not None:
            log.info("web_login", agent_id=user.agent_id)
        return user
