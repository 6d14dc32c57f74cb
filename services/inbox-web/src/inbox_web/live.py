"""Live pages: the services' events, watched on NATS, become notices for the agents whose pages they change.

One watch per inbox-web process sees every conversation event (`EventBus.watch`). Each notice goes only to
the agents who may see the conversation (its assignee now and before), through their open Server-Sent
Events streams; the page then fetches what changed through the usual authorised routes, so no content
ever travels in a notice. Each notice has an id ("<process epoch>-<n>"): a reconnecting page sends the
last one it saw and gets what it missed from a bounded backlog, or a `reload` when it missed too much or
was connected to another process.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import structlog
from inbox.conversations.v1 import conversation_service_pb2
from inbox.events.v1 import envelope_pb2

from inbox_web.backends import Backends
from inbox_web.domain import Notice, notice_of, notified_agents

log = structlog.get_logger(__name__)

BACKLOG = 5000
KNOWN_CONVERSATIONS = 50_000
QUEUE_PER_PAGE = 500
KEEPALIVE_SECONDS = 15.0
# Watched subjects: what changes a conversation an agent may have open.
SUBJECTS = ("conv.>", "delivery.>")


@dataclass(frozen=True)
class Sent:
    number: int
    agents: frozenset[str]
    data: str


_CLOSED = Sent(0, frozenset(), "")


class LiveFeed:
    def __init__(self, backends: Backends) -> None:
        self._backends = backends
        self._epoch = uuid.uuid4().hex[:8]
        self._number = 0
        self._backlog: deque[Sent] = deque(maxlen=BACKLOG)
        # Who has each conversation, as the events tell (asked once of threading when unknown).
        self._assignees: OrderedDict[str, str] = OrderedDict()
        self._pages: dict[str, set[asyncio.Queue[Sent]]] = {}

    async def on_event(self, envelope: envelope_pb2.EventEnvelope) -> None:
        notice = notice_of(envelope)
        if notice is None:
            return
        before = await self._assignee(notice.conversation_id)
        agents = notified_agents(before, notice)
        if notice.assignee is not None:
            self._remember(notice.conversation_id, notice.assignee)
        self._number += 1
        sent = Sent(self._number, agents, json.dumps({"conversation_id": notice.conversation_id, "kind": notice.kind}))
        self._backlog.append(sent)
        for agent_id in agents:
            for page in self._pages.get(agent_id, ()):
                if page.full():
                    continue  # a page that stopped reading catches up with a reload when it reconnects
                page.put_nowait(sent)

    async def _assignee(self, conversation_id: str) -> str:
        if conversation_id in self._assignees:
            self._assignees.move_to_end(conversation_id)
            return self._assignees[conversation_id]
        try:
            got = await self._backends.conversations.GetConversation(
                conversation_service_pb2.GetConversationRequest(conversation_id=conversation_id), timeout=5
            )
            assignee = got.conversation.assignee_agent_id
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.warning("live_lookup_failed", conversation_id=conversation_id, code=exc.code().name)
            assignee = ""
        self._remember(conversation_id, assignee)
        return assignee

    def _remember(self, conversation_id: str, assignee: str) -> None:
        self._assignees[conversation_id] = assignee
        self._assignees.move_to_end(conversation_id)
        while len(self._assignees) > KNOWN_CONVERSATIONS:
            self._assignees.popitem(last=False)

    def _missed(self, agent_id: str, last_event_id: str) -> list[Sent] | None:
        """What a reconnecting page missed; None when the backlog cannot say (too old, other process)."""
        epoch, _, number = last_event_id.partition("-")
        if epoch != self._epoch or not number.isdigit():
            return None
        seen = int(number)
        if self._backlog and seen < self._backlog[0].number - 1:
            return None
        return [s for s in self._backlog if s.number > seen and agent_id in s.agents]

    async def stream(self, agent_id: str, last_event_id: str) -> AsyncIterator[str]:
        """The agent's notices as Server-Sent Events, until the page goes or the feed closes."""
        page: asyncio.Queue[Sent] = asyncio.Queue(maxsize=QUEUE_PER_PAGE)
        self._pages.setdefault(agent_id, set()).add(page)
        try:
            yield "retry: 1000\n\n"
            if last_event_id:
                missed = self._missed(agent_id, last_event_id)
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

    def _frame(self, sent: Sent) -> str:
        return f"id: {self._epoch}-{sent.number}\nevent: conversation\ndata: {sent.data}\n\n"

    def close(self) -> None:
        """End every open stream (the process is stopping); pages reconnect to another one by themselves."""
        for pages in self._pages.values():
            for page in pages:
                if page.full():
                    page.get_nowait()
                page.put_nowait(_CLOSED)


__all__ = ["LiveFeed", "Notice"]
