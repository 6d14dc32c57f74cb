"""Live pages: the services' events, watched on NATS, become notices for the agents whose pages they change.

One watch per inbox-web process sees every conversation event (`EventBus.watch`). Each notice goes only to
the agents who may see the conversation (its assignee now and before, the connected agents of its team),
through their open Server-Sent Events streams; the page then fetches what changed through the usual
authorised routes, so no content ever travels in a notice. Each notice has an id ("<process epoch>-<n>"):
a reconnecting page sends the last one it saw and gets what it missed from a bounded backlog, or a
`reload` when it missed too much or was connected to another process.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import structlog
from inbox.conversations.v1 import conversation_service_pb2
from inbox.events.v1 import envelope_pb2
from inbox.message.v1 import message_pb2

from inbox_web.backends import Backends
from inbox_web.domain import Notice, notice_of, notified_agents, opening_seen_late, typing_of

log = structlog.get_logger(__name__)

BACKLOG = 5000
KNOWN_CONVERSATIONS = 50_000
QUEUE_PER_PAGE = 500
KEEPALIVE_SECONDS = 15.0
VISITOR_TTL_SECONDS = 30.0
# The chat adapter's signal (core NATS) when a visitor types.
VISITOR_TYPING = "channels.chat.visitor_typing"
# Watched subjects: what changes a conversation an agent may have open.
SUBJECTS = ("conv.>", "delivery.>", "routing.>")


@dataclass(frozen=True)
class Sent:
    number: int
    agents: frozenset[str]
    team: str
    data: str


_CLOSED = Sent(0, frozenset(), "", "")
# (assignee, team, the agents it is shared with)
Owner = tuple[str, str, tuple[str, ...]]
_NOBODY: Owner = ("", "", ())


class LiveFeed:
    def __init__(self, backends: Backends) -> None:
        self._backends = backends
        self._epoch = uuid.uuid4().hex[:8]
        self._number = 0
        self._backlog: deque[Sent] = deque(maxlen=BACKLOG)
        # Who has each conversation, its team and who shares it, as the events tell (asked of threading
        # when unknown, and again when an activity may have changed who shares it).
        self._owners: OrderedDict[str, Owner] = OrderedDict()
        self._pages: dict[str, set[asyncio.Queue[Sent]]] = {}
        # The teams of the agents with a page open.
        self._teams: dict[str, tuple[str, ...]] = {}
        # The supervisors with a page open: they hear of every conversation and of the floor.
        self._supervisors: set[str] = set()
        # Chat visitor -> (their open conversation, when asked).
        self._visitors: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def position(self) -> str:
        """The id of the latest notice: a page rendered now asks for what comes after it."""
        return f"{self._epoch}-{self._number}"

    async def on_event(self, envelope: envelope_pb2.EventEnvelope) -> None:
        notice = notice_of(envelope)
        if notice is None:
            return
        notice = opening_seen_late(notice, notice.conversation_id in self._owners)
        if notice.shares_changed:
            self._owners.pop(notice.conversation_id, None)  # ask threading again who shares it
        if notice.opened_in is not None:
            self._remember(notice.conversation_id, ("", notice.opened_in, ()))  # all known: nothing to ask
        before, team, shared = await self._owner(notice.conversation_id) if notice.conversation_id else _NOBODY
        agents = notified_agents(before, notice, team, self._teams, frozenset(self._supervisors), shared)
        # The agent it is offered to holds it for now: they hear when it moves on (lapsed, taken back).
        holder = notice.assignee if notice.assignee is not None else (notice.also or None)
        if holder is not None:
            self._remember(notice.conversation_id, (holder, team, shared))
        self._number += 1
        # Whom it is now assigned or offered to (an agent id, for that agent's optional desktop notification).
        to = notice.assignee or notice.also
        data = json.dumps({"conversation_id": notice.conversation_id, "kind": notice.kind, "agent": to})
        sent = Sent(self._number, agents, team, data)
        self._backlog.append(sent)
        self._send(sent)

    async def on_typing(self, subject: str, data: bytes) -> None:
        """A chat visitor is typing (or stopped): a core NATS signal from the chat adapter. The pages that
        show the visitor's open conversation say so for a moment. Never kept for a replay: stale at once."""
        typing = typing_of(data)
        if typing is None:
            return
        visitor_id, active = typing
        conversation_id = await self._visitor_conversation(visitor_id)
        if not conversation_id:
            return
        before, team, shared = await self._owner(conversation_id)
        notice = Notice(conversation_id, "typing")
        agents = notified_agents(before, notice, team, self._teams, frozenset(self._supervisors), shared)
        payload = {"conversation_id": conversation_id, "kind": "typing", "active": active}
        self._send(Sent(0, agents, team, json.dumps(payload)))

    async def _visitor_conversation(self, visitor_id: str) -> str:
        """The open conversation of the customer a chat visitor is, as threading knows it (found ones
        briefly cached: a typing visitor signals every few seconds)."""
        cached = self._visitors.get(visitor_id)
        now = time.monotonic()
        if cached is not None and now - cached[1] < VISITOR_TTL_SECONDS:
            return cached[0]
        contact = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR, value=visitor_id)
        try:
            got = await self._backends.conversations.GetCustomerProfile(
                conversation_service_pb2.GetCustomerProfileRequest(contact=contact), timeout=2
            )
            conversation_id = got.profile.open_conversation_id
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.warning("live_visitor_lookup_failed", code=exc.code().name)
            conversation_id = ""
        if not conversation_id:
            return ""  # not a customer yet (typing their first message): asked again next time
        self._visitors[visitor_id] = (conversation_id, now)
        self._visitors.move_to_end(visitor_id)
        while len(self._visitors) > KNOWN_CONVERSATIONS:
            self._visitors.popitem(last=False)
        return conversation_id

    def _send(self, sent: Sent) -> None:
        for agent_id in sent.agents:
            for page in self._pages.get(agent_id, ()):
                if page.full():
                    continue  # a page that stopped reading catches up with a reload when it reconnects
                page.put_nowait(sent)

    async def _owner(self, conversation_id: str) -> Owner:
        """(assignee, team, the agents it is shared with) of a conversation."""
        if conversation_id in self._owners:
            self._owners.move_to_end(conversation_id)
            return self._owners[conversation_id]
        try:
            got = await self._backends.conversations.GetConversation(
                conversation_service_pb2.GetConversationRequest(conversation_id=conversation_id), timeout=5
            )
            found = got.conversation
            owner: Owner = (found.assignee_agent_id, found.team, tuple(found.participant_agent_ids))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.warning("live_lookup_failed", conversation_id=conversation_id, code=exc.code().name)
            owner = _NOBODY
        self._remember(conversation_id, owner)
        return owner

    def _remember(self, conversation_id: str, owner: Owner) -> None:
        self._owners[conversation_id] = owner
        self._owners.move_to_end(conversation_id)
        while len(self._owners) > KNOWN_CONVERSATIONS:
            self._owners.popitem(last=False)

    def _missed(self, agent_id: str, teams: tuple[str, ...], last_event_id: str, everything: bool) -> list[Sent] | None:
        """What a reconnecting page missed; None when the backlog cannot say (too old, other process)."""
        epoch, _, number = last_event_id.partition("-")
        if epoch != self._epoch or not number.isdigit():
            return None
        seen = int(number)
        if self._backlog and seen < self._backlog[0].number - 1:
            return None
        return [
            s
            for s in self._backlog
            if s.number > seen and (everything or agent_id in s.agents or (s.team and s.team in teams))
        ]

    async def stream(
        self, agent_id: str, teams: tuple[str, ...], last_event_id: str, everything: bool = False
    ) -> AsyncIterator[str]:
        """The agent's notices as Server-Sent Events, until the page goes or the feed closes; `everything`
        for a supervisor."""
        page: asyncio.Queue[Sent] = asyncio.Queue(maxsize=QUEUE_PER_PAGE)
        self._pages.setdefault(agent_id, set()).add(page)
        self._teams[agent_id] = teams
        if everything:
            self._supervisors.add(agent_id)
        try:
            yield "retry: 1000\n\n"
            if last_event_id:
                missed = self._missed(agent_id, teams, last_event_id, everything)
                if missed is None:
                    yield f"id: {self._epoch}-{self._number}\nevent: reload\ndata: {{}}\n\n"
                else:
                    for sent in missed:
                        yield self._frame(sent)
            while True:
                try:
                    sent = await asyncio.wait_for(page.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if sent is _CLOSED:
                    return
                yield self._frame(sent)
        finally:
            self._pages[agent_id].discard(page)
            if not self._pages[agent_id]:
                del self._pages[agent_id]
                self._teams.pop(agent_id, None)
                self._supervisors.discard(agent_id)

    def _frame(self, sent: Sent) -> str:
        if not sent.number:  # not kept for a replay: no id, so the page's last id stays the last kept one
            return f"event: conversation\ndata: {sent.data}\n\n"
        return f"id: {self._epoch}-{sent.number}\nevent: conversation\ndata: {sent.data}\n\n"

    def close(self) -> None:
        """End every open stream (the process is stopping); pages reconnect to another one by themselves."""
        for pages in self._pages.values():
            for page in pages:
                if page.full():
                    page.get_nowait()
                page.put_nowait(_CLOSED)


__all__ = ["LiveFeed", "Notice"]
