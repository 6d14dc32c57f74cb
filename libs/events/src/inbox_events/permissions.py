"""Who may do what on NATS: each service connects as its own user, allowed to publish the subjects it
owns and to read the streams it consumes, nothing else. The nats-server authorization block is rendered
from this one table (by the devstack for `make run` and the tests, into infra/nats for compose).

What a service's user can do:
- publish its own event subjects (and dead letters), and answer JetStream's flow control for what it watches;
- create, read and fetch from consumers on the streams it reads, and ack what it fetched;
- create and update the streams (every service applies the stream table at start), read the API keys;
- receive replies on its own inbox prefix only (`_INBOX.<service>`), so no service reads another's
  fetched messages; listen to the core subjects named here (live views, signals).
Deleting or purging a stream, or reading a stream it does not consume, is refused; one service (threading,
which erases customers) may read every stream and delete single events from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from inbox_events.streams import API_KEYS_BUCKET as BUCKET
from inbox_events.streams import OUTREACH_BUCKET, STREAMS, WEBHOOKS_BUCKET

KEYS_STREAM = f"KV_{BUCKET}"
ADMIN_USER = "admin"


@dataclass(frozen=True)
class BusAccess:
    # Subjects the service owns (wildcards allowed); stream subjects and core NATS ones alike.
    publishes: tuple[str, ...]
    # Streams it consumes (durable consumers) or watches (live views).
    reads: tuple[str, ...]
    # Core NATS subjects it listens to: live-only events, signals.
    listens: tuple[str, ...] = ()
    # Creates and revokes API keys (AccessService).
    writes_api_keys: bool = False
    # Erases customers from the streams: reads every stream, deletes single events (never purges).
    erases_events: bool = False
    # Key-value buckets of its own (read and written by it alone).
    buckets: tuple[str, ...] = ()
    # Streams it reads single events from, by subject (the last on a subject), without a consumer.
    reads_last_of: tuple[str, ...] = ()


BUS_ACCESS: dict[str, BusAccess] = {
    "channels": BusAccess(
        publishes=("inbound.>", "delivery.>", "signal.channels.>"),
        reads=("OUTBOUND", "CONVERSATIONS"),
        listens=("signal.channels.>",),
        # Each inbound item names its sender's previous one: the last on the sender's subject.
        reads_last_of=("INBOUND",),
    ),
    "threading": BusAccess(
        publishes=("conv.>", "outbound.>", "live.conv.>"),
        reads=("INBOUND", "ROUTING", "DELIVERY", "TRANSLATION"),
        writes_api_keys=True,
        erases_events=True,
        buckets=(WEBHOOKS_BUCKET, OUTREACH_BUCKET),
    ),
    "routing": BusAccess(publishes=("routing.>",), reads=("CONVERSATIONS", "TRANSLATION")),
    "translation": BusAccess(publishes=("translation.>",), reads=("CONVERSATIONS", "ROUTING")),
    "inbox-web": BusAccess(
        publishes=(),
        reads=("CONVERSATIONS", "DELIVERY", "ROUTING"),
        listens=("live.>", "signal.channels.chat.visitor_typing"),
    ),
}


def inbox_prefix(service: str) -> str:
    """Where a service's replies (JetStream acks, fetched batches) arrive: its own, so no other reads them."""
    return f"_INBOX.{service}"


def permissions(service: str) -> dict[str, list[str]]:
    """The nats-server `permissions` of a service's user: publish and subscribe allow-lists."""
    access = BUS_ACCESS[service]
    publish = [*access.publishes, "deadletter.>"]
    publish += ["$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.CREATE.*", "$JS.API.STREAM.UPDATE.*"]
    # The API keys: every service reads them (the gRPC bootstrap), one writes them.
    publish += [f"$JS.API.DIRECT.GET.{KEYS_STREAM}", f"$JS.API.DIRECT.GET.{KEYS_STREAM}.>"]
    publish.append(f"$JS.API.STREAM.MSG.GET.{KEYS_STREAM}")
    publish += [f"$JS.API.STREAM.MSG.GET.{stream}" for stream in access.reads_last_of]
    streams = list(access.reads)
    if access.erases_events:
        every = [spec.name for spec in STREAMS]
        streams += [name for name in every if name not in streams]
        publish += [f"$JS.API.STREAM.MSG.DELETE.{name}" for name in every]
        # Who still needs an erasure notice before it goes too.
        publish.append("$JS.API.CONSUMER.LIST.CONVERSATIONS")
    if access.writes_api_keys:
        publish.append(f"$KV.{BUCKET}.>")
        streams.append(KEYS_STREAM)  # listing keys watches the bucket
    for bucket in access.buckets:
        publish += [
            f"$KV.{bucket}.>",
            f"$JS.API.DIRECT.GET.KV_{bucket}",
            f"$JS.API.DIRECT.GET.KV_{bucket}.>",
            f"$JS.API.STREAM.MSG.GET.KV_{bucket}",
        ]
        streams.append(f"KV_{bucket}")  # listing the keys reads the bucket's stream
    for stream in streams:
        publish += [
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.ACK.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    return {"publish": publish, "subscribe": [f"{inbox_prefix(service)}.>", *access.listens]}


def _quoted(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def authorization_block(passwords: Mapping[str, str]) -> str:
    """nats-server's `authorization { users = [...] }` for every service of BUS_ACCESS and the admin
    (operators, tests, the API-key command), with the password given for each (literal text, or a
    `$VARIABLE` nats-server reads from its environment)."""

    def password(user: str) -> str:
        value = passwords[user]
        return value if value.startswith("$") else f'"{value}"'

    lines = ["authorization {", "  users = ["]
    lines.append(f'    {{user: "{ADMIN_USER}", password: {password(ADMIN_USER)}}}')
    for service in BUS_ACCESS:
        allowed = permissions(service)
        lines.append(
            f'    {{user: "{service}", password: {password(service)}, permissions: {{'
            f"publish: {{allow: [{_quoted(allowed['publish'])}]}}, "
            f"subscribe: {{allow: [{_quoted(allowed['subscribe'])}]}}}}}}"
        )
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def compose_passwords() -> dict[str, str]:
    """For infra/nats/authorization.conf: nats-server reads each password from its environment."""
    return {user: f"$NATS_{user.upper().replace('-', '_')}_PASSWORD" for user in (ADMIN_USER, *BUS_ACCESS)}
