"""Hosts for the multi-host tests, made with Linux network namespaces (iproute2): each "host" is a namespace
with its own loopback and one interface on a bridge in the test's own namespace, so processes on different
hosts reach each other (and the test reaches them all) only through that network, as on separate machines.

Needs root (or CAP_NET_ADMIN) and `ip`; `available()` says whether this machine allows it."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

SUBNET = "10.77"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def available() -> bool:
    """Whether namespaces can be made here (tried, then removed)."""
    if shutil.which("ip") is None:
        return False
    probe = f"ibx-probe-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError):
        return False
    _ip("netns", "del", probe)
    return True


@dataclass
class Hosts:
    """`names` as hosts on 10.77.<net>.0/24: the bridge (the test's side) is .1, the hosts .10 onwards."""

    names: tuple[str, ...]
    net: int = 0
    _tag: str = field(default_factory=lambda: secrets.token_hex(2))
    _made: list[str] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"ibx{self._tag}"

    @property
    def gateway(self) -> str:
        """This machine's address as the hosts see it (the bridge): what runs outside them, e.g. Apertium."""
        return f"{SUBNET}.{self.net}.1"

    def address(self, name: str) -> str:
        return f"{SUBNET}.{self.net}.{10 + self.names.index(name)}"

    def namespace(self, name: str) -> str:
        return f"ibx-{self._tag}-{name}"

    def run_on(self, name: str, command: list[str]) -> list[str]:
        """`command` as run on host `name`."""
        return ["ip", "netns", "exec", self.namespace(name), *command]

    def __enter__(self) -> Hosts:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made.append("bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index, name in enumerate(self.names):
            namespace, outside = self.namespace(name), f"ibx{self._tag}v{index}"
            _ip("netns", "add", namespace)
            self._made.append(namespace)
            _ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("link", "set", outside, "master", self.bridge)
            _ip("link", "set", outside, "up")
            _ip("-n", namespace, "addr", "add", f"{self.address(name)}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        for made in reversed(self._made):
            if made == "bridge":
                subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            else:
                subprocess.run(["ip", "netns", "del", made], capture_output=True)  # its veth goes with it
        self._made.clear()
