"""Rules of the agents' web app, pure: who may log in with what, and who may see a conversation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from inbox_runtime.errors import InvalidInput

__all__ = ["InvalidInput"]

_USERNAME = re.compile(r"^[a-z0-9._@-]{2,64}$")
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class WebUser:
    username: str
    agent_id: str
    password_hash: str


def normalise_username(raw: str) -> str:
    username = raw.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput("username must be 2-64 characters of letters, digits, '.', '_', '@' or '-'")
    return username


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def may_view(agent_id: str, assignee_agent_id: str) -> bool:
    """An agent sees the conversations assigned to them (team visibility comes with teams)."""
    return bool(agent_id) and agent_id == assignee_agent_id
