"""Feedback after a resolution, in a real Chromium: the customer rates the chat in the widget, the agent
sees the rating in the thread, the supervisor sees the scores and closes the follow-up a low score opened."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inbox_devstack.suite import LocalSuite
from playwright.async_api import Browser, expect

from .test_live_inbox import customer_says, log_in, open_chat
from .test_widget_and_inbox import PASSWORD, agent_ready


async def test_a_customer_rates_the_chat_and_a_supervisor_follows_up(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    await asyncio.to_thread(local_suite.set_web_login, "sam", "sam", PASSWORD, supervisor=True)
    customer = await open_chat(browser, local_suite)
    await customer_says(customer, "My invoice shows the wrong address")
    ada = await log_in(browser, local_suite, "ada")
    await ada.locator(".conversation-list a").first.click(timeout=10_000)
    await ada.get_by_role("button", name="Resolve").click()

    # The widget asks, once, with buttons; the customer adds a comment and picks a score.
    rating = customer.get_by_role("group", name="Rate us")
    await expect(rating).to_be_visible(timeout=10_000)
    await expect(customer.locator("li.inbox-chat-agent").last).to_have_text(
        "How did we do? Rate us from 1 (poor) to 5 (great)."
    )
    await rating.get_by_label("Comment").fill("Took three days to answer")
    await rating.get_by_role("button", name="Rate 2 out of 5").click()
    await expect(customer.locator("li.inbox-chat-rating")).to_have_text("Thank you for your feedback!")
    await customer.screenshot(path=str(tmp_path / "widget-rating.png"))

    # The agent sees it in the thread (the conversation stays resolved).
    await ada.reload()
    feedback = ada.locator(".message.feedback")
    await expect(feedback.locator(".rating")).to_have_text("★★☆☆☆ Rated 2/5", timeout=10_000)
    await expect(feedback.locator(".text")).to_have_text("Took three days to answer")
    await expect(ada.locator(".conversation-main .status-badge")).to_have_text("resolved")

    # The supervisor: scores per agent, and the follow-up the low score opened.
    sam = await log_in(browser, local_suite, "sam")
    await sam.get_by_role("link", name="Supervisor").click()
    ada_scores = sam.locator("table.scores tr", has_text="ada")
    await expect(ada_scores.locator("td")).to_have_text(["1", "2.0", "0 %", "1"], timeout=10_000)
    follow_up = sam.locator(".follow-ups li").first
    await expect(follow_up).to_contain_text("rated 2/5")
    await expect(follow_up).to_contain_text("“Took three days to answer”")
    await sam.screenshot(path=str(tmp_path / "supervisor-satisfaction.png"), full_page=True)
    await follow_up.get_by_label("What was done").fill("Called her back, fixed the address")
    await follow_up.get_by_role("button", name="Done").click()
    await expect(sam.get_by_text("No follow-ups open.")).to_be_visible(timeout=10_000)
    await ada.reload()
    await expect(ada.locator(".message.note .text").last).to_have_text(
        "Follow-up done by sam: Called her back, fixed the address"
    )
