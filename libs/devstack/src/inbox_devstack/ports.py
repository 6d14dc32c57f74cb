from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000
# Ports handed out by this process: never twice, even once they are free again.
_picked: set[int] = set()


def _ephemeral_start() -> int:
    """Where the kernel's ephemeral range starts: outgoing connections take their local ports there."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port free on loopback right now (for processes that cannot take port 0 themselves), below the
    ephemeral range: a port from that range (what binding port 0 gives) can be taken by any outgoing
    connection before the server that is to listen on it binds it."""
    highest = _ephemeral_start() - 1
    for _ in range(2000):
        port = random.randint(LOWEST, highest) if highest > LOWEST else 0
        if port and port not in _picked and _bindable(port):
            _picked.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)
