"""An agent in a real Chromium sees how the customer feels: an upset customer is flagged in the list, each of
their messages says how it reads, and the customer panel shows the mood and where it is going, live."""

from __future__ import annotations

from pathlib import Path

from inbox_devstack.suite import LocalSuite
from playwright.async_api import Browser, expect

from .test_live_inbox import customer_says, log_in, open_chat
from .test_widget_and_inbox import agent_ready


async def test_an_agent_sees_an_upset_customer_and_the_mood_improving(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    customer = await open_chat(browser, local_suite)
    await customer_says(customer, "This is the third time my order is late. I am furious, this is unacceptable!")

    ada = await log_in(browser, local_suite, "ada")
    row = ada.locator(".conversation-list li").first
    await expect(row.locator(".mood")).to_have_text("very negative", timeout=10_000)
    await row.locator("a").click()
    await expect(ada.locator("body")).to_have_attribute("data-live", "on")
    first = ada.locator(".message.inbound").first
    await expect(first.locator(".who .mood")).to_have_text("very negative")
    await expect(first.locator(".who .mood")).to_have_attribute("title", "sentiment -0.79, read as written")
    panel = ada.locator("#customer-facts")
    await expect(panel.locator("dd", has=ada.locator(".mood"))).to_have_text("very negative")

    # The agent helps; the customer is pleased, and the page says so by itself.
    await customer_says(customer, "Thanks, that solved it, great service!")
    await expect(ada.locator(".message.inbound").nth(1).locator(".who .mood")).to_have_text(
        "very positive", timeout=10_000
    )
    await expect(panel.locator("dd", has=ada.locator(".mood"))).to_have_text("neutral · improving", timeout=10_000)
    # No longer upset: the list stops flagging the customer.
    await expect(ada.locator(".conversation-list .mood")).to_have_count(0)
    await ada.screenshot(path=str(tmp_path / "mood.png"), full_page=True)
