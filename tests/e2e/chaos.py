"""Crashes under load: real processes on one nats-server, customers writing over the API, SMS and chat
channels and retrying as providers and widgets do, `kill -9` of each service in turn and of nats-server
while they write, then agents' replies while channels and threading are killed. Then the checks: every
accepted item stored once and in order, one active conversation per customer, no agent over capacity,
every reply at the provider exactly once, no dead letters, every service SERVING again by itself.

A supervisor (systemd, Kubernetes) restarts a killed process; here the driver does, at once. What is
measured (recovery times) is printed, never asserted: the machine's speed varies.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import grpc
import httpx
import nats
import websockets
from inbox.conversations.v1 import conversation_pb2, conversation_service_pb2, conversation_service_pb2_grpc
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.providers import TwilioApi
from inbox_devstack.suite import SERVICES, LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel
from inbox_runtime.signing import sign
from twilio.request_validator import RequestValidator

CHANNELS = ("api", "sms", "chat")
CHANNEL_ENUM = {"api": message_pb2.CHANNEL_API, "sms": message_pb2.CHANNEL_SMS, "chat": message_pb2.CHANNEL_CHAT}
# What is killed while customers write, in this order, and, while agents reply, what the replies cross.
KILLED_UNDER_LOAD = ("threading", "routing", "translation", "channels", "inbox-web", "nats-server")
KILLED_UNDER_REPLIES = ("channels", "threading")
# How long one item may take, retries included, before the run is called stuck.
ITEM_DEADLINE_SECONDS = 180.0
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}
RETRYABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}


@dataclass(frozen=True)
class Scale:
    customers: int
    items_per_customer: int
    replies: int
    agents: int
    # Each agent's seats on each channel: fewer than the customers, so some wait in a queue.
    seats_per_channel: int
    # Customers writing at the same time.
    concurrency: int


SCALES = {
    # `make test`: every kill, a few hundred items.
    "short": Scale(customers=90, items_per_customer=3, replies=24, agents=6, seats_per_channel=4, concurrency=30),
    # `make chaos`: the figure, several thousand items from about a thousand customers.
    "full": Scale(customers=999, items_per_customer=4, replies=240, agents=20, seats_per_channel=12, concurrency=120),
}


def scale_from_env() -> tuple[str, Scale]:
    name = os.environ.get("CHAOS_SCALE", "short")
    if name not in SCALES:
        raise ValueError(f"CHAOS_SCALE: {name!r} is not one of {sorted(SCALES)}")
    return name, SCALES[name]


@dataclass(frozen=True)
class Customer:
    index: int
    channel: str

    @property
    def key(self) -> str:
        return f"chaos{self.index:04d}"

    @property
    def phone(self) -> str:
        return f"+1415555{2000 + self.index:04d}"

    def text(self, n: int) -> str:
        return f"{self.key} item {n}"


@dataclass
class Accepted:
    customer: Customer
    n: int
    first_attempt_at: float
    accepted_at: float
    attempts: int


@dataclass
class Recovery:
    target: str
    killed_at: float
    # Until the restarted process answers (gRPC health SERVING, /healthz, or nats-server's port).
    back_after: float
    # Until the first item sent after the kill was accepted (None: none was sent after it).
    accepting_after: float | None = None


@dataclass
class Report:
    accepted: list[Accepted] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    replies_sent: int = 0
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)


class Load:
    """Customers writing, each item after the last was accepted, each retried until it is. `entry_points`:
    the channels replicas' base URLs, taken in turn, and the next one on a retry, as a load balancer in front
    of them would (the suite's one channels service unless told)."""

    def __init__(
        self,
        suite: LocalSuite,
        api_secret: str,
        twilio_auth_token: str,
        our_number: str,
        base: str,
        entry_points: list[str] | None = None,
    ):
        self._api_secret = api_secret
        self._validator = RequestValidator(twilio_auth_token)
        self._our_number = our_number
        self._public_base = base
        bases = entry_points or [f"http://127.0.0.1:{suite.ports.channels_http}"]
        self._clients = [httpx.AsyncClient(base_url=b, timeout=15) for b in bases]
        self._turn = itertools.count()
        self.accepted: list[Accepted] = []
        # Why tries were not accepted: "HTTP 503", "ConnectError"...
        self.refusals: Counter[str] = Counter()
        # Awaited before each item is sent, with how many were accepted so far.
        self.before_send: Callable[[int], Awaitable[None]] | None = None

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()

    def _entry_points(self) -> Iterator[httpx.AsyncClient]:
        """The entry points for one item's tries: the next in turn first, then each other one in order."""
        first = next(self._turn)
        return (self._clients[(first + k) % len(self._clients)] for k in itertools.count())

    async def run(self, customers: list[Customer], items: int, concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(customer: Customer) -> None:
            async with gate:
                if customer.channel == "chat":
                    await self._chat(customer, items)
                else:
                    for n in range(items):
                        await self._next()
                        await self._webhook(customer, n)

        async with asyncio.TaskGroup() as group:
            for customer in customers:
                group.create_task(one(customer))

    def _accept(self, customer: Customer, n: int, first_attempt_at: float, attempts: int) -> None:
        self.accepted.append(Accepted(customer, n, first_attempt_at, time.monotonic(), attempts))

    async def _next(self) -> None:
        if self.before_send is not None:
            await self.before_send(len(self.accepted))

    async def _webhook(self, customer: Customer, n: int) -> None:
        """One item by webhook, retried as the provider does: after Retry-After, or a short backoff when the
        service cannot be reached or answered 5xx; the same provider id every time."""
        started = time.monotonic()
        entry_points = self._entry_points()
        for attempt in range(1, 10_000):
            if time.monotonic() - started > ITEM_DEADLINE_SECONDS:
                raise AssertionError(f"{customer.text(n)} over {customer.channel}: not accepted after {attempt} tries")
            try:
                http = next(entry_points)
                response = await (
                    self._api(http, customer, n) if customer.channel == "api" else self._sms(http, customer, n)
                )
            except httpx.TransportError as exc:
                self.refusals[type(exc).__name__] += 1
                await asyncio.sleep(min(0.1 * attempt, 1.0))
                continue
            if 200 <= response.status_code < 300:
                self._accept(customer, n, started, attempt)
                return
            self.refusals[f"HTTP {response.status_code}"] += 1
            if response.status_code not in RETRYABLE_STATUSES:
                raise AssertionError(
                    f"{customer.text(n)} over {customer.channel}: {response.status_code} {response.text[:200]}"
                )
            await asyncio.sleep(min(float(response.headers.get("retry-after", "0.2")), 2.0))
        raise AssertionError("unreachable")

    def _api(self, http: httpx.AsyncClient, customer: Customer, n: int) -> Awaitable[httpx.Response]:
        body = json.dumps(
            {"id": f"{customer.key}-{n}", "from": customer.key, "name": customer.key, "text": customer.text(n)}
        ).encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "x-inbox-timestamp": str(stamp),
            "x-inbox-signature": sign(self._api_secret, stamp, body),
        }
        return http.post("/webhooks/api/messages", content=body, headers=headers)

    def _sms(self, http: httpx.AsyncClient, customer: Customer, n: int) -> Awaitable[httpx.Response]:
        params = {
            "MessageSid": f"SM{customer.index:06d}{n:026d}",
            "From": customer.phone,
            "To": self._our_number,
            "Body": customer.text(n),
        }
        signature = self._validator.compute_signature(self._public_base + "/webhooks/sms", params)
        return http.post("/webhooks/sms", data=params, headers={"X-Twilio-Signature": signature})

    async def _chat(self, customer: Customer, items: int) -> None:
        """A visitor's widget: one socket, reopened with the visitor's token whenever it drops; an item not
        yet accepted is sent again (same client message id), after the wait an error frame names."""
        token = ""
        n = 0
        await self._next()
        started = time.monotonic()
        attempts = 0
        while n < items:
            if time.monotonic() - started > ITEM_DEADLINE_SECONDS:
                raise AssertionError(f"{customer.text(n)} over chat: not accepted after {attempts} tries")
            url = str(next(self._entry_points()).base_url.copy_with(scheme="ws", path="/chat/ws"))
            try:
                async with websockets.connect(url, open_timeout=10) as ws:
                    await ws.send(json.dumps({"type": "hello", "visitor_token": token, "name": customer.key}))
                    welcome = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    assert welcome["type"] == "welcome", welcome
                    token = welcome["visitor_token"]
                    while n < items:
                        attempts += 1
                        frame = {"type": "message", "client_message_id": f"c{n}", "text": customer.text(n)}
                        await ws.send(json.dumps(frame))
                        answer = await self._chat_answer(ws, f"c{n}")
                        if answer["type"] == "accepted":
                            self._accept(customer, n, started, attempts)
                            n += 1
                            if n < items:
                                await self._next()
                            started, attempts = time.monotonic(), 0
                        elif answer.get("code") in ("unavailable", "rate_limited"):
                            await asyncio.sleep(min(float(answer.get("retry_after") or 0.2), 2.0))
                        else:
                            raise AssertionError(f"{customer.text(n)} over chat: {answer}")
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
                await asyncio.sleep(0.2)

    @staticmethod
    async def _chat_answer(ws: websockets.ClientConnection, client_message_id: str) -> dict[str, object]:
        """The answer to the frame just sent; the agent's messages and queue notices are not it."""
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame["type"] == "accepted" and frame.get("client_message_id") == client_message_id:
                return dict(frame)
            if frame["type"] == "error":
                return dict(frame)


class Monkey:
    """Kills one target each time the work done passes its mark, and has it back at once, as a supervisor
    would. The work goes on while a target is down, up to the next mark: there it waits for the kill in
    progress to be over, so every kill meets work in flight however fast the machine is."""

    def __init__(self, suite: LocalSuite, targets: tuple[str, ...], total: int, report: Report) -> None:
        step = total / (len(targets) + 1)
        self._marks = [(round(step * (i + 1)), target) for i, target in enumerate(targets)]
        self._suite = suite
        self._report = report
        self._current: asyncio.Task[None] | None = None
        self._kills: list[asyncio.Task[None]] = []

    async def gate(self, done: int) -> None:
        """Called before each piece of work, with how much is done."""
        while self._marks and done >= self._marks[0][0]:
            if self._current is not None and not self._current.done():
                await asyncio.shield(self._current)
                continue
            _, target = self._marks.pop(0)
            self._current = asyncio.create_task(self._kill(target))
            self._kills.append(self._current)
            return

    async def finish(self) -> None:
        await asyncio.gather(*self._kills)

    async def _kill(self, target: str) -> None:
        killed_at = time.monotonic()
        await asyncio.to_thread(kill_and_restart, self._suite, target)
        self._report.recoveries.append(Recovery(target, killed_at, time.monotonic() - killed_at))


def kill_and_restart(suite: LocalSuite, target: str) -> None:
    if target == "nats-server":
        assert suite.nats is not None
        suite.nats.kill()
        suite.nats.start()  # the same port and store: what JetStream fsynced is all there
        return
    service = next(s for s in SERVICES if s.name == target)
    code = suite.stop_service(target, signal.SIGKILL)
    assert code == -signal.SIGKILL, f"{target} had already exited ({code}) before it was killed"
    suite.start_service(service)
    suite.wait_ready(service)


def accepting_again(recoveries: list[Recovery], accepted: list[Accepted]) -> None:
    for recovery in recoveries:
        after = [a.accepted_at for a in accepted if a.first_attempt_at >= recovery.killed_at]
        recovery.accepting_after = min(after) - recovery.killed_at if after else None


async def add_agents(routing: routing_service_pb2_grpc.RoutingServiceStub, scale: Scale) -> None:
    for i in range(scale.agents):
        capacities = [
            routing_service_pb2.ChannelCapacity(channel=CHANNEL_ENUM[c], capacity=scale.seats_per_channel)
            for c in CHANNELS
        ]
        agent_id = f"chaos-agent-{i}"
        await routing.UpsertAgent(
            routing_service_pb2.UpsertAgentRequest(agent_id=agent_id, display_name=f"Agent {i}", capacities=capacities)
        )
        await routing.SetPresence(
            routing_service_pb2.SetPresenceRequest(agent_id=agent_id, presence=routing_service_pb2.PRESENCE_AVAILABLE)
        )


async def settled(suite: LocalSuite) -> bool:
    """Every durable consumer of every stream has handled and acked everything stored so far."""
    nc = await nats.connect(servers=suite.nats_url.split(","))
    try:
        js = nc.jetstream()
        for stream in await js.streams_info():
            for consumer in await js.consumers_info(stream.config.name):
                if consumer.config.durable_name and (consumer.num_pending or consumer.num_ack_pending):
                    return False
        return True
    finally:
        await nc.close()


async def dead_letters(suite: LocalSuite) -> int:
    nc = await nats.connect(servers=suite.nats_url.split(","))
    try:
        info = await nc.jetstream().stream_info("DEADLETTER")
        return int(info.state.messages)
    finally:
        await nc.close()


async def every_conversation(
    stub: conversation_service_pb2_grpc.ConversationServiceStub,
) -> list[conversation_pb2.Conversation]:
    found: list[conversation_pb2.Conversation] = []
    token = ""
    while True:
        page = await stub.ListConversations(
            conversation_service_pb2.ListConversationsRequest(page_size=200, page_token=token)
        )
        found.extend(page.conversations)
        token = page.next_page_token
        if not token:
            return found


async def every_message(
    stub: conversation_service_pb2_grpc.ConversationServiceStub, conversation_id: str
) -> list[conversation_pb2.Message]:
    found: list[conversation_pb2.Message] = []
    token = ""
    while True:
        page = await stub.ListMessages(
            conversation_service_pb2.ListMessagesRequest(
                conversation_id=conversation_id, page_size=200, page_token=token
            )
        )
        found.extend(page.messages)
        token = page.next_page_token
        if not token:
            return found


@dataclass
class Stored:
    conversations: list[conversation_pb2.Conversation]
    # Each conversation's customer items (texts), in the order the conversation holds them.
    texts: dict[str, list[str]]


async def read_back(stub: conversation_service_pb2_grpc.ConversationServiceStub) -> Stored:
    conversations = await every_conversation(stub)
    texts: dict[str, list[str]] = {}
    gate = asyncio.Semaphore(16)

    async def one(conversation_id: str) -> None:
        async with gate:
            messages = await every_message(stub, conversation_id)
        texts[conversation_id] = [
            m.text
            for m in messages
            if m.direction == message_pb2.DIRECTION_INBOUND and m.kind == message_pb2.MESSAGE_KIND_TEXT
        ]

    async with asyncio.TaskGroup() as group:
        for conversation in conversations:
            group.create_task(one(conversation.conversation_id))
    return Stored(conversations, texts)


def stored_problems(customers: list[Customer], items: int, stored: Stored) -> tuple[Counter[str], list[str]]:
    """Counts of what was found, and a line for each thing that breaks the promise."""
    counts: Counter[str] = Counter()
    problems: list[str] = []
    by_customer: dict[str, list[str]] = defaultdict(list)
    active: Counter[str] = Counter()
    for conversation in stored.conversations:
        if conversation.status != conversation_pb2.CONVERSATION_STATUS_RESOLVED:
            active[conversation.customer_id] += 1
        by_customer[conversation.customer_id].extend(stored.texts[conversation.conversation_id])
    for customer_id, count in active.items():
        if count > 1:
            problems.append(f"customer {customer_id} has {count} active conversations")
    counts["active conversations"] = sum(active.values())
    counts["customers with more than one active conversation"] = sum(1 for c in active.values() if c > 1)
    every_text = Counter(text for texts in by_customer.values() for text in texts)
    counts["items stored"] = sum(every_text.values())
    counts["items stored twice or more"] = sum(1 for c in every_text.values() if c > 1)
    expected = {c.key: [c.text(n) for n in range(items)] for c in customers}
    owner = {text: key for key, texts in expected.items() for text in texts}
    for text, count in every_text.items():
        if text not in owner:
            problems.append(f"an item nobody sent: {text!r}")
        elif count > 1:
            problems.append(f"{text!r} stored {count} times")
    for customer_id, texts in by_customer.items():
        keys = {owner.get(text, "?") for text in texts}
        if len(keys) > 1:
            problems.append(f"customer {customer_id} holds items of {sorted(keys)}")
    stored_in_order = {owner[texts[0]]: texts for texts in by_customer.values() if texts and texts[0] in owner}
    missing = out_of_order = 0
    for key, wanted in expected.items():
        got = stored_in_order.get(key, [])
        if sorted(set(got)) != sorted(wanted):
            missing += len(set(wanted) - set(got))
            problems.append(f"{key}: stored {got}, sent {wanted}")
        elif list(dict.fromkeys(got)) != wanted:
            out_of_order += 1
            problems.append(f"{key}: stored in the order {got}, sent {wanted}")
    counts["items missing"] = missing
    counts["customers whose items are out of order"] = out_of_order
    return counts, problems


async def over_capacity(routing: routing_service_pb2_grpc.RoutingServiceStub) -> list[str]:
    agents = await routing.ListAgents(routing_service_pb2.ListAgentsRequest())
    problems = []
    for agent in agents.agents:
        capacity = {c.channel: c.capacity for c in agent.effective_capacities}
        for load in agent.load:
            if load.conversations > capacity.get(load.channel, 0):
                seats = capacity.get(load.channel, 0)
                channel = message_pb2.Channel.Name(load.channel)
                problems.append(f"{agent.agent_id} holds {load.conversations} on {channel}, seats for {seats}")
    return problems


def assigned_over_capacity(conversations: list[conversation_pb2.Conversation], scale: Scale) -> list[str]:
    """The same from the conversations' side: what each agent holds per channel."""
    held: Counter[tuple[str, int]] = Counter(
        (c.assignee_agent_id, c.channel)
        for c in conversations
        if c.assignee_agent_id and c.status != conversation_pb2.CONVERSATION_STATUS_RESOLVED
    )
    return [
        f"{agent} holds {count} on {message_pb2.Channel.Name(channel)}, seats for {scale.seats_per_channel}"
        for (agent, channel), count in held.items()
        if count > scale.seats_per_channel
    ]


async def send_replies(
    stub: conversation_service_pb2_grpc.ConversationServiceStub,
    conversations: list[conversation_pb2.Conversation],
    before_send: Callable[[int], Awaitable[None]],
) -> list[str]:
    """One reply to each conversation, by its assignee, retried with the same client reply id while
    threading is away; the texts sent."""
    gate = asyncio.Semaphore(8)
    sent: list[str] = []

    async def one(k: int, conversation: conversation_pb2.Conversation) -> None:
        text = f"chaos reply {k}"
        request = conversation_service_pb2.SendReplyRequest(
            conversation_id=conversation.conversation_id,
            agent_id=conversation.assignee_agent_id,
            text=text,
            client_reply_id=f"chaos-reply-{k}",
        )
        async with gate:
            await before_send(len(sent))
            started = time.monotonic()
            attempt = 0
            while True:
                attempt += 1
                try:
                    with acting_for(Agent(conversation.assignee_agent_id)):
                        await stub.SendReply(request, timeout=10)
                    break
                except grpc.aio.AioRpcError as error:
                    if error.code() not in RETRYABLE_CODES or time.monotonic() - started > ITEM_DEADLINE_SECONDS:
                        raise AssertionError(f"reply {k}: {error.code()} {error.details()}") from error
                    await asyncio.sleep(min(0.1 * attempt, 1.0))
        sent.append(text)

    async with asyncio.TaskGroup() as group:
        for k, conversation in enumerate(conversations):
            group.create_task(one(k, conversation))
    return sent


def delivered_problems(twilio: TwilioApi, sent: list[str]) -> tuple[Counter[str], list[str]]:
    bodies = Counter(message["Body"] for message in twilio.messages)
    counts: Counter[str] = Counter()
    counts["replies at the provider"] = sum(bodies[text] for text in sent)
    counts["replies at the provider twice or more"] = sum(1 for text in sent if bodies[text] > 1)
    problems = [f"{text!r} reached the provider {bodies[text]} times" for text in sent if bodies[text] != 1]
    return counts, problems


async def all_serving(suite: LocalSuite) -> list[str]:
    """Each service answers health checks again without having been restarted since the last kill."""
    down = []
    for service in SERVICES:
        try:
            await asyncio.to_thread(suite.wait_ready, service, None, 60.0)
        except (TimeoutError, RuntimeError) as error:
            down.append(f"{service.name}: {error}")
    return down


async def write_all(
    load: Load,
    customers: list[Customer],
    scale: Scale,
    gate: Callable[[int], Awaitable[None]],
    finish: Callable[[], Awaitable[None]],
) -> float:
    """Every customer's items, `gate` awaited before each (it may start kills), then `finish` (waits for
    the kills to be over); the seconds the customers took to write."""
    load.before_send = gate
    started = time.monotonic()
    try:
        await load.run(customers, scale.items_per_customer, scale.concurrency)
    finally:
        await load.close()
    await finish()
    return time.monotonic() - started


async def run_chaos(
    suite: LocalSuite,
    twilio: TwilioApi,
    api_secret: str,
    twilio_token: str,
    number: str,
    public_base: str,
    scale: Scale,
) -> tuple[Report, list[str]]:
    """The whole run; the report's lines, and every broken promise (none when all is well)."""
    report = Report()
    problems: list[str] = []
    customers = [Customer(i, CHANNELS[i % len(CHANNELS)]) for i in range(scale.customers)]
    total = scale.customers * scale.items_per_customer
    async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", suite.api_key) as channel:
        await add_agents(routing_service_pb2_grpc.RoutingServiceStub(channel), scale)

    # 1. Customers write while each service, then nats-server, is killed.
    monkey = Monkey(suite, KILLED_UNDER_LOAD, total, report)
    load = Load(suite, api_secret, twilio_token, number, public_base)
    writing = await write_all(load, customers, scale, monkey.gate, monkey.finish)
    accepting_again(report.recoveries, load.accepted)
    await eventually(lambda: settled(suite), 180, what="every consumer settled after the load")

    async with authenticated_channel(f"127.0.0.1:{suite.ports.conversations_grpc}", suite.api_key) as channel:
        conversations = conversation_service_pb2_grpc.ConversationServiceStub(channel)
        stored = await read_back(conversations)

        # 2. Agents answer SMS customers while channels and threading are killed.
        answerable = [c for c in stored.conversations if c.assignee_agent_id and c.channel == message_pb2.CHANNEL_SMS][
            : scale.replies
        ]
        reply_monkey = Monkey(suite, KILLED_UNDER_REPLIES, len(answerable), report)
        sent = await send_replies(conversations, answerable, reply_monkey.gate)
        await reply_monkey.finish()
        report.replies_sent = len(sent)
        await eventually(lambda: settled(suite), 180, what="every consumer settled after the replies")

    # 3. The checks, once nothing is left in flight.
    counts, found = stored_problems(customers, scale.items_per_customer, stored)
    problems += found
    async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", suite.api_key) as channel:
        crowded = await over_capacity(routing_service_pb2_grpc.RoutingServiceStub(channel))
    crowded += assigned_over_capacity(stored.conversations, scale)
    problems += crowded
    reply_counts, found = delivered_problems(twilio, sent)
    problems += found
    dead = await dead_letters(suite)
    if dead:
        problems.append(f"{dead} events dead-lettered")
    problems += await all_serving(suite)

    retried = sum(1 for a in load.accepted if a.attempts > 1)
    report.say(
        f"{len(load.accepted)} of {total} items accepted from {scale.customers} customers "
        f"({', '.join(CHANNELS)}) in {writing:.1f} s; {retried} of them after a retry"
    )
    for name, value in {**counts, **reply_counts}.items():
        report.say(f"{name}: {value}")
    report.say(f"replies sent: {report.replies_sent}; provider requests (retries included): {twilio.requests}")
    report.say(f"agents over capacity: {len(crowded)}")
    report.say(f"dead letters: {dead}")
    for recovery in report.recoveries:
        accepting = (
            f"; an item sent after the kill accepted {recovery.accepting_after:.2f} s after it"
            if recovery.accepting_after is not None
            else ""
        )
        report.say(f"kill -9 {recovery.target}: back in {recovery.back_after:.2f} s{accepting}")
    return report, problems
