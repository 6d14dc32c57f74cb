"""Shared by the end-to-end tests: Twilio's API replaced at the network boundary, and signed webhooks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox_devstack.providers import TwilioApi
from inbox_devstack.suite import LocalSuite
from inbox_runtime.grpc_client import authenticated_channel
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "end-to-end-twilio-auth-token"
PUBLIC_BASE = "https://inbox.example.com"
OUR_NUMBER = "+14155550100"


@pytest.fixture
async def twilio_api() -> AsyncIterator[TwilioApi]:
    async with TwilioApi.serving(ACCOUNT_SID, AUTH_TOKEN) as api:
        yield api


@pytest.fixture
def twilio_env(twilio_api: TwilioApi) -> dict[str, str]:
    """Settings that turn on the SMS and voice channels against the local Twilio-compatible API."""
    return {
        "CHANNELS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "CHANNELS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CHANNELS_TWILIO_API_BASE_URL": twilio_api.base_url,
        "CHANNELS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CHANNELS_TWILIO_NUMBERS": f"{OUR_NUMBER}=support",
    }


async def twilio_post(suite: LocalSuite, path: str, params: dict[str, str]) -> None:
    """A webhook signed exactly as Twilio signs it, to the channels service; it must be accepted."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE + path, params)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{suite.ports.channels_http}") as http:
        response = await http.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text


# The agents' web app: an agent with a login, and a browser-like client.
PASSWORD = "correct horse battery"


async def make_agent(
    suite: LocalSuite, token: str, agent_id: str, *, web_login: bool = True, languages: tuple[str, ...] = ()
) -> None:
    """An available agent in routing and, unless told otherwise, a web login (which, set again, would sign
    the agent out of every browser: a password reset)."""
    async with authenticated_channel(f"127.0.0.1:{suite.ports.routing_grpc}", token) as channel:
        routing = routing_service_pb2_grpc.RoutingServiceStub(channel)
        await routing.UpsertAgent(
            routing_service_pb2.UpsertAgentRequest(agent_id=agent_id, display_name=agent_id, languages=languages)
        )
        await routing.SetPresence(
            routing_service_pb2.SetPresenceRequest(agent_id=agent_id, presence=routing_service_pb2.PRESENCE_AVAILABLE)
        )
    if web_login:
        await asyncio.to_thread(suite.set_web_login, agent_id, agent_id, PASSWORD)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(form.text)})


@pytest.fixture
async def web(local_suite: LocalSuite, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    await make_agent(local_suite, api_key, "ada")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{local_suite.ports.web_http}") as client:
        yield client
