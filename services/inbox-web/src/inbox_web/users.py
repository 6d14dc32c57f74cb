"""`python -m inbox_web.users USERNAME AGENT_ID [--supervisor]`: create or reset a web login for an agent.

The password is read from the WEB_USER_PASSWORD variable or, if unset, from standard input. A supervisor
sees every conversation and the supervisor view (queues, every agent's presence and load).
"""

from __future__ import annotations

import asyncio
import os
import sys

from inbox_runtime.config import ConfigError, env
from inbox_runtime.errors import InvalidInput
from inbox_runtime.mongo import mongo_target

from inbox_web.accounts import Accounts
from inbox_web.domain import AGENT, SUPERVISOR
from inbox_web.store import open_user_store


async def set_login(username: str, agent_id: str, password: str, role: str) -> None:
    from pathlib import Path

    raw_mongodb = env("MONGODB_URI", str, "")
    db_path = env("WEB_DB_PATH", Path, env("DATA_DIR", Path, Path("var/data")) / "web.sqlite3")
    store = await open_user_store(mongo_target(raw_mongodb) if raw_mongodb else None, db_path)
    try:
        await Accounts(store).set_login(username, agent_id, password, role)
    finally:
        await store.close()


def main() -> None:
    args = sys.argv[1:]
    role = SUPERVISOR if "--supervisor" in args else AGENT
    names = [a for a in args if a != "--supervisor"]
    if len(names) != 2 or len(args) - len(names) > 1:
        raise SystemExit(__doc__)
    password = os.environ.get("WEB_USER_PASSWORD") or sys.stdin.readline().rstrip("\n")
    try:
        asyncio.run(set_login(names[0], names[1], password, role))
    except (InvalidInput, ConfigError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"login {names[0]!r} set for agent {names[1]!r} ({role})")


if __name__ == "__main__":
    main()
