"""Start every service as its own process against one nats-server, and stop them in order."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from inbox_events.api_keys import SERVICE_SCOPES
from inbox_runtime.callers import IssuedKey
from inbox_runtime.healthcheck import is_serving

from inbox_devstack.keys import integrator_key, provision_keys
from inbox_devstack.nats_server import NatsCluster, NatsServer
from inbox_devstack.ports import free_port


@dataclass(frozen=True)
class SuitePorts:
    nats: int = 4222
    conversations_grpc: int = 50051
    routing_grpc: int = 50052
    translation_grpc: int = 50053
    channels_grpc: int = 50054
    channels_http: int = 8081
    web_http: int = 8080
    smtp: int = 2525
    # Each service's `/metrics` (METRICS_PORT), in the order of SERVICES.
    metrics: tuple[int, ...] = (9101, 9102, 9103, 9104, 9105)

    @classmethod
    def free(cls) -> SuitePorts:
        nats, conversations, routing, translation, channels, channels_http, web, smtp = (free_port() for _ in range(8))
        return cls(
            nats,
            conversations,
            routing,
            translation,
            channels,
            channels_http,
            web,
            smtp,
            tuple(free_port() for _ in SERVICES),
        )

    def metrics_port(self, service: str) -> int:
        return self.metrics[[s.name for s in SERVICES].index(service)]


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    module: str
    grpc_port_key: str = ""
    http_port_key: str = ""


SERVICES: tuple[ServiceProcess, ...] = (
    ServiceProcess("threading", "inbox_threading", grpc_port_key="THREADING_GRPC_PORT"),
    ServiceProcess("routing", "inbox_routing", grpc_port_key="ROUTING_GRPC_PORT"),
    ServiceProcess("translation", "inbox_translation", grpc_port_key="TRANSLATION_GRPC_PORT"),
    ServiceProcess(
        "channels", "inbox_channels", grpc_port_key="CHANNELS_GRPC_PORT", http_port_key="CHANNELS_HTTP_PORT"
    ),
    ServiceProcess("inbox-web", "inbox_web", http_port_key="WEB_HTTP_PORT"),
)


def replica_key(service: ServiceProcess, replica: str = "") -> str:
    """How the suite names a service's process, and its log: `threading`, or `threading-b` for a copy."""
    return service.name + (f"-{replica}" if replica else "")


def _exit_code(process: subprocess.Popen[bytes], timeout: float) -> int:
    """The process's exit code once it ended; killed when it takes longer than `timeout`."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@dataclass
class LocalSuite:
    base_dir: Path
    chat_secret: str
    web_session_secret: str
    ports: SuitePorts = field(default_factory=SuitePorts)
    # Signs the satisfaction survey's links in mails.
    survey_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    extra_env: dict[str, str] = field(default_factory=dict)
    # The key tests call the services with (every scope unless told), stored once NATS runs; None: none
    # (`make run` keeps its operator's key in a file instead).
    integrator: IssuedKey | None = field(default_factory=integrator_key)
    # None: start() starts a nats-server of its own. A NatsCluster (not started) to run on a cluster: then
    # call start_nats() first, as for a server the test wants to stop and start itself.
    nats: NatsServer | NatsCluster | None = None
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_key(self) -> str:
        if self.integrator is None:
            raise RuntimeError("this suite was started without an integrator key")
        return self.integrator.text

    @property
    def nats_url(self) -> str:
        """The admin's URL of the suite's nats-server (every permission), for tests and tools."""
        assert self.nats is not None, "start_nats first"
        return self.nats.url

    @property
    def keys_dir(self) -> Path:
        """The services' own key files (`<service>.key`)."""
        return self.base_dir / "keys"

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "log"

    def env(self) -> dict[str, str]:
        ports = self.ports
        env = {
            **os.environ,
            # The admin's, for tools run against the suite; each service gets its own user (start_service).
            "NATS_URL": self.nats.url if self.nats else f"nats://127.0.0.1:{ports.nats}",
            "CHANNELS_CHAT_SECRET": self.chat_secret,
            "CHANNELS_SURVEY_SECRET": self.survey_secret,
            # Where customers reach the channels service here (links in mails); production sets its own.
            "CHANNELS_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.channels_http}",
            "WEB_SESSION_SECRET": self.web_session_secret,
            "DATA_DIR": str(self.base_dir / "data"),
            "BIND_HOST": "127.0.0.1",
            "LOG_JSON": "true",
            "THREADING_GRPC_PORT": str(ports.conversations_grpc),
            "ROUTING_GRPC_PORT": str(ports.routing_grpc),
            "TRANSLATION_GRPC_PORT": str(ports.translation_grpc),
            "CHANNELS_GRPC_PORT": str(ports.channels_grpc),
            "CHANNELS_HTTP_PORT": str(ports.channels_http),
            "WEB_HTTP_PORT": str(ports.web_http),
            "CHANNELS_SMTP_PORT": str(ports.smtp),
            # Tests assign at once unless they set offers on; `make run` and production offer first.
            "ROUTING_OFFER_TIMEOUT_SECONDS": "0",
            # Local demo mailbox; production sets its real support addresses.
            "CHANNELS_EMAIL_INBOXES": "support@inbox.localhost=support",
            "CONVERSATIONS_GRPC_TARGET": f"127.0.0.1:{ports.conversations_grpc}",
            "ROUTING_GRPC_TARGET": f"127.0.0.1:{ports.routing_grpc}",
            "TRANSLATION_GRPC_TARGET": f"127.0.0.1:{ports.translation_grpc}",
            "CHANNELS_GRPC_TARGET": f"127.0.0.1:{ports.channels_grpc}",
        }
        env.update(self.extra_env)
        return env

    def start_nats(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.nats is None:
            self.nats = NatsServer(self.base_dir / "nats", port=self.ports.nats, log_file=self.log_dir / "nats.log")
        self.nats.start()
        provision_keys(self.nats.url, [self.integrator] if self.integrator else [], self.keys_dir)

    def start_service(
        self,
        service: ServiceProcess,
        *,
        replica: str = "",
        env: dict[str, str] | None = None,
        on: list[str] | None = None,
    ) -> None:
        """Start one service process; `replica` names a second copy (its ports come from `env`), `on` is what
        runs it on another host (a netns.Hosts host's `run_on(name, [])`; its BIND_HOST comes from `env`)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        key = replica_key(service, replica)
        log = open(self.log_dir / f"{key}.log", "ab")  # noqa: SIM115 - owned by the child process
        # A second copy serves no metrics unless `env` gives it a port of its own.
        metrics = {"METRICS_PORT": "" if replica else str(self.ports.metrics_port(service.name))}
        self._processes[key] = subprocess.Popen(
            [*(on or []), sys.executable, "-m", service.module],
            env={**self.env(), **metrics, **self._own_credentials(service), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in `make run`'s terminal reaches only the runner, which stops the
            # services in order, rather than every process at once (and then each a second time).
            start_new_session=True,
        )
        log.close()

    def _own_credentials(self, service: ServiceProcess) -> dict[str, str]:
        """The service's own NATS user, and its API key when it calls the others."""
        assert self.nats is not None, "start_nats first"
        own = {"NATS_URL": self.nats.url_for(service.name)}
        if service.name in SERVICE_SCOPES:
            own["INBOX_API_KEY_FILE"] = str(self.keys_dir / f"{service.name}.key")
        return own

    def wait_ready(
        self,
        service: ServiceProcess,
        env: dict[str, str] | None = None,
        timeout: float = 60.0,
        *,
        replica: str = "",
    ) -> None:
        """Wait until the service (or its copy `replica`) answers its health checks where its env binds it."""
        merged = {**self.env(), **(env or {})}
        key = replica_key(service, replica)
        process = self._processes.get(key)
        host = merged["BIND_HOST"]
        if service.grpc_port_key:
            target = f"{host}:{merged[service.grpc_port_key]}"
            deadline = time.monotonic() + timeout
            while not asyncio.run(is_serving(target)):
                self._still_running(key, process)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{key} did not become SERVING at {target}")
                time.sleep(0.1)
        if service.http_port_key:
            url = f"http://{host}:{merged[service.http_port_key]}/healthz"
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                self._still_running(key, process)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{key} did not answer {url}")
                time.sleep(0.1)

    def _still_running(self, key: str, process: subprocess.Popen[bytes] | None) -> None:
        if process is not None and process.poll() is not None:
            log_tail = (self.log_dir / f"{key}.log").read_text()[-3000:]
            raise RuntimeError(f"{key} exited with {process.returncode}:\n{log_tail}")

    def start(self) -> None:
        if self.nats is None:
            self.start_nats()
        for service in SERVICES:
            self.start_service(service)
        try:
            for service in SERVICES:
                self.wait_ready(service)
        except BaseException:
            self.stop()
            raise

    def stop_service(self, key: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        process = self._processes.pop(key)
        if process.poll() is None:
            process.send_signal(sig)
        return _exit_code(process, timeout)

    def stop(self) -> dict[str, int]:
        """SIGTERM every service at once (web first, threading last), wait for each to finish its graceful
        shutdown (side by side: a suite stops in the time of its slowest service, not of all five), then
        stop NATS; returns each exit code."""
        keys = list(reversed(list(self._processes)))
        stopping = {key: self._processes.pop(key) for key in keys}
        for process in stopping.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {key: _exit_code(process, 20.0) for key, process in stopping.items()}
        if self.nats is not None:
            self.nats.stop()
        return codes

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.metrics_port(service)}/metrics"

    @property
    def metrics_key(self) -> str:
        """The key Prometheus scrapes with (metrics:read), as provisioned with the services' own."""
        return (self.keys_dir / "prometheus.key").read_text().strip()

    def pids(self) -> dict[str, int]:
        """Each running process of the suite (nats-server included), for measuring what it costs."""
        running = {key: process.pid for key, process in self._processes.items() if process.poll() is None}
        if isinstance(self.nats, NatsCluster):
            running.update({f"nats-{name}": pid for name, pid in self.nats.pids.items()})
        elif self.nats is not None and self.nats.pid is not None:
            running["nats-server"] = self.nats.pid
        return running

    def returncodes(self) -> dict[str, int | None]:
        return {key: process.poll() for key, process in self._processes.items()}

    def set_web_login(self, username: str, agent_id: str, password: str, *, supervisor: bool = False) -> None:
        """Create or reset an agent's inbox-web login through inbox-web's own command."""
        subprocess.run(
            [sys.executable, "-m", "inbox_web.users", username, agent_id, *(["--supervisor"] if supervisor else [])],
            env={**self.env(), "WEB_USER_PASSWORD": password},
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def remove_web_login(self, username: str) -> str:
        """Remove an inbox-web login through inbox-web's own command; what the command printed."""
        done = subprocess.run(
            [sys.executable, "-m", "inbox_web.users", "--remove", username],
            env=self.env(),
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout
