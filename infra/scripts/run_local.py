"""`make run`: nats-server and every service as local processes on SQLite, a demo agent, the endpoints.

State lives under var/ (data, logs, generated secrets) and survives restarts. Ports follow the
documented defaults; set any of the port variables (see README) to move one. Ctrl-C stops it all.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

from inbox.routing.v1 import routing_service_pb2 as routing
from inbox.routing.v1 import routing_service_pb2_grpc as routing_grpc
from inbox_devstack.apertium import ApyServer
from inbox_devstack.suite import SERVICES, LocalSuite, SuitePorts
from inbox_events import EventBus
from inbox_events.api_keys import ensure_key, write_key_file
from inbox_runtime.callers import SCOPES
from inbox_runtime.grpc_client import authenticated_channel

REPO = Path(__file__).resolve().parents[2]
VAR = REPO / "var"
DEMO_AGENT = "demo"
DEMO_SUPERVISOR = "lead"


def stored_secret(name: str, length: int = 32) -> str:
    """A random secret generated once and kept under var/secrets, unless the environment sets it."""
    env_key = name.upper()
    if os.environ.get(env_key):
        return os.environ[env_key]
    path = VAR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(length))
        path.chmod(0o600)
    return path.read_text().strip()


def store_in_use() -> str:
    """SQLite files by default; MongoDB when MONGODB_URI is set (shown without its credentials)."""
    uri = os.environ.get("MONGODB_URI", "")
    if not uri:
        return f"SQLite files in {VAR / 'data'} (set MONGODB_URI to use MongoDB)"
    scheme, _, rest = uri.partition("://")
    return f"MongoDB {scheme}://{rest.rpartition('@')[2]}"


def ports_from_env() -> SuitePorts:
    defaults = SuitePorts()
    return SuitePorts(
        nats=int(os.environ.get("NATS_PORT", defaults.nats)),
        conversations_grpc=int(os.environ.get("THREADING_GRPC_PORT", defaults.conversations_grpc)),
        routing_grpc=int(os.environ.get("ROUTING_GRPC_PORT", defaults.routing_grpc)),
        translation_grpc=int(os.environ.get("TRANSLATION_GRPC_PORT", defaults.translation_grpc)),
        channels_grpc=int(os.environ.get("CHANNELS_GRPC_PORT", defaults.channels_grpc)),
        channels_http=int(os.environ.get("CHANNELS_HTTP_PORT", defaults.channels_http)),
        web_http=int(os.environ.get("WEB_HTTP_PORT", defaults.web_http)),
        smtp=int(os.environ.get("CHANNELS_SMTP_PORT", defaults.smtp)),
    )


async def operator_key(nats_url: str) -> str:
    """The operator's key (every scope), kept in var/secrets/operator.key and re-issued only when it no
    longer works: what the README's examples and `grpcurl` call with."""
    file = VAR / "secrets" / "operator.key"
    held = file.read_text() if file.exists() else ""
    async with EventBus.connect(nats_url, service="make-run") as bus:
        issued = await ensure_key(await bus.api_keys(), held, "operator", sorted(SCOPES))
    if issued is not None:
        write_key_file(file, issued)
        return issued
    return held.strip()


async def create_demo_agent(target: str, api_key: str) -> None:
    async with authenticated_channel(target, api_key) as channel:
        stub = routing_grpc.RoutingServiceStub(channel)
        await stub.UpsertAgent(
            routing.UpsertAgentRequest(agent_id=DEMO_AGENT, display_name="Demo Agent", languages=["en"])
        )
        await stub.SetPresence(routing.SetPresenceRequest(agent_id=DEMO_AGENT, presence=routing.PRESENCE_AVAILABLE))


def main() -> None:
    suite = LocalSuite(
        base_dir=VAR,
        integrator=None,
        chat_secret=stored_secret("channels_chat_secret"),
        web_session_secret=stored_secret("web_session_secret"),
        survey_secret=stored_secret("channels_survey_secret"),
        ports=ports_from_env(),
        extra_env={
            "LOG_JSON": os.environ.get("LOG_JSON", "false"),
            # Agents accept (or decline) each conversation in the web inbox, as in production.
            "ROUTING_OFFER_TIMEOUT_SECONDS": os.environ.get("ROUTING_OFFER_TIMEOUT_SECONDS", "30"),
        },
    )
    print("starting nats-server, Apertium and the services (logs in var/log/) ...", flush=True)
    apy = ApyServer(port=int(os.environ.get("APERTIUM_PORT", "2737")), log_file=VAR / "log" / "apertium.log")
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    apy.start()
    suite.extra_env.setdefault("TRANSLATION_APERTIUM_URL", apy.url)
    try:
        suite.start()
    except BaseException:
        apy.stop()
        raise
    p = suite.ports
    try:
        assert suite.nats is not None
        api_key = asyncio.run(operator_key(suite.nats.url))
        asyncio.run(create_demo_agent(f"127.0.0.1:{p.routing_grpc}", api_key))
        demo_password = stored_secret("demo_password", length=9)
        suite.set_web_login(DEMO_AGENT, DEMO_AGENT, demo_password)
        suite.set_web_login(DEMO_SUPERVISOR, DEMO_SUPERVISOR, demo_password, supervisor=True)
        print(
            f"""
Omnichannel inbox is running.
  Agents' web app (inbox-web)    http://127.0.0.1:{p.web_http}/   log in as {DEMO_AGENT!r}, password {demo_password}
                                 (or as {DEMO_SUPERVISOR!r}, same password: the supervisor view)
  Chat WebSocket (customers)     ws://127.0.0.1:{p.channels_http}/chat/ws
  Email in (SMTP)                127.0.0.1:{p.smtp}   to support@inbox.localhost
  ConversationService (gRPC)     127.0.0.1:{p.conversations_grpc}
  RoutingService (gRPC)          127.0.0.1:{p.routing_grpc}
  TranslationService (gRPC)      127.0.0.1:{p.translation_grpc}
  ChannelService (gRPC)          127.0.0.1:{p.channels_grpc}
  NATS (JetStream)               nats://127.0.0.1:{p.nats}   (users and passwords: var/nats/passwords.json)
  Apertium (translation engine)  {apy.url}
  Store                          {store_in_use()}
  Prometheus metrics             http://127.0.0.1:<port>/metrics, bearer key {suite.keys_dir / "prometheus.key"}
                                 {", ".join(f"{s.name} {p.metrics_port(s.name)}" for s in SERVICES)}
Demo agent {DEMO_AGENT!r} is available. gRPC API key (every scope): var/secrets/operator.key
  more keys: .venv/bin/python -m inbox_events.api_keys create NAME --scope conversations:read ...
Be a customer: .venv/bin/python infra/scripts/chat.py   then answer in the web app.
Ctrl-C stops everything.""",
            flush=True,
        )
        stop = asyncio.Event()

        async def wait() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()

        asyncio.run(wait())
    finally:
        print("\nstopping ...", flush=True)
        codes = suite.stop()
        apy.stop()
        bad = {name: code for name, code in codes.items() if code != 0}
        print("stopped." if not bad else f"stopped; unclean exits: {bad}", flush=True)
        if bad:
            sys.exit(1)


if __name__ == "__main__":
    main()
