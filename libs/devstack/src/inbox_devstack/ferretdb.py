"""A real MongoDB wire-protocol server for the tests: FerretDB with its SQLite backend, on a local folder.

The binary is built by `infra/scripts/ferretdb.py` (`make test` does it) and found through
`FERRETDB_BIN`. Like `NatsServer`, it can be stopped and started again on the same port, so tests can
take the store away from a running service and give it back.
"""

from __future__ import annotations

import os
from pathlib import Path

from inbox_devstack.ports import free_port
from inbox_devstack.server_process import ServerProcess


def ferretdb_binary() -> Path | None:
    raw = os.environ.get("FERRETDB_BIN", "")
    path = Path(raw) if raw else None
    return path if path is not None and path.is_file() else None


class FerretDb(ServerProcess):
    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        port: int | None = None,
        log_file: Path | None = None,
        *,
        host: str = "127.0.0.1",
        on: list[str] | None = None,
    ) -> None:
        """`host` and `on`: where it listens and what runs it there (a netns.Hosts host), as for NatsServer."""
        super().__init__(data_dir, port or free_port(), log_file, host=host, on=on)
        self.binary = binary

    def uri(self, database: str = "") -> str:
        return f"mongodb://{self.host}:{self.port}/{database}"

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.data_dir}/",
            f"--listen-addr={self.host}:{self.port}",
            f"--state-dir={self.data_dir}",
            # No metrics listener, and never phone home: these machines reach no one.
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ]
