"""Rules of the agents' web app, pure: who may log in with what, and who may see a conversation."""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import conversation_pb2
from inbox.conversations.v1 import events_pb2 as conversation_events
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import events_pb2 as routing_events
from inbox_events.channels import is_channel_name
from inbox_runtime.errors import InvalidInput

__all__ = ["InvalidInput"]

_USERNAME = re.compile(r"^[a-z0-9._@-]{2,64}$")
MIN_PASSWORD_LENGTH = 10


AGENT, SUPERVISOR = "agent", "supervisor"
ROLES = (AGENT, SUPERVISOR)


@dataclass(frozen=True)
class WebUser:
    username: str
    agent_id: str
    password_hash: str
    # A supervisor sees every conversation and the supervisor view; an agent, their own and their teams'.
    role: str = AGENT


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser, kept on the server so that logging out, a new password or a removed login ends
    it at once, whatever copies of its cookie exist. Kept under the hash of the cookie's token, so a copy
    of the store opens no session."""

    key: str
    username: str
    agent_id: str
    role: str
    expires_at_us: int


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_valid(session: WebSession | None, agent_id: str, now_us: int) -> bool:
    """A cookie's session holds when the server still has it, unexpired, for the same agent."""
    return session is not None and session.agent_id == agent_id and now_us < session.expires_at_us


class LoginThrottle:
    """Failed logins counted per account and per address over a sliding window; past the limit, login is
    refused for the time until the oldest counted failure leaves the window. In memory, per process."""

    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window_us: int = 15 * 60 * 1_000_000,
        tracked: int = 10_000,
    ) -> None:
        self._limits = {"account": per_account, "address": per_address}
        self._window_us = window_us
        self._tracked = tracked
        self._failures: OrderedDict[tuple[str, str], deque[int]] = OrderedDict()

    def _recent(self, key: tuple[str, str], now_us: int) -> deque[int]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now_us - self._window_us:
            failures.popleft()
        return failures

    def wait_seconds(self, username: str, address: str, now_us: int) -> int:
        """0 when a login may be tried now; otherwise how long until it may."""
        wait_us = 0
        for key in (("account", username.strip().lower()), ("address", address)):
            failures = self._recent(key, now_us)
            if len(failures) >= self._limits[key[0]]:
                wait_us = max(wait_us, failures[-self._limits[key[0]]] + self._window_us - now_us)
        return -(-wait_us // 1_000_000)

    def failed(self, username: str, address: str, now_us: int) -> None:
        for key in (("account", username.strip().lower()), ("address", address)):
            failures = self._recent(key, now_us)
            failures.append(now_us)
            self._failures[key] = failures
            self._failures.move_to_end(key)
        while len(self._failures) > self._tracked:
            self._failures.popitem(last=False)  # the key that failed longest ago

    def succeeded(self, username: str) -> None:
        self._failures.pop(("account", username.strip().lower()), None)


# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): a customer's text could reorder how
# the rest of a line reads ("Trojan Source"). Shown as their code points instead; marks (LRM, RLM) stay.
_BIDI_CONTROLS = {code: f"[U+{code:04X}]" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def shown_inert(value: object) -> object:
    """What a template shows: text with its bidi controls made visible; anything else (and markup that
    is already safe, `__html__`) as it is."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return value.translate(_BIDI_CONTROLS)
    return value


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be {' or '.join(ROLES)}")
    return role


def normalise_username(raw: str) -> str:
    username = raw.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput("username must be 2-64 characters of letters, digits, '.', '_', '@' or '-'")
    return username


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def may_view(
    agent_id: str, teams: tuple[str, ...], assignee_agent_id: str, team: str, participants: tuple[str, ...] = ()
) -> bool:
    """As threading's viewer rule: an agent sees the conversations assigned to them, shared with them,
    and those of their teams."""
    if not agent_id:
        return False
    return agent_id == assignee_agent_id or agent_id in participants or (bool(team) and team in teams)


STATUSES = {
    "open": conversation_pb2.CONVERSATION_STATUS_OPEN,
    "pending": conversation_pb2.CONVERSATION_STATUS_PENDING,
    "snoozed": conversation_pb2.CONVERSATION_STATUS_SNOOZED,
    "resolved": conversation_pb2.CONVERSATION_STATUS_RESOLVED,
}


def status_request(
    status: str, snooze_hours: str, now_s: float
) -> tuple[conversation_pb2.ConversationStatus.ValueType, int]:
    """The status an agent chose, and until when it sleeps (snoozed only); InvalidInput says what is wrong."""
    if status not in STATUSES:
        raise InvalidInput("choose open, pending, snoozed or resolved")
    if status != "snoozed":
        return STATUSES[status], 0
    try:
        hours = float(snooze_hours)
    except ValueError:
        raise InvalidInput("snooze for how many hours?") from None
    if not 0 < hours <= 24 * 30:
        raise InvalidInput("snooze for between a few minutes and 30 days")
    return STATUSES[status], int(now_s + hours * 3600)


# The list's views: what an agent is working on, what waits on the customer, what is done.
VIEWS: dict[str, tuple[conversation_pb2.ConversationStatus.ValueType, ...]] = {
    "open": (conversation_pb2.CONVERSATION_STATUS_OPEN,),
    # My teams' conversations nobody has yet.
    "queue": (conversation_pb2.CONVERSATION_STATUS_OPEN,),
    "pending": (conversation_pb2.CONVERSATION_STATUS_PENDING, conversation_pb2.CONVERSATION_STATUS_SNOOZED),
    "resolved": (conversation_pb2.CONVERSATION_STATUS_RESOLVED,),
    # Conversations shared with me: mentioned in a note, added to help.
    "mentions": (),
    # Everything I may see: mine and my teams', any status (a supervisor: every conversation).
    "all": (),
}


def list_view(name: str) -> str:
    """The view asked for, "open" unless it is one of VIEWS."""
    return name if name in VIEWS else "open"


LIST_LENGTH = 100


def is_unread(message_count: int, seen: int | None) -> bool:
    """A conversation has something the agent has not seen: messages since they last had it open (any
    at all when they never opened it)."""
    return message_count > (seen or 0)


def merged_list(
    batches: list[list[conversation_pb2.Conversation]], unassigned_only: bool = False
) -> list[conversation_pb2.Conversation]:
    """One list from several queries (mine, each of my teams'): each conversation once, newest activity
    first, at most LIST_LENGTH; `unassigned_only` keeps those nobody has yet (a queue)."""
    seen: dict[str, conversation_pb2.Conversation] = {}
    for batch in batches:
        for c in batch:
            if not (unassigned_only and c.assignee_agent_id):
                seen.setdefault(c.conversation_id, c)
    ordered = sorted(seen.values(), key=lambda c: (c.last_activity_at.seconds, c.last_activity_at.nanos), reverse=True)
    return ordered[:LIST_LENGTH]


def floor_order(conversations: list[conversation_pb2.Conversation]) -> list[conversation_pb2.Conversation]:
    """The supervisor's order: nobody's yet first, longest waiting first; then the rest, the customers
    waiting longest for an answer first, then the most recently active."""

    def key(c: conversation_pb2.Conversation) -> tuple[bool, bool, float, float]:
        waits = c.HasField("waiting_since")
        return (
            bool(c.assignee_agent_id),
            not waits,
            c.waiting_since.seconds if waits else 0,
            -c.last_activity_at.seconds,
        )

    return sorted(conversations, key=key)


def load_summary(
    load: Mapping[str, int], in_force: Mapping[str, int], configured: Mapping[str, int]
) -> list[tuple[str, int, int]]:
    """(channel, conversations held, capacity) for the channels an agent is busy on or set up for."""
    shown = sorted(set(load) | set(configured))
    return [(channel, load.get(channel, 0), in_force.get(channel, configured.get(channel, 0))) for channel in shown]


def local_path(back: str, default: str = "/") -> str:
    """Where to go after a form: a path on this site, never another site (`//evil`, `https://...`)."""
    return back if back.startswith("/") and not back.startswith("//") and "\\" not in back else default


_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class ListFilter:
    """Narrows a list view to one channel, one tag, one language (each optional)."""

    channel: str = ""
    tag: str = ""
    language: str = ""

    def query(self) -> str:
        """The filter as URL query parameters ("" when it narrows nothing)."""
        return urlencode(
            {k: v for k, v in (("channel", self.channel), ("tag", self.tag), ("language", self.language)) if v}
        )

    def channels(self) -> list[str]:
        return [self.channel] if self.channel else []


def list_filter(params: Mapping[str, str], channels: Sequence[str]) -> ListFilter:
    """The filter an agent chose in the list's filter bar; InvalidInput names a value that cannot be one."""
    channel = params.get("channel", "").strip().lower()
    if channel and channel not in channels:
        raise InvalidInput(f"no channel called {channel[:20]!r}: choose {', '.join(channels)}")
    tags = tags_in(params.get("tag", "")[:100])
    if len(tags) > 1:
        raise InvalidInput("filter by one tag at a time")
    language = params.get("language", "").strip().lower()
    if language and not _LANGUAGE.match(language):
        raise InvalidInput("a language is a two- or three-letter code, like en or es")
    return ListFilter(channel, tags[0].lower() if tags else "", language)


@dataclass(frozen=True)
class CannedResponse:
    """A reply a team keeps ready; `{first_name}` and `{agent_name}` are filled in when it is used.
    An empty team shares it with everyone."""

    response_id: str
    team: str
    title: str
    text: str
    created_by: str


PLACEHOLDERS = ("first_name", "agent_name")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def may_use_canned(response: CannedResponse, teams: tuple[str, ...]) -> bool:
    """Shared with everyone, or with one of the agent's teams."""
    return not response.team or response.team in teams


def tags_in(text: str) -> list[str]:
    """The tags an agent typed, separated by spaces or commas."""
    return text.replace(",", " ").split()


def validate_canned(title: str, text: str, team: str, teams: tuple[str, ...]) -> tuple[str, str]:
    """The title and text to keep, or InvalidInput naming what is wrong."""
    title, text = title.strip(), text.strip()
    if not 1 <= len(title) <= 80:
        raise InvalidInput("a title of 1 to 80 characters")
    if not 1 <= len(text) <= 2000:
        raise InvalidInput("a text of 1 to 2,000 characters")
    unknown = sorted(set(_PLACEHOLDER.findall(text)) - set(PLACEHOLDERS))
    if unknown:
        raise InvalidInput(f"unknown placeholder {{{unknown[0]}}}: use {{first_name}} or {{agent_name}}")
    if team and team not in teams:
        raise InvalidInput("share it with one of your teams, or with everyone")
    return title, text


def filled(text: str, first_name: str, agent_name: str) -> str:
    """A canned text with its placeholders filled ("there" for a customer whose name we do not know)."""
    values = {"first_name": first_name or "there", "agent_name": agent_name}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def reply_channel(choice: str) -> str:
    """The channel picked for a reply (the picker offers what the deployment runs); "", the customer's
    latest, when none or no channel's name is picked (threading refuses one it cannot send on)."""
    return choice if is_channel_name(choice) else ""


@dataclass(frozen=True)
class Notice:
    """What an open page needs to hear about an event: which conversation changed and how. The page then
    fetches what it shows through the usual, authorised routes; no content travels in a notice."""

    # "" for a notice about the floor rather than one conversation (an agent's presence): supervisors only.
    conversation_id: str
    kind: str
    # The assignee the event says the conversation now has; None when the event does not say.
    assignee: str | None = None
    # Someone else whose page changes: the agent a conversation is offered to.
    also: str = ""
    # Who shares the conversation may have changed (an activity: someone joined, was assigned...).
    shares_changed: bool = False
    # A conversation just opened: nobody has it, nobody shares it, and this is its team.
    opened_in: str | None = None


def notice_of(envelope: envelope_pb2.EventEnvelope) -> Notice | None:
    """The notice for a conversation or routing event an agent's page shows; None for the others."""
    spec = _NOTICES.get(envelope.type)
    if spec is None:
        return None
    event_type, kind, read = spec
    event = event_type()
    if not envelope.payload.Unpack(event):
        return None
    conversation_id, assignee = read(event)
    if not conversation_id and kind not in FLOOR_NOTICES:
        return None
    also = event.agent_id if kind == "offered" else ""
    if kind == "message" and event.HasField("opened"):
        # The first message of a new conversation: nobody has it yet; its team sees it.
        return Notice(conversation_id, "opened", "", opened_in=event.opened.team)
    activity = kind == "message" and event.message.kind == message_pb2.MESSAGE_KIND_ACTIVITY
    return Notice(conversation_id, kind, assignee, also, shares_changed=activity)


def opening_seen_late(notice: Notice, known: bool) -> Notice:
    """A conversation's opening that comes after a later event of it (`known`: its owner is already known;
    live-only events such as an assignment take a quicker road than stored ones) says nothing new about who
    has it: it keeps its kind, drops what it says of the owner, so what is known stays."""
    if notice.opened_in is None or not known:
        return notice
    return replace(notice, assignee=None, opened_in=None)


def notified_agents(
    assignee_before: str,
    notice: Notice,
    team: str = "",
    teams_of: Mapping[str, tuple[str, ...]] | None = None,
    supervisors: frozenset[str] = frozenset(),
    participants: tuple[str, ...] = (),
) -> frozenset[str]:
    """Whose open pages change: the agent who has the conversation now, the one who had it, an agent it
    is offered to, the agents it is shared with, the connected agents of its team (`teams_of`: connected
    agents and their teams), and the connected supervisors, who see everything."""
    if not notice.conversation_id:
        return supervisors
    after = assignee_before if notice.assignee is None else notice.assignee
    members = {agent for agent, teams in (teams_of or {}).items() if team and team in teams}
    named = {a for a in (assignee_before, after, notice.also, *participants) if a}
    return frozenset(named | members | supervisors)


_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9._-]*)")


def mentions_in(text: str, agents: Iterable[str], author: str, sharing: Iterable[str] = ()) -> list[str]:
    """The agents a note mentions (`@ada`) who do not have the conversation yet (`sharing`: its assignee
    and participants), each once, in the order written; unknown names and the author are left out. Names
    match whatever their case; a trailing full stop is punctuation."""
    known = {agent.lower(): agent for agent in agents}
    has_it = set(sharing)
    mentioned: list[str] = []
    for raw in _MENTION.findall(text):
        agent = known.get(raw.lower()) or known.get(raw.rstrip(".").lower())
        if agent and agent != author and agent not in has_it and agent not in mentioned:
            mentioned.append(agent)
    return mentioned


def typing_of(data: bytes) -> tuple[str, bool] | None:
    """(visitor id, typing or stopped) from the chat adapter's typing signal; None when it is not one."""
    try:
        signal = json.loads(data)
    except ValueError:
        return None
    if not isinstance(signal, dict):
        return None
    visitor_id, active = signal.get("visitor_id"), signal.get("active")
    if not isinstance(visitor_id, str) or not 0 < len(visitor_id) <= 200 or not isinstance(active, bool):
        return None
    return visitor_id, active


# Notices about the floor, not one conversation.
FLOOR_NOTICES = ("presence",)


_NOTICES: dict[str, tuple[type[Any], str, Callable[[Any], tuple[str, str | None]]]] = {
    "inbox.conversations.v1.ConversationReopened": (
        conversation_events.ConversationReopened,
        "reopened",
        lambda e: (e.conversation_id, ""),
    ),
    "inbox.conversations.v1.MessageAdded": (
        conversation_events.MessageAdded,
        "message",
        lambda e: (e.message.conversation_id, None),
    ),
    "inbox.conversations.v1.MessageUpdated": (
        conversation_events.MessageUpdated,
        "message_updated",
        lambda e: (e.message.conversation_id, None),
    ),
    "inbox.conversations.v1.AssigneeChanged": (
        conversation_events.AssigneeChanged,
        "assignment",
        lambda e: (e.conversation_id, e.agent_id),
    ),
    "inbox.conversations.v1.ConversationStatusChanged": (
        conversation_events.ConversationStatusChanged,
        "status",
        lambda e: (e.conversation_id, e.assignee_agent_id),
    ),
    "inbox.channels.v1.DeliveryStatusChanged": (
        channel_events.DeliveryStatusChanged,
        "delivery",
        lambda e: (e.conversation_id, None),
    ),
    "inbox.conversations.v1.TagsChanged": (
        conversation_events.TagsChanged,
        "tags",
        lambda e: (e.conversation_id, None),
    ),
    # Routing: the queues and the floor change.
    "inbox.routing.v1.ConversationQueued": (
        routing_events.ConversationQueued,
        "queued",
        lambda e: (e.conversation_id, None),
    ),
    "inbox.routing.v1.ConversationOffered": (
        routing_events.ConversationOffered,
        "offered",
        lambda e: (e.conversation_id, None),
    ),
    "inbox.routing.v1.SlaBreached": (
        routing_events.SlaBreached,
        "sla",
        lambda e: (e.conversation_id, None),
    ),
    "inbox.routing.v1.AgentPresenceChanged": (
        routing_events.AgentPresenceChanged,
        "presence",
        lambda e: ("", None),
    ),
}


# A handoff summary's parts as the agent reads them, and what an empty one says.
SUMMARY_PARTS = (
    ("wants", "What they want", "Nothing said yet."),
    ("tried_or_promised", "Already tried or promised", "Nothing yet."),
    ("open_questions", "Open questions", "None."),
)
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def _summary_parts(points: Iterable[tuple[str, str, Sequence[str]]]) -> list[dict[str, Any]]:
    """The summary's parts in order, each point with the ids of the messages it quotes (ids checked)."""
    listed = list(points)
    return [
        {
            "title": title,
            "empty": empty,
            "points": [
                {"text": text, "message_ids": [str(i) for i in ids if _MESSAGE_ID.match(str(i))]}
                for kind, text, ids in listed
                if kind == part
            ],
        }
        for part, title, empty in SUMMARY_PARTS
    ]


def summary_view(summary: conversation_pb2.ConversationSummary) -> dict[str, Any]:
    """A summary asked for now (ConversationService.SummarizeConversation), shaped like a pinned one."""
    points = [
        (part, p.text, list(p.message_ids))
        for part, found in (
            ("wants", summary.wants),
            ("tried_or_promised", summary.tried_or_promised),
            ("open_questions", summary.open_questions),
        )
        for p in found
    ]
    return {"note_id": "now", "reason": "as it stands now", "who": summary.who, "parts": _summary_parts(points)}


def pinned_summary(messages: Sequence[conversation_pb2.Message]) -> dict[str, Any] | None:
    """The latest handoff summary (a note threading wrote when the conversation changed hands), for the top
    of the conversation: each point with links to the messages it quotes. None when there is none."""
    for message in reversed(messages):
        data = message.metadata
        if message.kind != message_pb2.MESSAGE_KIND_NOTE or "summary" not in data:
            continue
        try:
            points = json.loads(data.get("points", "[]"))
        except json.JSONDecodeError:
            points = []
        found = [
            (str(p.get("part", "")), str(p.get("text", "")), list(p.get("message_ids", [])))
            for p in (points if isinstance(points, list) else [])
            if isinstance(p, dict)
        ]
        parts = _summary_parts(found)
        return {"note_id": message.message_id, "reason": data["summary"], "who": data.get("who", ""), "parts": parts}
    return None
