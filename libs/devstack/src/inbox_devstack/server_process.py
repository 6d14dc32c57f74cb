"""A server the tests run as a child process on a fixed port: started, stopped, restarted in place."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Self

from inbox_devstack.ports import wait_for_port


class ServerProcess:
    """Subclasses say how to start (`command`); the port and data folder stay across restarts, so a test
    can take the server away from a running service and give it back."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        log_file: Path | None = None,
        *,
        host: str = "127.0.0.1",
        on: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        # Where it listens, and what runs it there (`ip netns exec <host>` for a netns.Hosts host; none here).
        self.host = host
        self._on = on or []
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        output = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        # Its own session, as the services': stopped by its owner, never by a terminal's Ctrl-C.
        self._process = subprocess.Popen(
            [*self._on, *self.command()], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for_port(self.port, self.host)

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

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would end it: no chance to flush or say goodbye."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
