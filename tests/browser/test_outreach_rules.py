"""A supervisor in a real Chromium reads and changes the outreach rules; a bad document is refused with the
reason and changes nothing; an agent has no such page."""

from __future__ import annotations

import asyncio
import json

from inbox_devstack.suite import LocalSuite
from playwright.async_api import Browser, expect

from .test_live_inbox import log_in
from .test_widget_and_inbox import PASSWORD, agent_ready


async def test_a_supervisor_changes_the_contact_pressure_rules(
    local_suite: LocalSuite, api_key: str, browser: Browser
) -> None:
    await agent_ready(local_suite, api_key)
    await asyncio.to_thread(local_suite.set_web_login, "sam", "sam", PASSWORD, supervisor=True)
    sam = await log_in(browser, local_suite, "sam")
    await sam.get_by_role("link", name="Supervisor").click()
    await sam.get_by_role("link", name="Outreach rules").click()
    await expect(sam.locator("main")).to_contain_text("(the defaults)")
    rules = sam.get_by_label("Rules (JSON)")
    shown = json.loads(await rules.input_value())
    assert shown["contact_pressure"]["max_messages"] == 3 and shown["nudges"] == []

    await rules.fill('{"contact_pressure": {"max_messages": "many"}}')
    await sam.get_by_role("button", name="Save").click()
    await expect(sam.get_by_role("alert")).to_contain_text("max_messages must be a whole number")

    shown["contact_pressure"]["max_messages"] = 1
    await rules.fill(json.dumps(shown))
    await sam.get_by_role("button", name="Save").click()
    await expect(sam.locator("main")).to_contain_text("Version 1")
    assert json.loads(await sam.get_by_label("Rules (JSON)").input_value())["contact_pressure"]["max_messages"] == 1

    ada = await log_in(browser, local_suite, "ada")
    response = await ada.goto(f"http://127.0.0.1:{local_suite.ports.web_http}/supervisor/outreach")
    assert response is not None and response.status == 404
