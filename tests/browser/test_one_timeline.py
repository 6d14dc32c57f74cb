"""One customer, two channels, one conversation: a signed-in visitor writes on chat, then emails from the
address the site vouched for; the agent sees both in one timeline, each marked with its channel, and the
contact panel knows both ways to reach them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from inbox_channel_chat.protocol import identity_signature
from inbox_devstack.suite import LocalSuite
from playwright.async_api import Browser, expect

from .test_live_inbox import customer_says, log_in, open_chat, send_mail
from .test_widget_and_inbox import agent_ready

SITE_SECRET = "the host site's identity secret"


@pytest.fixture
def suite_env() -> dict[str, str]:
    return {"CHANNELS_CHAT_IDENTITY_SECRET": SITE_SECRET}


async def test_chat_and_email_of_one_customer_show_in_one_timeline(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    customer = await open_chat(browser, local_suite)
    identity = {
        "user_id": "u-42",
        "email": "grace@example.org",
        "name": "Grace Hopper",
        "signature": identity_signature(SITE_SECRET, "u-42", "grace@example.org"),
    }
    await customer.evaluate("identity => window.InboxChat.identify(identity)", identity)
    await customer_says(customer, "My lamp arrived broken")

    agent = await log_in(browser, local_suite, "ada")
    await agent.locator(".conversation-list a").first.click(timeout=10_000)
    await expect(agent.locator(".message.inbound .text")).to_have_text(["My lamp arrived broken"])
    await asyncio.to_thread(
        send_mail,
        local_suite.ports.smtp,
        sender="Grace Hopper <grace@example.org>",
        subject="Photos",
        body="Here are the photos of the broken lamp.",
        message_id="<photos-1@mail.example.org>",
    )

    # The email lands in the same conversation, live, marked as email.
    inbound = agent.locator(".message.inbound")
    await expect(inbound.locator(".text")).to_have_text(
        ["My lamp arrived broken", "Here are the photos of the broken lamp."], timeout=15_000
    )
    await expect(inbound.nth(0).locator(".who")).to_contain_text("chat")
    await expect(inbound.nth(1).locator(".who")).to_contain_text("email")
    # The mail's subject names the conversation in the list (live) and, once the page is read again, above it.
    await expect(agent.locator(".conversation-list .subject")).to_have_text(["Photos"], timeout=15_000)
    await agent.reload()
    await expect(agent.locator(".conversation-main .subject")).to_have_text("Photos")
    panel = agent.get_by_role("complementary", name="Customer")
    await expect(panel).to_contain_text("grace@example.org")
    await expect(panel).to_contain_text("chat, email")
    await agent.screenshot(path=str(tmp_path / "one-timeline.png"), full_page=True)

    # The full history: every message of the customer on every channel, oldest first.
    await panel.get_by_role("link", name="Full history across channels").click()
    await expect(agent.get_by_role("heading", level=1)).to_have_text("Grace Hopper: every channel, every conversation")
    await expect(agent.locator(".history .message .text")).to_have_text(
        ["My lamp arrived broken", "Here are the photos of the broken lamp."]
    )
    await expect(agent.locator(".history .message .channel")).to_have_text(["chat", "email"])
    await agent.screenshot(path=str(tmp_path / "history.png"), full_page=True)

    # Grace's mail client answers with an out-of-office note: it shows, flagged, and nobody waits on it.
    await agent.go_back()
    await asyncio.to_thread(
        send_mail,
        local_suite.ports.smtp,
        sender="Grace Hopper <grace@example.org>",
        subject="Out of office",
        body="I am away until Monday.",
        message_id="<ooo-1@mail.example.org>",
        automatic=True,
    )
    automatic = agent.locator(".message.automatic")
    await expect(automatic.locator(".text")).to_have_text("I am away until Monday.", timeout=15_000)
    await expect(automatic.locator(".who")).to_contain_text("automatic reply, nobody waits on it")
    await automatic.scroll_into_view_if_needed()
    await agent.screenshot(path=str(tmp_path / "automatic-reply.png"), full_page=True)
