"""Apertium's APY server (Debian's apertium-apy) with the installed language pairs, on a free port."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from inbox_devstack.ports import free_port

MODES = Path("/usr/share/apertium/modes")


class ApyServer:
    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which("apertium-apy")
        if binary is None or not MODES.is_dir():
            raise FileNotFoundError("apertium-apy and a language pair are needed: make system-packages")
        output = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--lang-names", "/nonexistent", str(MODES)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped by its owner, never by a terminal's Ctrl-C
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/listPairs", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("apertium-apy did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def __enter__(self) -> ApyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
