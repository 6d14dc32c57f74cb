"""Who is calling: API keys (their text, their stored digest, their scopes) and the agent a trusted key
calls for. Pure: the gRPC bootstrap reads keys through a `KeySource` and puts the `Caller` of each call
where its servicer finds it (`current_caller`).

Trust model in one paragraph: every gRPC call carries `authorization: Bearer ibx_<key_id>_<secret>`.
Only a digest of the secret is stored; the key's record lists its scopes, and each RPC declares the one
it needs in the proto (`inbox.access.v1.required_scope`). A call made for an agent (inbox-web, for the
agent signed in) also carries the agent's id, teams and role; those are believed only from a key that
holds `agents:act-as`, so nobody else can claim to be an agent, and visibility rules and audit entries
use this identity, never a request field.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote, unquote

from inbox_runtime.errors import InvalidInput, PermissionDenied

# Every scope a key can hold, with what it allows (the README's table comes from here).
SCOPES: dict[str, str] = {
    "conversations:read": "conversations, messages, timelines, customer profiles, search, merge suggestions",
    "conversations:write": "replies, notes, status, tags, participants, typing, callbacks",
    "customers:write": "customer attributes; merge, split, decide merge suggestions",
    "customers:export": "export everything held about a customer",
    "customers:erase": "erase a customer everywhere",
    "routing:read": "agents, offers, assignments and their reasons, queues, rules",
    "routing:write": "presence, heartbeats, accepting and declining offers, transfers",
    "routing:admin": "creating and changing agents, changing the routing rules",
    "channels:read": "channels, delivery status, attachments and original messages",
    "messages:send": "proactive messages (ChannelService.SendMessage), engagement events that nudge customers",
    "outreach:admin": "changing a tenant's contact-pressure and nudge rules",
    "translation:use": "language detection, translation, reading the glossary",
    "translation:admin": "changing the glossary",
    "agents:act-as": "calling for an agent: the agent's id, teams and role ride with the call (inbox-web)",
    "keys:admin": "creating, listing and revoking API keys",
    "webhooks:admin": "registering, listing, enabling and removing outbound webhooks, reading their delivery log",
    "metrics:read": "reading every service's Prometheus metrics (`/metrics` on METRICS_PORT)",
}
ACT_AS = "agents:act-as"

KEY_PREFIX = "ibx"
AGENT_HEADER = "x-inbox-agent"
TEAM_HEADER = "x-inbox-agent-team"
ROLE_HEADER = "x-inbox-agent-role"
SUPERVISOR = "supervisor"
_KEY_ID = re.compile(r"k[0-9a-f]{16}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Refused(Exception):
    """A call that may not go on: `unauthenticated` (no valid key) or `permission_denied` (a key without
    the scope, or claiming what it may not)."""

    def __init__(self, unauthenticated: bool, reason: str) -> None:
        super().__init__(reason)
        self.unauthenticated = unauthenticated


def unauthenticated(reason: str) -> Refused:
    return Refused(True, reason)


def permission_denied(reason: str) -> Refused:
    return Refused(False, reason)


def secret_digest(secret: str) -> bytes:
    """SHA-256: a key's secret is 256 random bits, so a slow password hash would add latency to every
    call and no protection (there is nothing to guess)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class KeyRecord:
    """A key as stored: never its secret."""

    key_id: str
    name: str
    scopes: frozenset[str]
    secret_sha256: bytes
    created_at_us: int
    created_by: str = ""
    revoked_at_us: int = 0
    revoked_by: str = ""

    @property
    def revoked(self) -> bool:
        return self.revoked_at_us != 0

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(secret_digest(secret), self.secret_sha256)


@dataclass(frozen=True)
class IssuedKey:
    record: KeyRecord
    # "ibx_<key_id>_<secret>": shown once, to whoever asked for it.
    text: str


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(s.strip() for s in scopes if s.strip())
    if not chosen:
        raise InvalidInput("a key needs at least one scope")
    unknown = sorted(chosen - SCOPES.keys())
    if unknown:
        raise InvalidInput(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return chosen


def validate_key_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput("a key's name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def issue_key(name: str, scopes: Iterable[str], *, created_by: str, now_us: int) -> IssuedKey:
    secret = secrets.token_urlsafe(32)
    record = KeyRecord(
        key_id="k" + secrets.token_hex(8),
        name=validate_key_name(name),
        scopes=validate_scopes(scopes),
        secret_sha256=secret_digest(secret),
        created_at_us=now_us,
        created_by=created_by,
    )
    return IssuedKey(record, f"{KEY_PREFIX}_{record.key_id}_{secret}")


def parse_key(text: str) -> tuple[str, str] | None:
    """(key_id, secret) of a key's text, or None when it is not one."""
    prefix, _, rest = text.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or len(secret) < 32:
        return None
    return key_id, secret


def presented_key(authorization: str | bytes | None) -> tuple[str, str]:
    """The key an `authorization` value presents, or Refused(unauthenticated)."""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("utf-8", "replace")
    scheme, _, text = (authorization or "").partition(" ")
    parsed = parse_key(text) if scheme.lower() == "bearer" else None
    if parsed is None:
        raise unauthenticated("missing or malformed API key (authorization: Bearer ibx_...)")
    return parsed


@dataclass(frozen=True)
class Agent:
    """The agent a call is made for, as the calling key vouches."""

    agent_id: str
    teams: tuple[str, ...] = ()
    supervisor: bool = False


@dataclass(frozen=True)
class Caller:
    key_id: str
    key_name: str
    scopes: frozenset[str]
    agent: Agent | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> str:
        """Who did it, for timelines and audit entries: the agent, else the key."""
        return self.agent.agent_id if self.agent else f"key:{self.key_name}"

    @property
    def log_fields(self) -> dict[str, str]:
        fields = {"key_id": self.key_id}
        if self.agent:
            fields["agent_id"] = self.agent.agent_id
        return fields


def agent_metadata(agent: Agent) -> list[tuple[str, str]]:
    """The metadata a key with `agents:act-as` sends for an agent (values percent-encoded: gRPC metadata
    is ASCII)."""
    metadata = [(AGENT_HEADER, quote(agent.agent_id, safe=""))]
    metadata.extend((TEAM_HEADER, quote(team, safe="")) for team in agent.teams)
    if agent.supervisor:
        metadata.append((ROLE_HEADER, SUPERVISOR))
    return metadata


def _values(metadata: Sequence[tuple[str, str | bytes]], key: str) -> list[str]:
    return [unquote(v if isinstance(v, str) else v.decode("ascii", "replace")) for k, v in metadata if k == key]


def caller_of(record: KeyRecord | None, secret: str, metadata: Sequence[tuple[str, str | bytes]]) -> Caller:
    """The caller of a call presenting `secret` for the key `record` (None: no such key)."""
    if record is None or not record.matches(secret):
        raise unauthenticated("unknown API key")
    if record.revoked:
        raise unauthenticated(f"API key {record.key_id} was revoked")
    agent_ids = _values(metadata, AGENT_HEADER)
    if not agent_ids:
        return Caller(record.key_id, record.name, record.scopes)
    if ACT_AS not in record.scopes:
        raise permission_denied(f"API key {record.key_id} may not call for an agent (needs {ACT_AS})")
    if len(agent_ids) != 1 or not agent_ids[0]:
        raise permission_denied(f"{AGENT_HEADER} must name exactly one agent")
    agent = Agent(
        agent_ids[0],
        tuple(t for t in _values(metadata, TEAM_HEADER) if t),
        SUPERVISOR in _values(metadata, ROLE_HEADER),
    )
    return Caller(record.key_id, record.name, record.scopes, agent)


def acting_agent(caller: Caller, requested: str, *, must_be_agent: bool = False) -> str:
    """Who makes a change, for timelines and audit entries: the agent the call is made for, never a
    request field. A request's agent_id may only repeat it; a key calling for nobody acts as itself
    ("key:<name>"), unless the change must be an agent's (a reply, a note)."""
    agent = caller.agent
    if agent is not None:
        if requested and requested != agent.agent_id:
            raise PermissionDenied(f"agent_id {requested!r} is not the agent this call is made for")
        return agent.agent_id
    if requested:
        raise PermissionDenied("only a call made for an agent (a key with agents:act-as) may name an agent_id")
    if must_be_agent:
        raise PermissionDenied("this is written by an agent: make the call for one (a key with agents:act-as)")
    return caller.actor


def subject_agent(caller: Caller, requested: str) -> str:
    """The agent whose presence, offers or heartbeat a call is about: an agent's own (a supervisor's
    choice); any named one for a key calling for nobody (an integrator pushing presence)."""
    agent = caller.agent
    if agent is None:
        return requested
    if not requested or requested == agent.agent_id:
        return agent.agent_id
    if agent.supervisor:
        return requested
    raise PermissionDenied(f"agent_id {requested!r} is not the agent this call is made for")


def require_scope(caller: Caller, scope: str) -> None:
    if not caller.has(scope):
        raise permission_denied(f"API key {caller.key_id} lacks the scope {scope}")


class KeySource(Protocol):
    """Where the gRPC bootstrap reads key records (the NATS key-value bucket in the services)."""

    async def get(self, key_id: str) -> KeyRecord | None: ...


@dataclass
class StaticKeys:
    """A fixed set of records, for servers that are given their keys (tools, in-process tests)."""

    records: dict[str, KeyRecord] = field(default_factory=dict)

    @classmethod
    def of(cls, *keys: IssuedKey | KeyRecord) -> StaticKeys:
        records = [k.record if isinstance(k, IssuedKey) else k for k in keys]
        return cls({r.key_id: r for r in records})

    async def get(self, key_id: str) -> KeyRecord | None:
        return self.records.get(key_id)


async def authenticate(
    keys: KeySource, authorization: str | bytes | None, metadata: Sequence[tuple[str, str | bytes]] = ()
) -> Caller:
    """The caller behind an Authorization value (gRPC metadata or an HTTP header), or Refused."""
    key_id, secret = presented_key(authorization)
    return caller_of(await keys.get(key_id), secret, metadata)


_CURRENT: contextvars.ContextVar[Caller] = contextvars.ContextVar("inbox_caller")


def current_caller() -> Caller:
    """The caller of the RPC being served (set by the gRPC bootstrap before the servicer runs)."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise RuntimeError("no caller: servicers run behind the gRPC bootstrap's authentication") from None


def set_current_caller(caller: Caller) -> contextvars.Token[Caller]:
    return _CURRENT.set(caller)


def reset_current_caller(token: contextvars.Token[Caller]) -> None:
    _CURRENT.reset(token)
