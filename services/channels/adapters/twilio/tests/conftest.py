"""A Twilio-compatible REST API on loopback (Messages and Calls, as documented), and a channels runtime
hosting the SMS and voice adapters against a real nats-server."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from inbox_channels.app import RunningChannels
from inbox_channels.testing import running_channels
from inbox_devstack.nats_server import NatsServer
from inbox_runtime.http_server import http_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-auth-token-0123456789"
PUBLIC_BASE = "https://inbox.example.com"
OUR_NUMBER = "+14155550100"


@dataclass
class TwilioApi:
    """What the provider received: one entry per created resource, keyed by idempotency token."""

    port: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    _by_token: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        async def create(request: Request) -> JSONResponse:
            self.requests += 1
            expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
            if request.path_params["account"] != ACCOUNT_SID:
                return JSONResponse({"code": 20404, "message": "not found"}, status_code=404)
            form = {k: str(v) for k, v in (await request.form()).items()}
            token = request.headers.get("i-twilio-idempotency-token", "")
            if token and token in self._by_token:
                return JSONResponse(self._by_token[token], status_code=201)
            resource = request.path_params["resource"]
            if resource == "Messages":
                if not form.get("To") or not form.get("Body"):
                    return JSONResponse({"code": 21604, "message": "'To' and 'Body' are required"}, status_code=400)
                sid = f"SM{next(self._ids):032d}"
                self.messages.append({**form, "sid": sid, "token": token})
                created: dict[str, Any] = {"sid": sid, "status": "queued", "num_segments": "1"}
            else:
                sid = f"CA{next(self._ids):032d}"
                self.calls.append({**form, "sid": sid, "token": token})
                created = {"sid": sid, "status": "queued"}
            if token:
                self._by_token[token] = created
            return JSONResponse(created, status_code=201)

        return Starlette(routes=[Route("/2010-04-01/Accounts/{account}/{resource:str}.json", create, methods=["POST"])])


@pytest.fixture
async def twilio_api() -> AsyncIterator[TwilioApi]:
    api = TwilioApi()
    async with http_server(api.app(), host="127.0.0.1", port=0) as port:
        api.port = port
        yield api


@pytest.fixture
def twilio_env(twilio_api: TwilioApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings of the SMS and voice adapters, pointing at the local Twilio API."""
    for key, value in {
        "CHANNELS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "CHANNELS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CHANNELS_TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_api.port}",
        "CHANNELS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CHANNELS_TWILIO_NUMBERS": f"{OUR_NUMBER}=support",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
async def channels(
    nats_server: NatsServer, twilio_env: None, tmp_path: Path, api_token: str
) -> AsyncIterator[RunningChannels]:
    from inbox_channel_twilio.sms import SmsAdapter
    from inbox_channel_twilio.voice import VoiceAdapter

    async with running_channels(nats_server.url, tmp_path, api_token, [SmsAdapter(), VoiceAdapter()]) as running:
        yield running
