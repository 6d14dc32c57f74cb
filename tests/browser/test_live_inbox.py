"""An agent's inbox in a real Chromium updates by itself: a customer writes on chat and the conversation
shows up in the agent's list, then each new message in the open conversation, without any reload."""

from __future__ import annotations

import asyncio
import re
import smtplib
from email.message import EmailMessage
from pathlib import Path

from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel
from playwright.async_api import Browser, Page, Route, expect

from .test_widget_and_inbox import PASSWORD, agent_ready


async def customer_says(customer: Page, text: str) -> None:
    box = customer.get_by_label("Message")
    await box.fill(text)
    await box.press("Enter")
    await expect(customer.locator("li.inbox-chat-visitor").last).to_have_text(text)


async def open_chat(browser: Browser, suite: LocalSuite) -> Page:
    """A customer on the demo page with the chat widget open."""
    customer = await browser.new_page()
    await customer.goto(f"http://127.0.0.1:{suite.ports.channels_http}/chat/demo")
    await customer.get_by_role("button", name="Chat with us").click()
    return customer


async def add_agent(suite: LocalSuite, token: str, agent_id: str, team: str, *, available: bool = False) -> None:
    """Another agent in routing (of `team`, available or not) with a web login."""
    async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", token) as channel:
        routing = routing_service_pb2_grpc.RoutingServiceStub(channel)
        await routing.UpsertAgent(
            routing_service_pb2.UpsertAgentRequest(agent_id=agent_id, display_name=agent_id.title(), teams=[team])
        )
        if available:
            await routing.SetPresence(
                routing_service_pb2.SetPresenceRequest(
                    agent_id=agent_id, presence=routing_service_pb2.PRESENCE_AVAILABLE
                )
            )
    await asyncio.to_thread(suite.set_web_login, agent_id, agent_id, PASSWORD)


async def log_in(browser: Browser, suite: LocalSuite, username: str, width: int = 1280) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": 844})
    await page.goto(f"http://127.0.0.1:{suite.ports.web_http}/")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    return page


async def test_new_conversations_and_messages_show_up_without_a_reload(
    local_suite: LocalSuite,
    api_key: str,
    browser: Browser,
    tmp_path: Path,
) -> None:
    await agent_ready(local_suite, api_key)
    agent = await log_in(browser, local_suite, "ada")
    await expect(agent.get_by_text("Nothing assigned to you right now.")).to_be_visible()
    await expect(agent.locator("body")).to_have_attribute("data-live", "on")
    loads: list[str] = []
    agent.on("load", lambda page: loads.append(page.url))

    customer = await open_chat(browser, local_suite)
    await customer_says(customer, "Hello, is anyone there?")

    # Routed to Ada: her open list shows it by itself.
    row = agent.locator(".conversation-list a")
    await expect(row).to_have_count(1, timeout=10_000)
    # The row says who, what and for how long they have waited, without opening it.
    await expect(row.locator(".customer")).to_contain_text("Visitor ")
    await expect(row.locator(".preview")).to_have_text("Hello, is anyone there?")
    await expect(row.locator(".wait")).to_have_text("waiting just now")
    await agent.screenshot(path=str(tmp_path / "agent-list.png"))
    assert loads == []
    await row.click()
    await expect(agent.locator(".message.inbound .text")).to_have_text(["Hello, is anyone there?"])
    await expect(agent.locator("body")).to_have_attribute("data-live", "on")
    loads.clear()

    await customer_says(customer, "My parcel ORD-4411 never came")
    await expect(agent.locator(".message.inbound .text")).to_have_text(
        ["Hello, is anyone there?", "My parcel ORD-4411 never came"], timeout=10_000
    )
    assert loads == []
    await agent.screenshot(path=str(tmp_path / "agent-live.png"), full_page=True)


async def test_an_agent_notes_tags_and_resolves_from_the_conversation_page(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    await customer_says(await open_chat(browser, local_suite), "The parcel arrived broken")
    agent = await log_in(browser, local_suite, "ada", width=390)
    await agent.locator(".conversation-list a").first.click(timeout=10_000)
    await expect(agent.locator(".why")).to_contain_text("Why you:")  # routing's own explanation

    await agent.get_by_label("Private note").fill("Offer a refund, not a replacement")
    await agent.get_by_role("button", name="Add note").click()
    await expect(agent.locator(".message.note .text")).to_have_text("Offer a refund, not a replacement")
    await agent.get_by_label("Add tags").fill("damaged, refund")
    await agent.get_by_role("button", name="Add", exact=True).click()
    await expect(agent.locator(".contact-panel ul.tags .tag")).to_have_text(["#damaged", "#refund"])
    await agent.get_by_role("button", name="Remove tag refund").click()
    await expect(agent.locator(".contact-panel ul.tags .tag")).to_have_text(["#damaged"])
    await agent.get_by_role("button", name="Resolve").click()
    await expect(agent.locator(".meta .status-badge")).to_have_text("resolved")
    await expect(agent.locator(".activity .text").last).to_have_text("Resolved by ada")
    await expect(agent.get_by_role("button", name="Reopen")).to_be_visible()
    await agent.screenshot(path=str(tmp_path / "agent-narrow.png"), full_page=True)
    # Search finds words in the agent's conversations, notes included, accents and case folded.
    await agent.get_by_label("Search messages").fill("REFUND")
    await agent.get_by_label("Search messages").press("Enter")
    await expect(agent.locator(".search-results .preview")).to_have_text(["Offer a refund, not a replacement"])
    await agent.get_by_label("Search messages").fill("nothing-like-this")
    await agent.get_by_label("Search messages").press("Enter")
    await expect(agent.locator(".empty")).to_contain_text("Nothing found")
    # Presence from the header: routing sees it at once.
    await agent.get_by_label("Status").select_option("away")
    await agent.get_by_role("button", name="Set").click()
    await expect(agent.get_by_label("Status")).to_have_value("away")
    async with authenticated_channel(f"127.0.0.1:{local_suite.ports.routing_grpc}", api_key) as channel:
        got = await routing_service_pb2_grpc.RoutingServiceStub(channel).GetAgent(
            routing_service_pb2.GetAgentRequest(agent_id="ada")
        )
    assert got.agent.presence == routing_service_pb2.PRESENCE_AWAY
    # Resolved conversations leave the open view and wait under "resolved".
    await agent.get_by_role("link", name="Inbox", exact=True).click()
    await expect(agent.get_by_text("Nothing assigned to you right now.")).to_be_visible()
    await agent.get_by_role("link", name="resolved").click()
    await expect(agent.locator(".conversation-list .status-badge")).to_have_text(["resolved"])


def send_mail(
    port: int,
    sender: str = "Grace <grace@example.org>",
    subject: str = "Order 4411",
    body: str = "Where is my parcel?",
    message_id: str = "<order-4411@mail.example.org>",
    automatic: bool = False,
) -> None:
    """A customer's email (or, `automatic`, their mail client's out-of-office reply), over real SMTP to the
    suite's inbound server."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "support@inbox.localhost", subject
    mail["Message-ID"] = message_id
    if automatic:
        mail["Auto-Submitted"] = "auto-replied"
    mail.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)


async def test_a_reply_that_could_not_be_delivered_shows_as_failed_with_why_and_can_be_retried(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    """The suite's email channel has no outbound relay configured: every email reply fails, and says so."""
    await agent_ready(local_suite, api_key)
    await asyncio.to_thread(send_mail, local_suite.ports.smtp)
    agent = await log_in(browser, local_suite, "ada")
    await agent.locator(".conversation-list a").first.click(timeout=10_000)
    await agent.get_by_label("Reply").fill("It left our warehouse today.")
    await agent.get_by_role("button", name="Send").click()
    failed = agent.locator(".message.outbound .delivery-failed")
    await expect(failed).to_contain_text("failed: no outbound relay configured", timeout=10_000)
    await agent.screenshot(path=str(tmp_path / "agent-failed.png"), full_page=True)
    await failed.get_by_role("button", name="Retry").click()
    await expect(agent.locator(".message.outbound .text")).to_have_text(
        ["It left our warehouse today.", "It left our warehouse today."]
    )
    await expect(agent.locator(".message.outbound .delivery-failed")).to_have_count(2, timeout=10_000)
    # Another channel the deployment runs can be picked (here: chat; SMS is not configured, so not offered);
    # one the customer has no contact point on is refused, saying why.
    await agent.get_by_label("Reply").fill("Shall we chat instead?")
    await agent.get_by_label("via").select_option("chat")
    await agent.get_by_role("button", name="Send").click()
    await expect(agent.get_by_role("alert")).to_have_text("the customer has no chat contact")


async def test_a_transfer_moves_the_conversation_with_a_note_to_the_other_agent_live(
    local_suite: LocalSuite, api_key: str, browser: Browser
) -> None:
    await agent_ready(local_suite, api_key)
    await customer_says(await open_chat(browser, local_suite), "I want to cancel my contract")
    ada = await log_in(browser, local_suite, "ada")
    await ada.locator(".conversation-list a").first.click(timeout=10_000)

    await add_agent(local_suite, api_key, "bob", "retention", available=True)
    bob = await log_in(browser, local_suite, "bob")
    await expect(bob.get_by_text("Nothing assigned to you right now.")).to_be_visible()
    await expect(bob.locator("body")).to_have_attribute("data-live", "on")

    await ada.reload()  # Bob exists now: he is in the transfer list
    await ada.get_by_label("To", exact=True).select_option("agent:bob")
    await ada.get_by_label("Note for them").fill("Wants to cancel; offer the loyalty discount first")
    await ada.get_by_role("button", name="Transfer").click()
    await expect(ada.get_by_text("Nothing assigned to you right now.")).to_be_visible()

    await expect(bob.locator(".conversation-list a")).to_have_count(1, timeout=10_000)  # live, no reload
    await bob.locator(".conversation-list a").first.click()
    await expect(bob.locator(".message.note .text").first).to_have_text(
        "Transferred by ada to bob: Wants to cancel; offer the loyalty discount first"
    )


async def test_the_common_moves_work_from_the_keyboard(local_suite: LocalSuite, api_key: str, browser: Browser) -> None:
    await agent_ready(local_suite, api_key)
    await customer_says(await open_chat(browser, local_suite), "Do you ship to Norway?")
    agent = await log_in(browser, local_suite, "ada")
    await expect(agent.locator(".conversation-list a")).to_have_count(1, timeout=10_000)
    # The page's scripts have run (the list may have been there before they did).
    await expect(agent.locator("body")).to_have_attribute("data-live", "on")
    await agent.keyboard.press("?")
    await expect(agent.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    await agent.keyboard.press("Escape")
    await expect(agent.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    await agent.keyboard.press("j")
    await expect(agent.locator(".conversation-list a").first).to_be_focused()
    await agent.keyboard.press("Enter")
    await expect(agent.locator(".message.inbound .text")).to_have_text(["Do you ship to Norway?"])
    await agent.keyboard.press("r")
    await expect(agent.get_by_label("Reply")).to_be_focused()
    await agent.keyboard.type("Yes, in three days.")
    await agent.keyboard.press("Control+Enter")
    await expect(agent.locator(".message.outbound .text")).to_have_text(["Yes, in three days."])
    await agent.keyboard.press("/")
    await expect(agent.get_by_label("Search messages")).to_be_focused()


async def test_an_agent_saves_a_canned_response_and_puts_it_in_the_reply_box(
    local_suite: LocalSuite, api_key: str, browser: Browser, tmp_path: Path
) -> None:
    await agent_ready(local_suite, api_key)
    await customer_says(await open_chat(browser, local_suite), "Where is my order?")
    agent = await log_in(browser, local_suite, "ada")
    await agent.get_by_role("link", name="Canned").click()
    await expect(agent.get_by_text("No canned responses yet.")).to_be_visible()
    await agent.get_by_label("Title").fill("Checking")
    await agent.get_by_label("Text").fill("Hi {first_name}, {agent_name} here. Let me check that for you.")
    await agent.get_by_role("button", name="Save").click()
    await expect(agent.locator(".canned-list strong")).to_have_text(["Checking"])
    await agent.screenshot(path=str(tmp_path / "agent-canned.png"), full_page=True)

    await agent.get_by_role("link", name="Inbox", exact=True).click()
    await agent.locator(".conversation-list a").first.click(timeout=10_000)
    await agent.get_by_label("Canned response").select_option(label="Checking")
    await agent.get_by_role("button", name="Use").click()
    # An anonymous chat visitor has no name to greet: "there" stands in; the agent is who is logged in.
    await expect(agent.get_by_label("Reply")).to_have_value("Hi there, ada here. Let me check that for you.")
    await agent.screenshot(path=str(tmp_path / "agent-canned-used.png"), full_page=True)
    await agent.get_by_role("button", name="Send").click()
    await expect(agent.locator(".message.outbound .text").last).to_have_text(
        "Hi there, ada here. Let me check that for you."
    )


# Records each desktop notification the page shows, then lets the browser's own Notification show it.
RECORD_NOTIFICATIONS = """
window.__notified = [];
const RealNotification = window.Notification;
window.Notification = new Proxy(RealNotification, {
  construct(target, args) { window.__notified.push(args[0]); return new target(...args); },
});
"""


async def test_unread_conversations_are_marked_and_counted_and_a_new_assignment_notifies(
    local_suite: LocalSuite, api_key: str, browser: Browser
) -> None:
    await agent_ready(local_suite, api_key)
    base = f"http://127.0.0.1:{local_suite.ports.web_http}"
    context = await browser.new_context()
    await context.grant_permissions(["notifications"], origin=base)
    await context.add_init_script(RECORD_NOTIFICATIONS)
    agent = await context.new_page()
    await agent.goto(base + "/")
    await agent.get_by_label("Username").fill("ada")
    await agent.get_by_label("Password").fill(PASSWORD)
    await agent.get_by_role("button", name="Log in").click()
    await expect(agent.locator("body")).to_have_attribute("data-live", "on")
    await expect(agent.get_by_role("button", name="Notify me")).to_be_hidden()  # already allowed

    customer = await open_chat(browser, local_suite)
    await customer_says(customer, "Hi, my discount code fails")
    row = agent.locator(".conversation-row")
    await expect(row).to_have_class(re.compile(r"\bunread\b"), timeout=10_000)
    await expect(agent).to_have_title("(1) My conversations · Inbox")
    assert await agent.evaluate("window.__notified") == ["A conversation was assigned to you"]

    await row.locator("a").click()
    await expect(agent.locator(".message.inbound .text")).to_have_text(["Hi, my discount code fails"])
    await agent.go_back()
    await expect(row).not_to_have_class(re.compile(r"\bunread\b"))
    await expect(agent).to_have_title("My conversations · Inbox")
    # A new message while the agent is elsewhere makes it unread again, live.
    await customer_says(customer, "It says EXPIRED")
    await expect(row).to_have_class(re.compile(r"\bunread\b"), timeout=10_000)


async def test_the_agent_sees_the_customer_typing(local_suite: LocalSuite, api_key: str, browser: Browser) -> None:
    await agent_ready(local_suite, api_key)
    customer = await open_chat(browser, local_suite)
    await customer_says(customer, "I have a question about sizes")
    agent = await log_in(browser, local_suite, "ada")
    await agent.locator(".conversation-list a").first.click(timeout=10_000)
    await expect(agent.locator("body")).to_have_attribute("data-live", "on")
    typing = agent.get_by_role("status").filter(has_text="Customer is typing")
    await expect(typing).to_be_hidden()

    await customer.get_by_label("Message").press_sequentially("Is a medium")
    await expect(typing).to_be_visible(timeout=10_000)
    await customer.get_by_label("Message").press("Enter")
    await expect(agent.locator(".message.inbound .text").last).to_have_text("Is a medium", timeout=10_000)
    await expect(typing).to_be_hidden()


async def test_a_message_whose_notice_comes_while_the_page_is_fetching_still_shows_up(
    local_suite: LocalSuite, api_key: str, browser: Browser
) -> None:
    """The timeline's fetch for one message can be answered before the next message is stored; the next
    message's notice, arriving while that answer is on its way, must still bring it to the page."""
    await agent_ready(local_suite, api_key)
    customer = await open_chat(browser, local_suite)
    await customer_says(customer, "first question")
    ada = await log_in(browser, local_suite, "ada")
    await ada.locator(".conversation-list li a").first.click()
    await expect(ada.locator("body")).to_have_attribute("data-live", "on")
    inbound = ada.locator("#timeline .message.inbound")
    await expect(inbound).to_have_count(1)

    # The next timeline fetch is answered by the server at once, and its answer held back.
    answered, release = asyncio.Event(), asyncio.Event()

    async def hold_the_first_answer(route: Route) -> None:
        if answered.is_set():
            await route.continue_()
            return
        response = await route.fetch()
        answered.set()
        await release.wait()
        await route.fulfill(response=response)

    await ada.route("**/partials/timeline", hold_the_first_answer)
    await customer_says(customer, "second question")
    await asyncio.wait_for(answered.wait(), 15)
    await customer_says(customer, "third question")
    # The third message's notice has reached the page: the list beside the timeline shows it.
    await expect(ada.locator("#conversation-list")).to_contain_text("third question", timeout=10_000)
    release.set()  # the held answer, from before the third message, lands
    await expect(inbound).to_have_count(3, timeout=10_000)
    await expect(inbound.last).to_contain_text("third question")
