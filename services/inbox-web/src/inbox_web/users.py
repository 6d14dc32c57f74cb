"""`python -m inbox_web.users USERNAME AGENT_ID`: create or reset a web login for an agent.

The password is read from the WEB_USER_PASSWORD variable or, if unset, from standard input.
"""

from __future__ import annotations

import asyncio
import os
import sys

from inbox_runtime.config import ConfigError, env
from inbox_runtime.errors import InvalidInput
from inbox_runtime.mongo import mongo_target

from inbox_web.accounts import Accounts
from inbox_web.store import open_user_store


async def set_login(username: str, agent_id: str, password: str) -> None:
    from pathlib import Path

    raw_mongodb = env("MONGODB_URI", str, "")
    db_path = env("WEB_DB_PATH", Path, env("DATA_DIR", Path, Path("var/data")) / "web.sqlite3")
    store = await open_user_store(mongo_target(raw_mongodb) if raw_mongodb else None, db_path)
    try:
        await Accounts(store).set_login(username, agent_id, password)
    finally:
        await store.close()


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    password = os.environ.get("WEB_USER_PASSWORD") or sys.stdin.readline().rstrip("\n")
    try:
        asyncio.run(set_login(sys.argv[1], sys.argv[2], password))
    except (InvalidInput, ConfigError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"login {sys.argv[1]!r} set for agent {sys.argv[2]!r}")


if __name__ == "__main__":
    main()
