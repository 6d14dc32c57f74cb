"""The next agent reads a summary first: a transfer in a real Chromium pins what the customer wants, what
was already tried or promised and what is still asked above the timeline, each point linked to its message."""

from __future__ import annotations

from pathlib import Path

from inbox_devstack.suite import LocalSuite
from playwright.async_api import Browser, expect

from .test_live_inbox import add_agent, customer_says, log_in, open_chat
from .test_widget_and_inbox import agent_ready


async def test_the_agent_a_conversation_is_transferred_to_reads_its_summary_first(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    customer = await open_chat(browser, local_suite)
    await customer_says(customer, "My kettle arrived broken. The lid does not close and it leaks.")
    ada = await log_in(browser, local_suite, "ada")
    await ada.locator(".conversation-list a").first.click(timeout=10_000)
    await ada.get_by_label("Reply").fill("I am sorry! I have ordered a replacement kettle for you.")
    await ada.get_by_role("button", name="Send").click()
    await expect(ada.locator(".message.outbound .text")).to_have_text(
        ["I am sorry! I have ordered a replacement kettle for you."]
    )
    await customer_says(customer, "Thanks. Do I need to send the broken one back?")

    await add_agent(local_suite, api_key, "bob", "returns", available=True)
    await ada.reload()
    await ada.get_by_label("To", exact=True).select_option("agent:bob")
    await ada.get_by_role("button", name="Transfer").click()

    bob = await log_in(browser, local_suite, "bob")
    await bob.locator(".conversation-list a").first.click(timeout=10_000)
    summary = bob.locator(".handoff-summary")
    await expect(summary.locator("h2")).to_have_text("Summary · transferred to bob", timeout=10_000)
    await expect(summary.locator(".who")).to_contain_text("chat")
    points = summary.locator("li")
    await expect(points).to_have_text(
        [
            "My kettle arrived broken. ↗",
            "The lid does not close and it leaks. ↗",
            "I have ordered a replacement kettle for you. ↗",
            "Do I need to send the broken one back? ↗",
        ]
    )
    # Each point leads to the message it quotes.
    await points.nth(2).get_by_role("link").click()
    quoted = bob.locator(".message:target")
    await expect(quoted.locator(".text")).to_have_text("I am sorry! I have ordered a replacement kettle for you.")
    await bob.screenshot(path=str(tmp_path / "summary.png"), full_page=True)
    # Any agent can ask for one as the conversation stands, whatever happened since the last handoff.
    await bob.get_by_role("button", name="Summarize now").click()
    fresh = bob.locator(".handoff-summary", has_text="as it stands now")
    await expect(fresh.locator("li").first).to_have_text("My kettle arrived broken. ↗")
