"""Provider APIs (and integrators' endpoints) out of reach here, replaced at the network boundary by small
local servers speaking their documented protocols. Only what lies outside: never a part of the suite itself."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from inbox_runtime.http_server import http_server
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from inbox_devstack.ports import free_port


@dataclass
class SmtpRelay:
    """The outbound mail relay: a real SMTP server (aiosmtpd) that keeps what it was given, and refuses the
    recipients in `refuse` as a relay refuses an unknown mailbox."""

    port: int = 0
    received: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 OK"

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[SmtpRelay]:
        """The relay on a free loopback port (in its own thread) for as long as the context lasts."""
        relay = cls(port=free_port())
        controller = Controller(relay, hostname="127.0.0.1", port=relay.port)
        controller.start()
        try:
            yield relay
        finally:
            controller.stop()


@dataclass
class TwilioApi:
    """Twilio's REST API (2010-04-01): Messages and Calls, basic auth, `I-Twilio-Idempotency-Token`.

    Keeps what it received: one entry per created resource; a repeated token returns the first.
    """

    account_sid: str
    auth_token: str
    port: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    # The idempotency token of every Messages request, repeated ones too ("" for none): what was asked.
    message_requests: list[str] = field(default_factory=list)
    _by_token: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        async def create(request: Request) -> JSONResponse:
            self.requests += 1
            expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
            if request.path_params["account"] != self.account_sid:
                return JSONResponse({"code": 20404, "message": "not found"}, status_code=404)
            form = {k: str(v) for k, v in (await request.form()).items()}
            token = request.headers.get("i-twilio-idempotency-token", "")
            resource = request.path_params["resource"]
            if resource == "Messages":
                self.message_requests.append(token)
            if token and token in self._by_token:
                return JSONResponse(self._by_token[token], status_code=201)
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

    @classmethod
    @asynccontextmanager
    async def serving(cls, account_sid: str, auth_token: str) -> AsyncIterator[TwilioApi]:
        """The API on a free loopback port for as long as the context lasts."""
        api = cls(account_sid, auth_token)
        async with http_server(api.app(), host="127.0.0.1", port=0) as port:
            api.port = port
            yield api

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _LocalPeer:
    """A peer that needs nothing to start: served on a free port of 127.0.0.1 while `serving` lasts."""

    port: int

    def app(self) -> Starlette:
        raise NotImplementedError

    @classmethod
    @asynccontextmanager
    async def serving(cls) -> AsyncIterator[Self]:
        peer = cls()
        async with http_server(peer.app(), host="127.0.0.1", port=0) as port:
            peer.port = port
            yield peer


@dataclass
class WebhookEndpoint(_LocalPeer):
    """An integrator's endpoint for our outbound webhooks (POST /hook): keeps every request it took, and
    answers 503 while `failing` counts down."""

    failing: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            if self.failing:
                self.failing -= 1
                return PlainTextResponse("busy", status_code=503)
            self.received.append((dict(request.headers), body))
            return PlainTextResponse("ok")

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: str  # "server", "consumer", ...
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a trace's root
    attributes: dict[str, Any]
    failed: bool


_SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass
class OtlpCollector(_LocalPeer):
    """An OpenTelemetry collector's OTLP/HTTP trace receiver (POST /v1/traces, protobuf, gzip or not), as
    the services' exporters reach it with OTEL_EXPORTER_OTLP_ENDPOINT: keeps every span it took."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    port: int = 0

    def app(self) -> Starlette:
        async def traces(request: Request) -> Response:
            body = await request.body()
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            export = trace_service_pb2.ExportTraceServiceRequest()
            export.ParseFromString(body)
            for resource_spans in export.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                service=resource.get("service.name", ""),
                                name=span.name,
                                kind=_SPAN_KINDS.get(span.kind, "unspecified"),
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                attributes={a.key: _any_value(a.value) for a in span.attributes},
                                failed=span.status.code == span.status.STATUS_CODE_ERROR,
                            )
                        )
            answer = trace_service_pb2.ExportTraceServiceResponse()
            return Response(answer.SerializeToString(), media_type="application/x-protobuf")

        return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT is set to."""
        return f"http://127.0.0.1:{self.port}"

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]


def _any_value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "int_value", "bool_value", "double_value") else None


# A tiny word list, enough for a local engine to show that text went through it.
_WORDS = {
    ("de", "en"): {"hallo": "hello", "bestellung": "order", "danke": "thanks"},
    ("en", "de"): {"hello": "hallo", "order": "bestellung", "thanks": "danke"},
}


def _dictionary_translate(text: str, source: str, target: str) -> str:
    words = _WORDS.get((source, target), {})
    return " ".join(words.get(word.lower(), word) for word in text.split(" "))


@dataclass
class LibreTranslateApi:
    """LibreTranslate's API (GET /languages, POST /translate with an api_key), translating de <-> en."""

    api_key: str
    port: int = 0
    requests: int = 0

    def app(self) -> Starlette:
        async def languages(request: Request) -> JSONResponse:
            return JSONResponse(
                [
                    {"code": "de", "name": "German", "targets": ["en"]},
                    {"code": "en", "name": "English", "targets": ["de"]},
                ]
            )

        async def translate(request: Request) -> JSONResponse:
            self.requests += 1
            body = await request.json()
            if body.get("api_key") != self.api_key:
                return JSONResponse({"error": "Invalid API key"}, status_code=403)
            pair = (body.get("source"), body.get("target"))
            if pair not in _WORDS:
                return JSONResponse({"error": f"{pair} is not supported"}, status_code=400)
            return JSONResponse({"translatedText": _dictionary_translate(str(body["q"]), *pair)})

        return Starlette(
            routes=[Route("/languages", languages, methods=["GET"]), Route("/translate", translate, methods=["POST"])]
        )

    @classmethod
    @asynccontextmanager
    async def serving(cls, api_key: str) -> AsyncIterator[LibreTranslateApi]:
        api = cls(api_key)
        async with http_server(api.app(), host="127.0.0.1", port=0) as port:
            api.port = port
            yield api

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class DeepLApi:
    """DeepL's API v2 (languages, translate, `DeepL-Auth-Key`), translating de <-> en."""

    auth_key: str
    port: int = 0
    requests: int = 0
    down: bool = False

    def app(self) -> Starlette:
        def authorised(request: Request) -> bool:
            return request.headers.get("authorization") == f"DeepL-Auth-Key {self.auth_key}"

        async def languages(request: Request) -> JSONResponse:
            if not authorised(request):
                return JSONResponse({"message": "Forbidden"}, status_code=403)
            if request.query_params.get("type") == "target":
                return JSONResponse([{"language": "DE", "name": "German"}, {"language": "EN-US", "name": "English"}])
            return JSONResponse([{"language": "DE", "name": "German"}, {"language": "EN", "name": "English"}])

        async def translate(request: Request) -> JSONResponse:
            self.requests += 1
            if self.down:
                return JSONResponse({"message": "Service unavailable"}, status_code=503)
            if not authorised(request):
                return JSONResponse({"message": "Forbidden"}, status_code=403)
            body = await request.json()
            source, target = str(body["source_lang"]).lower(), str(body["target_lang"]).split("-")[0].lower()
            return JSONResponse(
                {
                    "translations": [
                        {"detected_source_language": source.upper(), "text": _dictionary_translate(t, source, target)}
                        for t in body["text"]
                    ]
                }
            )

        return Starlette(
            routes=[
                Route("/v2/languages", languages, methods=["GET"]),
                Route("/v2/translate", translate, methods=["POST"]),
            ]
        )

    @classmethod
    @asynccontextmanager
    async def serving(cls, auth_key: str) -> AsyncIterator[DeepLApi]:
        api = cls(auth_key)
        async with http_server(api.app(), host="127.0.0.1", port=0) as port:
            api.port = port
            yield api

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
