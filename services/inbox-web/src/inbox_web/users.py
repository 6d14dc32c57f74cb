"""`python -m inbox_web.users USERNAME AGENT_ID [--supervisor]`: create or reset a web login for an agent.
`python -m inbox_web.users --remove USERNAME`: remove a login.

The password is read from the WEB_USER_PASSWORD variable or, if unset, from standard input. A supervisor
sees every conversation and the supervisor view (queues, every agent's presence and load). A reset or a
removal signs the login out of every browser at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from inbox_runtime.config import ConfigError, env
from inbox_runtime.errors import InvalidInput
from inbox_runtime.mongo import mongo_target

from inbox_web.accounts import Accounts
from inbox_web.domain import AGENT, SUPERVISOR
from inbox_web.store import open_user_store

T = TypeVar("T")


async def _with_accounts(use: Callable[[Accounts], Awaitable[T]]) -> T:
    raw_mongodb = env("MONGODB_URI", str, "")
    db_path = env("WEB_DB_PATH", Path, env("DATA_DIR", Path, Path("var/data")) / "web.sqlite3")
    store = await open_user_store(mongo_target(raw_mongodb) if raw_mongodb else None, db_path)
    try:
        return await use(Accounts(store))
    finally:
        await store.close()


def remove(username: str) -> None:
    try:
        removed = asyncio.run(_with_accounts(lambda accounts: accounts.remove(username)))
    except (InvalidInput, ConfigError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if not removed:
        raise SystemExit(f"error: no login {username!r}")
    print(f"login {username!r} removed")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--remove"]:
        if len(args) != 2:
            raise SystemExit(__doc__)
        remove(args[1])
        return
    role = SUPERVISOR if "--supervisor" in args else AGENT
    names = [a for a in args if a != "--supervisor"]
    if len(names) != 2 or len(args) - len(names) > 1:
        raise SystemExit(__doc__)
    password = os.environ.get("WEB_USER_PASSWORD") or sys.stdin.readline().rstrip("\n")
    try:
        asyncio.run(_with_accounts(lambda accounts: accounts.set_login(names[0], names[1], password, role)))
    except (InvalidInput, ConfigError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"login {names[0]!r} set for agent {names[1]!r} ({role})")


if __name__ == "__main__":
    main()
