"""With offers on, a new conversation is offered to the agent in the inbox (live, with the time left) and
becomes theirs only when they accept; a declined one moves on and leaves their inbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel
from playwright.async_api import Browser, expect

from .test_live_inbox import customer_says, log_in, open_chat
from .test_widget_and_inbox import agent_ready


@pytest.fixture
def suite_env() -> dict[str, str]:
    return {"ROUTING_OFFER_TIMEOUT_SECONDS": "120"}


async def test_an_offer_shows_up_live_and_is_declined_or_accepted_from_the_inbox(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    ada = await log_in(browser, local_suite, "ada")
    await expect(ada.locator("body")).to_have_attribute("data-live", "on")

    await customer_says(await open_chat(browser, local_suite), "Can I change my delivery address?")
    offers = ada.get_by_role("region", name="Offered to you")
    await expect(offers.locator(".preview")).to_have_text(["Can I change my delivery address?"], timeout=10_000)
    await expect(offers.locator(".when")).to_contain_text("answer within")
    await expect(ada.locator(".conversation-list a")).to_have_count(0)  # not hers until she accepts
    await ada.screenshot(path=str(tmp_path / "offer.png"), full_page=True)
    declined_url = await offers.locator("form").get_attribute("action")
    assert declined_url is not None
    await offers.get_by_role("button", name="Decline").first.click()
    await expect(ada.get_by_role("region", name="Offered to you")).to_have_count(0)
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.routing_grpc}", api_key) as channel:
        got = await routing_service_pb2_grpc.RoutingServiceStub(channel).GetAssignment(
            routing_service_pb2.GetAssignmentRequest(conversation_id=declined_url.split("/")[2])
        )
    assert got.state == routing_service_pb2.ASSIGNMENT_STATE_QUEUED  # nobody else is available

    await customer_says(await open_chat(browser, local_suite), "Is the shop open on Sunday?")
    await expect(offers.locator(".preview")).to_have_text(["Is the shop open on Sunday?"], timeout=10_000)
    await offers.get_by_role("button", name="Accept").first.click()
    await expect(ada.locator(".message.inbound .text")).to_have_text(["Is the shop open on Sunday?"])
    await expect(ada.locator(".owners")).to_contain_text("With ada")
