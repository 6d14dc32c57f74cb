"""A customer in the chat widget and an agent in inbox-web, each in a real Chromium, over the real suite.

Customer and agent both write markup; neither page ever runs it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel
from playwright.async_api import Browser, Page, expect

PASSWORD = "correct horse battery"
HOSTILE_CUSTOMER = '<img src=x onerror="window.__pwned=1">Where is <b>my</b> order?'
HOSTILE_AGENT = 'On its way <script>window.__pwned=2</script><img src=y onerror="window.__pwned=3">'


async def agent_ready(suite: LocalSuite, token: str) -> None:
    async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", token) as channel:
        routing = routing_service_pb2_grpc.RoutingServiceStub(channel)
        await routing.UpsertAgent(routing_service_pb2.UpsertAgentRequest(agent_id="ada", display_name="Ada"))
        await routing.SetPresence(
            routing_service_pb2.SetPresenceRequest(agent_id="ada", presence=routing_service_pb2.PRESENCE_AVAILABLE)
        )
    await asyncio.to_thread(suite.set_web_login, "ada", "ada", PASSWORD)


async def never_ran_markup(page: Page) -> None:
    assert await page.evaluate("typeof window.__pwned") == "undefined"


async def test_customer_and_agent_talk_and_no_markup_ever_runs(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    dialogs: list[str] = []

    customer = await browser.new_page()
    customer.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await customer.goto(f"http://127.0.0.1:{local_suite.ports.channels_http}/chat/demo")
    await customer.get_by_role("button", name="Chat with us").click()
    message_box = customer.get_by_label("Message")
    await message_box.fill(HOSTILE_CUSTOMER)
    await message_box.press("Enter")
    await expect(customer.locator("li.inbox-chat-visitor")).to_have_text(HOSTILE_CUSTOMER)

    agent = await browser.new_page()
    agent.on("dialog", lambda dialog: dialogs.append(dialog.message))
    base = f"http://127.0.0.1:{local_suite.ports.web_http}"
    await agent.goto(base + "/")
    await agent.get_by_label("Username").fill("ada")
    await agent.get_by_label("Password").fill(PASSWORD)
    await agent.get_by_role("button", name="Log in").click()
    await expect(agent.get_by_role("heading", name="My conversations")).to_be_visible()
    # Routing assigns within moments; the open inbox shows it by itself (live notices).
    await expect(agent.locator(".conversation-list a")).to_have_count(1, timeout=10_000)
    await agent.locator(".conversation-list a").first.click()
    await expect(agent.locator(".message.inbound .text")).to_have_text(HOSTILE_CUSTOMER)
    await agent.get_by_label("Reply").fill(HOSTILE_AGENT)
    await agent.get_by_role("button", name="Send").click()
    await expect(agent.locator(".message.outbound .text")).to_have_text(HOSTILE_AGENT)

    await expect(customer.locator("li.inbox-chat-agent")).to_have_text(HOSTILE_AGENT, timeout=15_000)
    await customer.screenshot(path=str(tmp_path / "customer.png"))
    await agent.screenshot(path=str(tmp_path / "agent.png"), full_page=True)
    await never_ran_markup(customer)
    await never_ran_markup(agent)
    assert dialogs == []
    assert await customer.locator("li img, li script, li b").count() == 0
    assert await agent.locator(".timeline img, .timeline script, .timeline b").count() == 0
