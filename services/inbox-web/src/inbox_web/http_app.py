"""Routes of the agents' web app: login, my conversations, one conversation, reply, live notices.

Every page but login and the probes needs a session. Customer text is rendered only through Jinja2's
autoescaping and the Content-Security-Policy forbids inline and foreign scripts, so nothing a customer
writes can run in an agent's browser. Every form carries the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import jinja2
import structlog
from google.protobuf.timestamp_pb2 import Timestamp
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.conversations.v1 import conversation_pb2, conversation_service_pb2, outreach_service_pb2
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2
from inbox_events.channels import channel_of
from inbox_events.customers import first_name_of
from inbox_runtime.auth import same_secret
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for
from inbox_runtime.timestamps import now_us
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox_web.accounts import Accounts
from inbox_web.backends import Backends
from inbox_web.domain import (
    LIST_LENGTH,
    SUPERVISOR,
    VIEWS,
    CannedResponse,
    InvalidInput,
    ListFilter,
    LoginThrottle,
    WebSession,
    filled,
    floor_order,
    is_unread,
    list_filter,
    list_view,
    load_summary,
    local_path,
    may_use_canned,
    may_view,
    mentions_in,
    merged_list,
    pinned_summary,
    reply_channel,
    session_key,
    session_valid,
    shown_inert,
    status_request,
    summary_view,
    tags_in,
    validate_canned,
)
from inbox_web.live import LiveFeed
from inbox_web.store import WebStore

log = structlog.get_logger(__name__)

HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024
HOUR_US = 3600 * 1_000_000

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


# Behind HTTPS (WEB_SECURE_COOKIES): browsers keep to HTTPS for a year.
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """The security headers on every response; pages (customer data) are never stored by a browser or a
    proxy, only the static files are."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self._app = app
        headers = dict(SECURITY_HEADERS, **({"strict-transport-security": HSTS} if https else {}))
        self._headers = [(k.encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if static or h[0].lower() != b"cache-control"]
                headers.extend(self._headers)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, send_with_headers)


def waited(seconds: float) -> str:
    """How long a customer has waited, as a list shows it: "just now", "4 min", "2 h", "3 d"."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def _iso(stamp: Timestamp) -> str:
    return datetime.fromtimestamp(stamp.seconds, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _label(enum_name: str, prefix: str) -> str:
    return enum_name.removeprefix(prefix).lower().replace("_", " ")


# What threading tags a conversation a supervisor should follow up (a low satisfaction score).
FOLLOW_UP_TAG = "follow-up"
# The moods a list flags: the customers who need care first.
UPSET_LABELS = ("negative", "very_negative")


def _conversation_view(c: conversation_pb2.Conversation, now_s: float | None = None) -> dict[str, Any]:
    now_s = time.time() if now_s is None else now_s
    return {
        "conversation_id": c.conversation_id,
        "customer_id": c.customer_id,
        "customer": c.customer_label or f"Customer {c.customer_id[:8]}",
        "channel": channel_of(c),
        "status": _label(conversation_pb2.ConversationStatus.Name(c.status), "CONVERSATION_STATUS_"),
        "message_count": c.message_count,
        "last_activity": _iso(c.last_activity_at),
        "subject": c.subject,
        "preview": c.last_message_preview,
        "preview_from_us": c.last_message_direction == message_pb2.DIRECTION_OUTBOUND,
        "waiting": waited(now_s - c.waiting_since.seconds) if c.HasField("waiting_since") else "",
        "assignee": c.assignee_agent_id,
        "team": c.team,
        "shared_with": list(c.participant_agent_ids),
        "mood": _mood_view(c),
        "satisfaction": _satisfaction_view(c),
    }


def _satisfaction_view(c: conversation_pb2.Conversation) -> dict[str, Any] | None:
    """The customer's answer to the survey (None until they answered)."""
    if not c.HasField("satisfaction") or not c.satisfaction.score:
        return None
    answer = c.satisfaction
    return {"score": answer.score, "comment": answer.comment, "agent": answer.agent_id, "team": answer.team}


def _score_view(line: conversation_service_pb2.SatisfactionScore) -> dict[str, Any]:
    return {
        "key": line.key,
        "responses": line.responses,
        "average": f"{line.average:.1f}" if line.responses else "—",
        "satisfied": f"{line.satisfied_percent:.0f} %" if line.responses else "—",
        "low": line.low,
    }


def _mood_view(c: conversation_pb2.Conversation) -> dict[str, Any] | None:
    """How the customer feels over the conversation (None until a message of theirs was scored)."""
    if not c.HasField("mood"):
        return None
    mood = c.mood
    return {
        "label": mood.label.replace("_", " "),
        "band": mood.label,
        "upset": mood.label in UPSET_LABELS,
        "trend": mood.trend,
        "detail": f"mood {mood.score:+.2f} over {mood.scored_messages} scored messages; "
        f"latest {mood.latest_score:+.2f}, lowest {mood.lowest_score:+.2f}",
    }


def _sentiment_view(m: conversation_pb2.Message) -> dict[str, str] | None:
    if not m.HasField("sentiment"):
        return None
    sentiment = m.sentiment
    read = (
        f"read from its English translation ({sentiment.translated_from})"
        if sentiment.translated_from
        else "read as written"
    )
    return {
        "label": sentiment.label.replace("_", " "),
        "band": sentiment.label,
        "detail": f"sentiment {sentiment.score:+.2f}, {read}",
    }


def _agent_view(a: routing_service_pb2.Agent, now_s: float) -> dict[str, Any]:
    def per_channel(entries: Iterable[routing_service_pb2.ChannelCapacity]) -> dict[str, int]:
        return {channel_of(e): e.capacity for e in entries}

    seen = a.last_seen_at.seconds
    return {
        "agent_id": a.agent_id,
        "name": a.display_name or a.agent_id,
        "presence": _label(routing_service_pb2.Presence.Name(a.presence), "PRESENCE_"),
        "teams": list(a.teams),
        "loads": load_summary(
            {channel_of(e): e.conversations for e in a.load},
            per_channel(a.effective_capacities),
            per_channel(a.capacities),
        ),
        "last_seen": waited(now_s - seen) if seen else "never",
    }


def _targets(agents: Iterable[routing_service_pb2.Agent], me: str) -> dict[str, list[str]]:
    """Who a conversation can go to: the agents but `me`, and every team."""
    listed = list(agents)
    return {
        "agents": sorted(a.agent_id for a in listed if a.agent_id != me),
        "teams": sorted({t for a in listed for t in a.teams}),
    }


def _queue_view(q: routing_service_pb2.TeamQueue) -> dict[str, Any]:
    return {
        "team": q.team or "(no team)",
        "waiting": q.waiting,
        "longest": waited(q.longest_wait_seconds) if q.waiting else "",
        "available": q.agents_available,
        "breaches": q.sla_breaches,
    }


def _message_view(m: conversation_pb2.Message) -> dict[str, Any]:
    return {
        "message_id": m.message_id,
        "conversation_id": m.conversation_id,
        "kind": _label(message_pb2.MessageKind.Name(m.kind), "MESSAGE_KIND_"),
        "agent_id": m.agent_id,
        "direction": _label(message_pb2.Direction.Name(m.direction), "DIRECTION_"),
        "channel": channel_of(m),
        "text": m.text,
        "sent_at": _iso(m.sent_at),
        "language": m.language,
        "translations": sorted(m.translations.items()),
        "translation_pending": m.translation_status == "pending",
        "sentiment": _sentiment_view(m),
        "score": m.metadata.get("satisfaction_score", "") if m.kind == message_pb2.MESSAGE_KIND_FEEDBACK else "",
        **_delivery_view(m),
    }


def _delivery_view(m: conversation_pb2.Message) -> dict[str, str]:
    """How far a reply got (sending until the channel reports, then sent, delivered, read or failed) and why."""
    if m.direction != message_pb2.DIRECTION_OUTBOUND or m.kind != message_pb2.MESSAGE_KIND_TEXT:
        return {}
    if m.delivery_status == channel_events.DELIVERY_STATUS_UNSPECIFIED:
        return {"delivery": "sending", "delivery_detail": ""}
    status = _label(channel_events.DeliveryStatus.Name(m.delivery_status), "DELIVERY_STATUS_")
    return {"delivery": status, "delivery_detail": m.delivery_detail}


def _profile_view(
    profile: conversation_pb2.CustomerProfile,
    current: conversation_pb2.Conversation,
    conversations: list[conversation_pb2.Conversation],
) -> dict[str, Any]:
    kinds = {1: "email", 2: "phone", 3: "chat visitor", 4: "account"}
    return {
        "label": current.customer_label or profile.display_name or "Customer",
        "contacts": [(kinds.get(c.kind, "contact"), c.value) for c in profile.contact_points],
        "attributes": sorted(profile.attributes.items()),
        "first_contact": _iso(profile.first_contact_at),
        "tenure_days": profile.tenure_days,
        "channels": list(profile.channel_names_used),
        "earlier": [_conversation_view(c) for c in conversations if c.conversation_id != current.conversation_id],
    }


PRESENCES = {
    "available": routing_service_pb2.PRESENCE_AVAILABLE,
    "away": routing_service_pb2.PRESENCE_AWAY,
    "offline": routing_service_pb2.PRESENCE_OFFLINE,
}
PRESENCE_CHOICES = tuple(PRESENCES)

Handler = Callable[[Request], Awaitable[Response]]


def build_http_app(
    backends: Backends,
    accounts: Accounts,
    store: WebStore,
    feed: LiveFeed,
    *,
    session_secret: str,
    secure_cookies: bool,
    session_hours: int,
) -> Starlette:
    throttle = LoginThrottle()
    # Autoescaping on for every template, whatever its file name; every value shown goes through
    # `shown_inert` first, so no bidi control from a customer reorders what the agent reads.
    templates = Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, finalize=shown_inert
        )
    )

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return str(token)

    async def form_with_csrf(request: Request) -> dict[str, str]:
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
        form = await request.form(max_files=0, max_fields=20)
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        expected = request.session.get("csrf", "")
        if not expected or not same_secret(values.get("csrf", ""), str(expected)):
            raise HTTPException(403, "the form has expired; reload the page and try again")
        return values

    def is_supervisor(request: Request) -> bool:
        return request.session.get("role") == SUPERVISOR

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        context.update(
            agent_id=request.session.get("agent_id", ""),
            csrf=csrf_token(request),
            presence=request.session.get("presence", ""),
            presences=PRESENCE_CHOICES,
            supervisor=is_supervisor(request),
            live_after=getattr(request.state, "live_after", ""),
        )
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    async def signed_in(request: Request) -> bool:
        """Whether the cookie's session is still one the server keeps (not logged out, not ended by a new
        password or a removed login, not expired)."""
        token = request.session.get("sid")
        if not request.session.get("agent_id") or not isinstance(token, str):
            return False
        kept = await store.session(session_key(token))
        return session_valid(kept, str(request.session["agent_id"]), now_us())

    def login_required(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            if not await signed_in(request):
                request.session.clear()
                return RedirectResponse("/login", status_code=303)
            structlog.contextvars.bind_contextvars(agent_id=request.session["agent_id"])
            # Where the live feed stood before this page read anything: its stream replays from there, so
            # a change between the render and the stream's connection is not lost.
            request.state.live_after = feed.position()
            agent_id = str(request.session["agent_id"])
            # Every call made for this page carries the agent (teams as routing knows them), and the
            # services decide what it may see and do from that, as they would for any caller.
            agent = Agent(agent_id, await backends.teams_of(agent_id), supervisor=is_supervisor(request))
            with acting_for(agent):
                await backends.heartbeat(agent_id)
                return await handler(request)

        return wrapper

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready = await backends.ready()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def login_form(request: Request) -> Response:
        return page(request, "login.html", username="", error="")

    async def login(request: Request) -> Response:
        form = await form_with_csrf(request)
        username, address = form.get("username", ""), request.client.host if request.client else ""
        wait = throttle.wait_seconds(username, address, now_us())
        if wait:
            minutes = -(-wait // 60)
            refused = page(
                request,
                "login.html",
                429,
                username=username,
                error=f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            )
            refused.headers["retry-after"] = str(wait)
            return refused
        user = await accounts.authenticate(username, form.get("password", ""))
        if user is None:
            throttle.failed(username, address, now_us())
            return page(request, "login.html", 401, username=username, error="Wrong username or password.")
        throttle.succeeded(username)
        token = secrets.token_urlsafe(32)
        await store.create_session(
            WebSession(session_key(token), user.username, user.agent_id, user.role, now_us() + session_hours * HOUR_US),
            now_us(),
        )
        request.session.clear()  # a new session for the new identity
        request.session.update(
            sid=token, agent_id=user.agent_id, username=user.username, role=user.role, csrf=secrets.token_urlsafe(32)
        )
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        await form_with_csrf(request)
        token = request.session.get("sid")
        if isinstance(token, str):
            await store.end_session(session_key(token))  # every copy of the cookie stops working
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def my_conversations(request: Request, view: str, chosen: ListFilter) -> list[dict[str, Any]]:
        agent_id = request.session["agent_id"]

        def query(**scope: str) -> conversation_service_pb2.ListConversationsRequest:
            return conversation_service_pb2.ListConversationsRequest(
                statuses=VIEWS[view],
                channel_names=chosen.channels(),
                tag=chosen.tag,
                language=chosen.language,
                page_size=LIST_LENGTH,
                **scope,  # type: ignore[arg-type]  # string fields only (the agent, team or participant)
            )

        if view == "mentions":
            queries = [query(participant_agent_id=agent_id)]
        elif view not in ("queue", "all"):
            queries = [query(assignee_agent_id=agent_id)]
        elif view == "all" and is_supervisor(request):
            queries = [query()]
        else:
            teams = await backends.teams_of(agent_id)
            queries = [query(team=team) for team in teams]
            if view == "all":
                queries.append(query(assignee_agent_id=agent_id))
        listed = await asyncio.gather(*(backends.conversations.ListConversations(q) for q in queries))
        batches = [list(found.conversations) for found in listed]
        shown = merged_list(batches, unassigned_only=view == "queue")
        seen = await store.read_counts(agent_id, [c.conversation_id for c in shown])
        return [
            {**_conversation_view(c), "unread": is_unread(c.message_count, seen.get(c.conversation_id))} for c in shown
        ]

    async def offers_for(agent_id: str) -> list[dict[str, Any]]:
        """The conversations offered to the agent, with who and what, and how long is left to answer."""
        try:
            listed = await backends.routing.ListOffers(routing_service_pb2.ListOffersRequest(agent_id=agent_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return []  # a login routing has no agent for (a supervisor who takes no conversations): no offers

        async def shown(offer: routing_service_pb2.GetAssignmentResponse) -> dict[str, Any] | None:
            try:
                # Routing offers it to this agent, so they may see it before it is theirs: read as inbox-web
                # itself, since threading knows of assignments, not of offers.
                with acting_for(None):
                    got = await backends.conversations.GetConversation(
                        conversation_service_pb2.GetConversationRequest(conversation_id=offer.conversation_id)
                    )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return None
            left = max(0, offer.offer_expires_at.seconds - int(time.time()))
            return {**_conversation_view(got.conversation), "seconds_left": left, "reason": offer.reason}

        views = await asyncio.gather(*(shown(offer) for offer in listed.offers))
        return [v for v in views if v is not None]

    async def render_inbox(request: Request, name: str) -> Response:
        view = list_view(request.query_params.get("view", ""))
        channels = await backends.list_channels()
        try:
            chosen, refused = list_filter(request.query_params, channels), ""
        except InvalidInput as exc:
            chosen, refused = ListFilter(), str(exc)
        # What an answered offer left to say (lapsed, taken), shown once.
        said = str(request.session.pop("flash", "")) if name == "inbox.html" else ""
        conversations, offers = await asyncio.gather(
            my_conversations(request, view, chosen), offers_for(request.session["agent_id"])
        )
        return page(
            request,
            name,
            400 if refused else 200,
            conversations=conversations,
            unread=sum(c["unread"] for c in conversations),
            offers=offers,
            # The conversation open beside the list (the conversation page's side list).
            current=request.query_params.get("current", "")[:64],
            view=view,
            views=tuple(VIEWS),
            chosen=chosen,
            channels=channels,
            error=refused or said,
        )

    @login_required
    async def inbox(request: Request) -> Response:
        return await render_inbox(request, "inbox.html")

    @login_required
    async def inbox_list(request: Request) -> Response:
        """The list alone, for a live page to swap in when a notice says it changed."""
        return await render_inbox(request, "_conversation_list.html")

    @login_required
    async def search(request: Request) -> Response:
        """Full-text search over messages and notes, only in the conversations the agent may see."""
        query = request.query_params.get("q", "").strip()[:200]
        results: list[dict[str, Any]] = []
        error = ""
        if query:
            try:
                found = await backends.conversations.SearchMessages(
                    # Limited by threading to what this agent may see (a supervisor: everything).
                    conversation_service_pb2.SearchMessagesRequest(query=query, page_size=25)
                )
                results = [_message_view(m) for m in found.messages]
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    raise
                error = exc.details() or "that search cannot be run"
        return page(request, "search.html", query=query, results=results, error=error)

    async def while_signed_in(request: Request, stream: AsyncIterator[str]) -> AsyncIterator[str]:
        """The live feed of a page, ended with a `signed-out` event once its session is (checked at most
        once a second, and at every keep-alive)."""
        loop = asyncio.get_running_loop()
        checked = loop.time()
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for chunk in stream:
                if loop.time() - checked >= 1.0:
                    checked = loop.time()
                    if not await signed_in(request):
                        yield "event: signed-out\ndata: {}\n\n"
                        return
                yield chunk

    @login_required
    async def events(request: Request) -> Response:
        """The agent's live notices (Server-Sent Events); the browser reconnects by itself."""
        agent_id = request.session["agent_id"]
        stream = feed.stream(
            agent_id,
            await backends.teams_of(agent_id),
            # A reconnecting stream says what it saw last; a new one, where its page was rendered.
            request.headers.get("last-event-id") or request.query_params.get("after", "")[:40],
            everything=is_supervisor(request),
        )
        return StreamingResponse(
            while_signed_in(request, stream),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def visible_conversation(request: Request) -> conversation_pb2.Conversation:
        conversation_id = request.path_params["conversation_id"]
        try:
            uuid.UUID(conversation_id)
            got = await backends.conversations.GetConversation(
                conversation_service_pb2.GetConversationRequest(conversation_id=conversation_id)
            )
        except (ValueError, grpc.aio.AioRpcError) as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            raise HTTPException(404, "no such conversation") from None
        # Someone else's conversation looks exactly like a missing one.
        agent_id = request.session["agent_id"]
        found = got.conversation
        teams = await backends.teams_of(agent_id)
        participants = tuple(found.participant_agent_ids)
        if not is_supervisor(request) and not may_view(
            agent_id, teams, found.assignee_agent_id, found.team, participants
        ):
            raise HTTPException(404, "no such conversation")
        return got.conversation

    async def summary_now(conversation: conversation_pb2.Conversation) -> dict[str, Any] | None:
        """A summary of the conversation as it stands, when the agent asks for one."""
        got = await backends.conversations.SummarizeConversation(
            conversation_service_pb2.SummarizeConversationRequest(conversation_id=conversation.conversation_id)
        )
        return summary_view(got.summary)

    async def no_summary() -> None:
        return None

    async def timeline_of(conversation: conversation_pb2.Conversation) -> dict[str, Any]:
        """The timeline's messages and, pinned above them, the latest handoff summary."""
        listed = await backends.conversations.ListMessages(
            conversation_service_pb2.ListMessagesRequest(conversation_id=conversation.conversation_id, page_size=200)
        )
        return {"messages": [_message_view(m) for m in listed.messages], "summary": pinned_summary(listed.messages)}

    @login_required
    async def retry(request: Request) -> Response:
        """Send a failed reply again: a new reply with the same text (its own delivery, its own status)."""

        async def call(found: conversation_pb2.Conversation, form: dict[str, str]) -> object:
            listed = await backends.conversations.ListMessages(
                conversation_service_pb2.ListMessagesRequest(conversation_id=found.conversation_id, page_size=200)
            )
            failed = next((m for m in listed.messages if m.message_id == form.get("message_id")), None)
            if failed is None or failed.direction != message_pb2.DIRECTION_OUTBOUND:
                raise InvalidInput("that reply is not in this conversation")
            return await backends.conversations.SendReply(
                conversation_service_pb2.SendReplyRequest(
                    conversation_id=found.conversation_id,
                    agent_id=request.session["agent_id"],
                    text=failed.text,
                    client_reply_id=form.get("client_reply_id", ""),
                )
            )

        return await act(request, call)

    @login_required
    async def set_presence(request: Request) -> Response:
        """Available, away or offline, from the header; routing offers conversations to the available."""
        form = await form_with_csrf(request)
        chosen = form.get("presence", "")
        if chosen not in PRESENCES:
            raise HTTPException(400, "choose available, away or offline")
        await backends.routing.SetPresence(
            routing_service_pb2.SetPresenceRequest(agent_id=request.session["agent_id"], presence=PRESENCES[chosen])
        )
        request.session["presence"] = chosen
        return RedirectResponse(local_path(form.get("back", "/")), status_code=303)

    async def assignment_reason(conversation_id: str, agent_id: str) -> str:
        """Why routing gave this conversation to this agent, in routing's own words."""
        try:
            explained = await backends.routing.ExplainAssignment(
                routing_service_pb2.ExplainAssignmentRequest(conversation_id=conversation_id)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return ""
        mine = next((c for c in explained.candidates if c.agent_id == agent_id and c.chosen), None)
        reason = mine.reason if mine else explained.assignment.reason
        rule = f" (rule {explained.rule_id})" if explained.rule_id else ""
        return f"{reason}{rule}" if reason else ""

    async def transfer_targets(me: str) -> dict[str, list[str]]:
        """Who a conversation can go to: the other agents, and every team."""
        listed = await backends.routing.ListAgents(routing_service_pb2.ListAgentsRequest())
        return _targets(listed.agents, me)

    @login_required
    async def transfer(request: Request) -> Response:
        """To another agent, or back to a team's queue, with a note for whoever takes it next."""

        async def call(found: conversation_pb2.Conversation, form: dict[str, str]) -> object:
            kind, _, name = form.get("to", "").partition(":")
            if kind not in ("agent", "team") or not name:
                raise InvalidInput("choose an agent or a team")
            return await backends.routing.TransferConversation(
                routing_service_pb2.TransferConversationRequest(
                    conversation_id=found.conversation_id,
                    agent_id=request.session["agent_id"],
                    to_agent_id=name if kind == "agent" else "",
                    to_team=name if kind == "team" else "",
                    note=form.get("note", "")[:2000],
                )
            )

        # It is someone else's now: back to the list (or to the supervisor view it was moved from).
        return await act(request, call, done="/")

    async def draft_from(request: Request, conversation: conversation_pb2.Conversation, teams: tuple[str, ...]) -> str:
        """The reply box's text: a canned response the agent chose (`?canned=`), filled in for this customer."""
        chosen = request.query_params.get("canned", "")
        found = await store.canned(chosen) if chosen else None
        if found is None or not may_use_canned(found, teams):
            return ""
        return filled(found.text, first_name_of(conversation.customer_label), request.session["agent_id"])

    async def contact_panel(conversation: conversation_pb2.Conversation) -> dict[str, Any]:
        """Who the customer is and what came before, beside the conversation."""
        profile = await backends.conversations.GetCustomerProfile(
            conversation_service_pb2.GetCustomerProfileRequest(customer_id=conversation.customer_id)
        )
        earlier = await backends.conversations.ListConversations(
            conversation_service_pb2.ListConversationsRequest(customer_id=conversation.customer_id, page_size=20)
        )
        return _profile_view(profile.profile, conversation, list(earlier.conversations))

    async def render_canned(request: Request, error: str = "") -> Response:
        """The canned responses the agent's teams share, and a form for a new one."""
        teams = await backends.teams_of(request.session["agent_id"])
        responses = await store.canned_for(teams)
        return page(request, "canned.html", 400 if error else 200, responses=responses, teams=teams, error=error)

    @login_required
    async def canned_page(request: Request) -> Response:
        return await render_canned(request)

    @login_required
    async def add_canned(request: Request) -> Response:
        form = await form_with_csrf(request)
        agent_id = request.session["agent_id"]
        teams = await backends.teams_of(agent_id)
        team = form.get("team", "")
        try:
            title, text = validate_canned(form.get("title", ""), form.get("text", ""), team, teams)
        except InvalidInput as exc:
            return await render_canned(request, error=str(exc))
        await store.add_canned(CannedResponse(uuid.uuid4().hex, team, title, text, agent_id), int(time.time() * 1e6))
        return RedirectResponse("/canned", status_code=303)

    @login_required
    async def delete_canned(request: Request) -> Response:
        await form_with_csrf(request)
        found = await store.canned(request.path_params["response_id"])
        teams = await backends.teams_of(request.session["agent_id"])
        if found is None or not may_use_canned(found, teams):
            raise HTTPException(404, "no such canned response")
        await store.delete_canned(found.response_id)
        return RedirectResponse("/canned", status_code=303)

    read_writes: set[asyncio.Task[None]] = set()

    def mark_read(agent_id: str, conversation: conversation_pb2.Conversation) -> None:
        """The agent has seen the conversation as it is now. Written beside the response, not before it:
        the write waits for the disk, and a read marker lost in a crash costs a bold row, nothing more."""

        async def write() -> None:
            try:
                seen = await store.read_counts(agent_id, [conversation.conversation_id])
                if seen.get(conversation.conversation_id, -1) < conversation.message_count:
                    await store.mark_read(agent_id, conversation.conversation_id, conversation.message_count)
            except Exception as exc:  # a UI marker: logged, never the page's failure
                log.warning("read_marker_failed", conversation_id=conversation.conversation_id, error=repr(exc))

        task = asyncio.create_task(write())
        read_writes.add(task)
        task.add_done_callback(read_writes.discard)

    async def render_conversation(
        request: Request, conversation: conversation_pb2.Conversation, error: str = ""
    ) -> Response:
        me = request.session["agent_id"]
        mark_read(me, conversation)
        teams = await backends.teams_of(me)
        # Independent reads, all side by side.
        rest = asyncio.gather(transfer_targets(me), store.canned_for(teams), draft_from(request, conversation, teams))
        mine, timeline, customer, why_mine, fresh_summary = await asyncio.gather(
            my_conversations(request, "open", ListFilter()),
            timeline_of(conversation),
            contact_panel(conversation),
            assignment_reason(conversation.conversation_id, me),
            summary_now(conversation) if request.query_params.get("summary") == "now" else no_summary(),
        )
        targets, canned, draft = await rest
        for row in mine:  # the one open here is read, whether or not its marker is on disk yet
            row["unread"] = row["unread"] and row["conversation_id"] != conversation.conversation_id
        return page(
            request,
            "conversation.html",
            400 if error else 200,
            conversation=_conversation_view(conversation),
            tags=list(conversation.tags),
            **timeline,
            fresh_summary=fresh_summary,
            customer=customer,
            why_mine=why_mine,
            targets=targets,
            reply_channels=await backends.reply_channels(),
            canned=canned,
            draft=draft,
            client_reply_id=uuid.uuid4().hex,
            client_note_id=uuid.uuid4().hex,
            error=error,
            # The agent's open conversations beside this one.
            conversations=mine,
            unread=sum(c["unread"] for c in mine),
            offers=[],
            view="open",
            current=conversation.conversation_id,
        )

    async def act(
        request: Request,
        call: Callable[[conversation_pb2.Conversation, dict[str, str]], Awaitable[object]],
        done: str = "",
    ) -> Response:
        """A change an agent makes from the conversation page: done (back to the form's `back`, to `done`,
        or to the page), or the page again with the reason the service gave (opted out, at capacity...)."""
        form = await form_with_csrf(request)
        found = await visible_conversation(request)
        try:
            await call(found, form)
        except grpc.aio.AioRpcError as exc:
            refused = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
            if exc.code() not in refused:
                raise
            return await render_conversation(request, found, error=exc.details() or "that was refused")
        except InvalidInput as exc:
            return await render_conversation(request, found, error=str(exc))
        done = local_path(form["back"]) if form.get("back") else done
        return RedirectResponse(done or f"/conversations/{found.conversation_id}", status_code=303)

    @login_required
    async def answer_offer(request: Request) -> Response:
        """Accept (then open it) or decline a conversation routing offered to the agent."""
        form = await form_with_csrf(request)
        conversation_id, answer = request.path_params["conversation_id"], form.get("answer", "")
        try:
            uuid.UUID(conversation_id)
        except ValueError:
            raise HTTPException(404, "no such conversation") from None
        if answer not in ("accept", "decline"):
            raise HTTPException(400, "answer accept or decline")
        me = request.session["agent_id"]
        try:
            if answer == "accept":
                await backends.routing.AcceptOffer(
                    routing_service_pb2.AcceptOfferRequest(conversation_id=conversation_id, agent_id=me)
                )
            else:
                await backends.routing.DeclineOffer(
                    routing_service_pb2.DeclineOfferRequest(conversation_id=conversation_id, agent_id=me)
                )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                raise
            request.session["flash"] = f"That offer is no longer yours: {exc.details() or 'it lapsed'}"
            return RedirectResponse("/", status_code=303)
        log.info("offer_answered", conversation_id=conversation_id, answer=answer)
        if answer == "accept":
            await assigned_soon(conversation_id, me)
        return RedirectResponse(f"/conversations/{conversation_id}" if answer == "accept" else "/", status_code=303)

    async def assigned_soon(conversation_id: str, agent_id: str, attempts: int = 60) -> None:
        """Wait, briefly, until threading too has the accepted conversation as the agent's: routing has the
        assignment at once, threading a moment later (its event), and the page opened in between would
        not be theirs yet (404). Gives up after about 3 s; the page then shows what threading has."""
        for _ in range(attempts):
            try:
                got = await backends.conversations.GetConversation(
                    conversation_service_pb2.GetConversationRequest(conversation_id=conversation_id)
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    return
            else:
                if got.conversation.assignee_agent_id == agent_id:
                    return
            await asyncio.sleep(0.05)

    @login_required
    async def add_note(request: Request) -> Response:
        """A private note; the agents it mentions (`@bob`) get the conversation shared with them."""

        async def call(found: conversation_pb2.Conversation, form: dict[str, str]) -> object:
            me, text = request.session["agent_id"], form.get("text", "")
            noted = await backends.conversations.AddNote(
                conversation_service_pb2.AddNoteRequest(
                    conversation_id=found.conversation_id,
                    agent_id=me,
                    text=text,
                    client_note_id=form.get("client_note_id", ""),
                )
            )
            if "@" in text:
                agents = await backends.routing.ListAgents(routing_service_pb2.ListAgentsRequest())
                sharing = (found.assignee_agent_id, *found.participant_agent_ids)
                for mentioned in mentions_in(text, (a.agent_id for a in agents.agents), me, sharing):
                    await backends.conversations.AddParticipant(
                        conversation_service_pb2.AddParticipantRequest(
                            conversation_id=found.conversation_id, participant_agent_id=mentioned, agent_id=me
                        )
                    )
            return noted

        return await act(request, call)

    @login_required
    async def update_tags(request: Request) -> Response:
        async def call(found: conversation_pb2.Conversation, form: dict[str, str]) -> object:
            return await backends.conversations.UpdateTags(
                conversation_service_pb2.UpdateTagsRequest(
                    conversation_id=found.conversation_id,
                    agent_id=request.session["agent_id"],
                    add=tags_in(form.get("add", "")),
                    remove=tags_in(form.get("remove", "")),
                )
            )

        return await act(request, call)

    @login_required
    async def set_status(request: Request) -> Response:
        async def call(found: conversation_pb2.Conversation, form: dict[str, str]) -> object:
            status, snoozed_until = status_request(form.get("status", ""), form.get("snooze_hours", ""), time.time())
            set_request = conversation_service_pb2.SetStatusRequest(
                conversation_id=found.conversation_id, agent_id=request.session["agent_id"], status=status
            )
            if snoozed_until:
                set_request.snoozed_until.FromSeconds(snoozed_until)
            return await backends.conversations.SetStatus(set_request)

        return await act(request, call)

    @login_required
    async def timeline(request: Request) -> Response:
        """The conversation's timeline alone, for a live page to swap in (the agent has it open: read)."""
        found = await visible_conversation(request)
        mark_read(request.session["agent_id"], found)
        return page(request, "_timeline.html", conversation=_conversation_view(found), **await timeline_of(found))

    @login_required
    async def customer_facts(request: Request) -> Response:
        """Who the customer is, who has the conversation and why, and what came before: the contact
        panel's facts alone, for a live page to swap in (a new channel, a transfer, a mention)."""
        found = await visible_conversation(request)
        return page(
            request,
            "_customer.html",
            conversation=_conversation_view(found),
            customer=await contact_panel(found),
            why_mine=await assignment_reason(found.conversation_id, request.session["agent_id"]),
        )

    @login_required
    async def history(request: Request) -> Response:
        """Everything the customer and the agents said to each other, on every channel and in every
        conversation, oldest first (private notes stay in their own conversation)."""
        found = await visible_conversation(request)
        token = request.query_params.get("page", "")[:200]
        try:
            got = await backends.conversations.GetTimeline(
                conversation_service_pb2.GetTimelineRequest(
                    customer_id=found.customer_id, page_size=100, page_token=token, exclude_notes=True
                )
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            raise HTTPException(400, "that page of the history does not exist") from None
        return page(
            request,
            "history.html",
            conversation=_conversation_view(found),
            customer=await contact_panel(found),
            items=[_message_view(m) for m in got.items],
            next_page=got.next_page_token,
        )

    @login_required
    async def conversation(request: Request) -> Response:
        return await render_conversation(request, await visible_conversation(request))

    @login_required
    async def reply(request: Request) -> Response:
        async def call(found: conversation_pb2.Conversation, form: dict[str, str]) -> object:
            return await backends.conversations.SendReply(
                conversation_service_pb2.SendReplyRequest(
                    conversation_id=found.conversation_id,
                    agent_id=request.session["agent_id"],
                    text=form.get("text", ""),
                    client_reply_id=form.get("client_reply_id", ""),
                    channel_name=reply_channel(form.get("channel", "")),
                )
            )

        return await act(request, call)

    def supervisors_only(handler: Handler) -> Handler:
        """A page for supervisors; to anyone else it does not exist."""

        @login_required
        async def wrapper(request: Request) -> Response:
            if not is_supervisor(request):
                raise HTTPException(404, "not found")
            return await handler(request)

        return wrapper

    async def render_floor(request: Request, name: str) -> Response:
        """The queues, every agent's presence and load, and the open conversations with who has them."""
        stats, agents, listed, scores, follow_ups = await asyncio.gather(
            backends.routing.GetQueueStats(routing_service_pb2.GetQueueStatsRequest()),
            backends.routing.ListAgents(routing_service_pb2.ListAgentsRequest()),
            backends.conversations.ListConversations(
                conversation_service_pb2.ListConversationsRequest(
                    statuses=[conversation_pb2.CONVERSATION_STATUS_OPEN], page_size=LIST_LENGTH
                )
            ),
            backends.conversations.GetSatisfactionScores(conversation_service_pb2.GetSatisfactionScoresRequest()),
            backends.conversations.ListConversations(
                conversation_service_pb2.ListConversationsRequest(tag=FOLLOW_UP_TAG, page_size=LIST_LENGTH)
            ),
        )
        now_s = time.time()
        return page(
            request,
            name,
            queues=[_queue_view(q) for q in stats.teams],
            totals=_queue_view(
                routing_service_pb2.TeamQueue(
                    team="all",
                    waiting=stats.waiting,
                    longest_wait_seconds=stats.longest_wait_seconds,
                    agents_available=sum(a.presence == routing_service_pb2.PRESENCE_AVAILABLE for a in agents.agents),
                    sla_breaches=stats.sla_breaches,
                )
            ),
            agents=sorted((_agent_view(a, now_s) for a in agents.agents), key=lambda a: a["agent_id"]),
            conversations=[_conversation_view(c, now_s) for c in floor_order(list(listed.conversations))],
            targets=_targets(agents.agents, ""),  # the agents listed above: one call, not two
            satisfaction={
                "overall": _score_view(scores.overall),
                "agents": [_score_view(line) for line in scores.agents],
                "teams": [_score_view(line) for line in scores.teams],
            },
            follow_ups=[_conversation_view(c, now_s) for c in follow_ups.conversations],
        )

    @supervisors_only
    async def floor(request: Request) -> Response:
        return await render_floor(request, "supervisor.html")

    @supervisors_only
    async def floor_board(request: Request) -> Response:
        """The supervisor view's board alone, for the live page to swap in."""
        return await render_floor(request, "_floor.html")

    @supervisors_only
    async def follow_up_done(request: Request) -> Response:
        """A supervisor closes a follow-up: the tag goes, and a note says who closed it and what was done."""

        async def call(found: conversation_pb2.Conversation, form: dict[str, str]) -> object:
            me = request.session["agent_id"]
            done = form.get("note", "").strip()
            await backends.conversations.AddNote(
                conversation_service_pb2.AddNoteRequest(
                    conversation_id=found.conversation_id,
                    agent_id=me,
                    text=f"Follow-up done by {me}" + (f": {done}" if done else ""),
                    client_note_id=form.get("client_note_id", ""),
                )
            )
            return await backends.conversations.UpdateTags(
                conversation_service_pb2.UpdateTagsRequest(
                    conversation_id=found.conversation_id, agent_id=me, remove=[FOLLOW_UP_TAG]
                )
            )

        return await act(request, call)

    async def render_outreach(request: Request, document: str = "", error: str = "") -> Response:
        got = await backends.outreach.GetOutreachPolicy(outreach_service_pb2.GetOutreachPolicyRequest())
        return page(
            request,
            "outreach.html",
            400 if error else 200,
            document=document or got.document,
            version=got.version,
            error=error,
        )

    @supervisors_only
    async def outreach_rules(request: Request) -> Response:
        """The contact-pressure and nudge rules, as the JSON document OutreachService keeps, to read and change."""
        return await render_outreach(request)

    @supervisors_only
    async def save_outreach_rules(request: Request) -> Response:
        form = await form_with_csrf(request)
        document = form.get("document", "")
        try:
            await backends.outreach.UpdateOutreachPolicy(
                outreach_service_pb2.UpdateOutreachPolicyRequest(document=document)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            return await render_outreach(request, document, exc.details() or "the rules were refused")
        return RedirectResponse("/supervisor/outreach", status_code=303)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return Response(exc.detail, status_code=exc.status_code, media_type="text/plain; charset=utf-8")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/", inbox),
            Route("/partials/conversations", inbox_list),
            Route("/events", events),
            Route("/search", search),
            Route("/presence", set_presence, methods=["POST"]),
            Route("/supervisor", floor),
            Route("/supervisor/partials/board", floor_board),
            Route("/supervisor/outreach", outreach_rules, methods=["GET"]),
            Route("/supervisor/outreach", save_outreach_rules, methods=["POST"]),
            Route("/canned", canned_page, methods=["GET"]),
            Route("/canned", add_canned, methods=["POST"]),
            Route("/canned/{response_id}/delete", delete_canned, methods=["POST"]),
            Route("/conversations/{conversation_id}", conversation, methods=["GET"]),
            Route("/conversations/{conversation_id}/partials/timeline", timeline),
            Route("/conversations/{conversation_id}/partials/customer", customer_facts),
            Route("/conversations/{conversation_id}/history", history),
            Route("/conversations/{conversation_id}/reply", reply, methods=["POST"]),
            Route("/conversations/{conversation_id}/note", add_note, methods=["POST"]),
            Route("/conversations/{conversation_id}/offer", answer_offer, methods=["POST"]),
            Route("/conversations/{conversation_id}/retry", retry, methods=["POST"]),
            Route("/conversations/{conversation_id}/transfer", transfer, methods=["POST"]),
            Route("/conversations/{conversation_id}/tags", update_tags, methods=["POST"]),
            Route("/conversations/{conversation_id}/status", set_status, methods=["POST"]),
            Route("/conversations/{conversation_id}/follow-up", follow_up_done, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders, https=secure_cookies),
            Middleware(
                SessionMiddleware,
                secret_key=session_secret,
                session_cookie="inbox_session",
                max_age=session_hours * 3600,
                same_site="strict",
                https_only=secure_cookies,
            ),
        ],
        exception_handlers={HTTPException: http_error},
    )
