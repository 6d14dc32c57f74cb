"""A real MongoDB wire-protocol server for the tests: FerretDB with its SQLite backend, on a local folder.

The binary is built by `infra/scripts/ferretdb.py` (`make test` does it) and found through
`FERRETDB_BIN`. Like `NatsServer`, it can be stopped and started again on the same port, so tests can
take the store away from a running service and give it back.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from inbox_devstack.ports import free_port, wait_for_port


def ferretdb_binary() -> Path | None:
    raw = os.environ.get("FERRETDB_BIN", "")
    path = Path(raw) if raw else None
    return path if path is not None and path.is_file() else None


class FerretDb:
    def __init__(self, binary: Path, data_dir: Path, port: int | None = None, log_file: Path | None = None) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = port or free_port()
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    def uri(self, database: str = "") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        output = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                str(self.binary),
                "--handler=sqlite",
                f"--sqlite-url=file:{self.data_dir}/",
                f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={self.data_dir}",
                # No metrics listener, and never phone home: these machines reach no one.
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=warn",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> FerretDb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
