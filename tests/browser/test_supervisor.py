"""A supervisor in a real Chromium watches the floor live (queues, presence, load) and moves a conversation
from there; agents narrow their list by channel and do not reach the supervisor view."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inbox_devstack.suite import LocalSuite
from playwright.async_api import Browser, expect

from .test_live_inbox import add_agent, customer_says, log_in, open_chat
from .test_widget_and_inbox import PASSWORD, agent_ready


async def test_a_supervisor_watches_the_floor_live_and_reassigns_from_it(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    await add_agent(local_suite, api_key, "bob", "retention")
    await asyncio.to_thread(local_suite.set_web_login, "sam", "sam", PASSWORD, supervisor=True)
    await customer_says(await open_chat(browser, local_suite), "My invoice is wrong")

    ada = await log_in(browser, local_suite, "ada")
    await expect(ada.locator(".conversation-list a")).to_have_count(1, timeout=10_000)
    # Agents narrow their list; a filter that matches nothing says so, a wrong one says why.
    await ada.get_by_label("Channel").select_option("email")
    await ada.get_by_role("button", name="Filter").click()
    await expect(ada.get_by_text("Nothing assigned to you right now.")).to_be_visible()
    await ada.get_by_label("Channel").select_option("chat")
    await ada.get_by_role("button", name="Filter").click()
    await expect(ada.locator(".conversation-list .preview")).to_have_text(["My invoice is wrong"])
    await ada.goto(f"http://127.0.0.1:{local_suite.ports.web_http}/?language=english")
    await expect(ada.get_by_role("alert")).to_contain_text("two- or three-letter code")
    # The supervisor view is not there for an agent.
    response = await ada.goto(f"http://127.0.0.1:{local_suite.ports.web_http}/supervisor")
    assert response is not None and response.status == 404

    sam = await log_in(browser, local_suite, "sam")
    await sam.get_by_role("link", name="Supervisor").click()
    await expect(sam.locator("body")).to_have_attribute("data-live", "on")
    ada_row = sam.locator("table.agents tr", has_text="Ada")
    await expect(ada_row.locator(".presence-badge")).to_have_text("available")
    await expect(ada_row.locator(".load")).to_have_text(["chat 1/3"])
    floor_row = sam.locator(".floor-row", has_text="My invoice is wrong")
    await expect(floor_row.locator(".preview")).to_contain_text("ada ·")

    # Ada steps away, and the next customer waits: both show up on the open board by themselves.
    await ada.goto(f"http://127.0.0.1:{local_suite.ports.web_http}/")
    await ada.get_by_label("Status").select_option("away")
    await ada.get_by_role("button", name="Set").click()
    await expect(ada_row.locator(".presence-badge")).to_have_text("away", timeout=10_000)
    await customer_says(await open_chat(browser, local_suite), "Hello? Anybody?")
    await expect(sam.locator(".cards .card").first).to_contain_text("1 waiting", timeout=10_000)
    # Its last message is the queue's own notice to the customer; the row says nobody has it yet.
    await expect(sam.locator(".floor-row", has_text="in the queue")).to_have_count(1, timeout=10_000)
    link = await sam.locator(".floor-row", has_text="in the queue").locator("a").get_attribute("href")
    waiting_row = sam.locator(f'.floor-row:has(a[href="{link}"])')
    await expect(waiting_row.locator(".wait")).to_be_visible()
    await sam.screenshot(path=str(tmp_path / "supervisor.png"), full_page=True)
    await sam.set_viewport_size({"width": 390, "height": 844})
    await sam.screenshot(path=str(tmp_path / "supervisor-390.png"), full_page=True)
    await ada.set_viewport_size({"width": 390, "height": 844})
    await ada.screenshot(path=str(tmp_path / "inbox-390.png"), full_page=True)
    for narrow in (sam, ada):  # nothing sticks out sideways on a phone
        assert await narrow.evaluate("document.documentElement.scrollWidth") <= 390
    await sam.set_viewport_size({"width": 1280, "height": 844})

    # The supervisor hands the waiting customer to Bob from the board.
    await waiting_row.get_by_label("Reassign").select_option("agent:bob")
    await waiting_row.get_by_role("button", name="Move").click()
    await expect(sam).to_have_url(f"http://127.0.0.1:{local_suite.ports.web_http}/supervisor")
    await expect(waiting_row.locator(".preview")).to_contain_text("bob ·", timeout=10_000)
    await expect(sam.locator(".cards .card").first).to_contain_text("0 waiting")
    # A supervisor opens any conversation, whoever has it.
    await waiting_row.locator("a").click()
    await expect(sam.locator(".message.inbound .text")).to_have_text(["Hello? Anybody?"])
    await expect(sam.locator(".why")).to_contain_text("Why bob: transferred to bob")
    await sam.screenshot(path=str(tmp_path / "supervisor-narrow.png"), full_page=True)
