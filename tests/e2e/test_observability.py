"""What an operator sees, over real processes: one message's trace across the services, as an OpenTelemetry
collector receives it over OTLP/HTTP, and each service's Prometheus metrics, read as Prometheus reads them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from inbox.conversations.v1 import conversation_service_pb2 as conversations_pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as conversations_grpc
from inbox_devstack.providers import OtlpCollector, ReceivedSpan, WebhookEndpoint
from inbox_devstack.suite import SERVICES, LocalSuite
from inbox_devstack.waiting import eventually
from inbox_runtime.callers import Agent
from inbox_runtime.grpc_client import acting_for, authenticated_channel
from inbox_runtime.signing import sign

from .conftest import make_agent

API_SECRET = "an-api-channel-secret-of-24+"
AGENT = "ada"


@pytest.fixture
async def collector() -> AsyncIterator[OtlpCollector]:
    async with OtlpCollector.serving() as served:
        yield served


@pytest.fixture
async def provider() -> AsyncIterator[WebhookEndpoint]:
    """The integrator's system behind the API channel: replies are POSTed to it."""
    async with WebhookEndpoint.serving() as served:
        yield served


@pytest.fixture
def suite_env(collector: OtlpCollector, provider: WebhookEndpoint) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        # Spans leave each process every 100 ms rather than every 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "CHANNELS_API_SECRET": API_SECRET,
        "CHANNELS_API_CALLBACK_URL": provider.url,
    }


async def post_api_message(suite: LocalSuite, message_id: str, text: str) -> httpx.Response:
    body = json.dumps({"id": message_id, "from": "customer-7", "name": "Grace", "text": text}).encode()
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "x-inbox-timestamp": str(stamp),
        "x-inbox-signature": sign(API_SECRET, stamp, body),
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{suite.ports.channels_http}") as http:
        return await http.post("/webhooks/api/messages", content=body, headers=headers)


async def named(collector: OtlpCollector, name: str) -> ReceivedSpan | None:
    return next((s for s in collector.spans if s.name == name), None)


async def child_of(collector: OtlpCollector, parent: ReceivedSpan, service: str, name: str) -> ReceivedSpan | None:
    """The span `service` made under `parent`, in its trace."""
    return next(
        (
            s
            for s in collector.trace(parent.trace_id)
            if s.parent_span_id == parent.span_id and s.service == service and s.name == name
        ),
        None,
    )


async def descendant_of(
    collector: OtlpCollector, ancestor: ReceivedSpan, service: str, name: str
) -> ReceivedSpan | None:
    """The span `service` made anywhere under `ancestor`, each of its parents in between received too."""
    spans = {s.span_id: s for s in collector.trace(ancestor.trace_id)}
    for span in spans.values():
        if span.service != service or span.name != name:
            continue
        parent = spans.get(span.parent_span_id)
        while parent is not None and parent is not ancestor:
            parent = spans.get(parent.parent_span_id)
        if parent is ancestor:
            return span
    return None


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus's text format, or None."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in exposition.splitlines():
        metric, _, value = line.rpartition(" ")
        if metric == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return None


async def scrape(suite: LocalSuite, service: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(suite.metrics_url(service), headers={"authorization": f"Bearer {key}"})


async def test_a_message_and_its_reply_are_traced_across_every_hop_and_counted(
    local_suite: LocalSuite, api_key: str, collector: OtlpCollector, provider: WebhookEndpoint
) -> None:
    await make_agent(local_suite, api_key, AGENT, web_login=False)
    answered = await post_api_message(local_suite, "order-42", "Where is my order?")
    assert answered.status_code == 202, answered.text

    # webhook -> NATS -> threading -> NATS -> routing: one trace, each hop the child of the one before.
    webhook = await eventually(
        lambda: named(collector, "POST /webhooks/api/messages"), 30, what="the channels' span of the webhook"
    )
    assert webhook.service == "channels" and webhook.kind == "server" and webhook.parent_span_id == ""
    assert webhook.attributes["http.response.status_code"] == 202
    stored = await eventually(
        lambda: child_of(collector, webhook, "threading", "threading-on-inbound"),
        30,
        what="threading's span, a child of the webhook's",
    )
    assert stored.kind == "consumer"
    routed = await eventually(
        lambda: child_of(collector, stored, "routing", "routing-on-message-added"),
        30,
        what="routing's span, a child of threading's",
    )
    assert routed.kind == "consumer" and not routed.failed

    # The agent's reply -> NATS -> channels -> the provider -> the delivery report back to threading.
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.conversations_grpc}", api_key) as channel:
        conversations = conversations_grpc.ConversationServiceStub(channel)
        listed = await eventually(lambda: _assigned(conversations), 30, what="the conversation assigned to the agent")
        with acting_for(Agent(AGENT)):  # as inbox-web calls for the agent signed in
            await conversations.SendReply(
                conversations_pb.SendReplyRequest(
                    conversation_id=listed, agent_id=AGENT, text="It left today.", client_reply_id="r1"
                )
            )
    reply = await eventually(
        lambda: named(collector, _SEND_REPLY.lstrip("/")), 30, what="threading's span of the SendReply call"
    )
    assert reply.service == "threading" and reply.kind == "server"
    # (the reply may go through translation first: each hop is a descendant, not a child, of the reply)
    delivered = await eventually(
        lambda: descendant_of(collector, reply, "channels", "channels-api-on-outbound"),
        30,
        what="the channels' span of the delivery, in the reply's trace",
    )
    await eventually(
        lambda: child_of(collector, delivered, "threading", "threading-on-delivery-status"),
        30,
        what="threading's span of the delivery report, a child of the delivery's",
    )
    assert [json.loads(body)["text"] for _, body in provider.received] == ["It left today."]

    # Each service's /metrics, with the key Prometheus is given; refused without it or with another key.
    for service in (s.name for s in SERVICES):
        assert (await scrape(local_suite, service, local_suite.metrics_key)).status_code == 200, service
    async with httpx.AsyncClient() as http:
        assert (await http.get(local_suite.metrics_url("routing"))).status_code == 401
    web_key = (local_suite.keys_dir / "inbox-web.key").read_text().strip()
    assert (await scrape(local_suite, "routing", web_key)).status_code == 403

    async def channels_counted() -> str | None:
        text = (await scrape(local_suite, "channels", local_suite.metrics_key)).text
        return text if sample(text, "inbox_deliveries_total", channel="api", status="sent") == 1 else None

    channels = await eventually(channels_counted, 30, what="the delivery counted by channels")
    assert sample(channels, "inbox_http_requests_total", route="/webhooks/api/messages", status="202") == 1
    assert sample(channels, "inbox_inbound_accepted_total", channel="api") == 1
    threading = (await scrape(local_suite, "threading", local_suite.metrics_key)).text
    assert sample(threading, "inbox_events_handled_total", consumer="threading-on-inbound", outcome="acked") == 1
    assert sample(threading, "inbox_consumer_lag_events", consumer="threading-on-inbound") == 0
    assert sample(threading, "inbox_grpc_calls_total", method=_SEND_REPLY, code="OK") == 1
    assert (sample(threading, "inbox_event_handler_seconds_count", consumer="threading-on-inbound") or 0) >= 1

    async def routing_measured() -> str | None:
        text = (await scrape(local_suite, "routing", local_suite.metrics_key)).text
        return text if sample(text, "inbox_routing_agents_available", team="") is not None else None

    routing = await eventually(routing_measured, 30, what="routing's queue gauges")
    assert sample(routing, "inbox_routing_agents_available", team="") == 1
    assert sample(routing, "inbox_routing_waiting_conversations", team="") is None  # nobody waits


_SEND_REPLY = "/inbox.conversations.v1.ConversationService/SendReply"


async def _assigned(conversations: conversations_grpc.ConversationServiceStub) -> str | None:
    listed = await conversations.ListConversations(conversations_pb.ListConversationsRequest(assignee_agent_id=AGENT))
    return listed.conversations[0].conversation_id if listed.conversations else None
