"""A private note that mentions a colleague brings them in: the conversation shows up under their
"mentions" by itself and they can open it; an agent neither assigned, of its team, nor mentioned cannot."""

from __future__ import annotations

from pathlib import Path

from inbox_devstack.suite import LocalSuite
from playwright.async_api import Browser, expect

from .test_live_inbox import add_agent, customer_says, log_in, open_chat
from .test_widget_and_inbox import agent_ready


async def test_a_mentioned_agent_gets_the_conversation_live_and_others_still_cannot_open_it(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    await add_agent(local_suite, api_key, "bob", "billing")
    await add_agent(local_suite, api_key, "cy", "retention")
    await customer_says(await open_chat(browser, local_suite), "I was charged twice")

    ada = await log_in(browser, local_suite, "ada")
    await ada.locator(".conversation-list a").first.click(timeout=10_000)
    conversation_url = ada.url
    bob = await log_in(browser, local_suite, "bob")
    await bob.get_by_role("link", name="mentions").click()
    await expect(bob.get_by_text("Nobody has mentioned you yet.")).to_be_visible()
    await expect(bob.locator("body")).to_have_attribute("data-live", "on")
    response = await bob.goto(conversation_url)
    assert response is not None and response.status == 404  # not his yet
    await bob.go_back()
    await expect(bob.locator("body")).to_have_attribute("data-live", "on")

    await ada.get_by_label("Private note").fill("@Bob can you check the double charge?")
    await ada.get_by_role("button", name="Add note").click()
    await expect(ada.locator(".message.note .text")).to_have_text(["@Bob can you check the double charge?"])
    await expect(ada.locator(".owners")).to_contain_text("shared with bob")

    await expect(bob.locator(".conversation-list .preview")).to_have_text(["I was charged twice"], timeout=10_000)
    await bob.locator(".conversation-list a").first.click()
    await expect(bob.locator(".message.note .text")).to_have_text(["@Bob can you check the double charge?"])
    await expect(bob.locator(".activity .text")).to_contain_text(["bob joined, added by ada"])
    await bob.screenshot(path=str(tmp_path / "mentioned.png"), full_page=True)

    cy = await log_in(browser, local_suite, "cy")
    response = await cy.goto(conversation_url)
    assert response is not None and response.status == 404
