"""The pipeline and TranslationService against real parts: nats-server, an in-process routing gRPC
server (for agents' languages), and a local server speaking DeepL's API that can be taken down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2_grpc
from inbox.translation.v1 import events_pb2 as translation_events
from inbox.translation.v1 import translation_service_pb2 as pb
from inbox.translation.v1 import translation_service_pb2_grpc as pb_grpc
from inbox_devstack.events import stored_events
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.providers import DeepLApi
from inbox_events import EventBus
from inbox_language import Detector
from inbox_routing import grpc_api as routing_api
from inbox_routing.actions import RoutingActions
from inbox_routing.store.sqlite import SqliteRoutingStore
from inbox_runtime.grpc_client import authenticated_channel
from inbox_runtime.grpc_server import grpc_server
from inbox_translation import grpc_api
from inbox_translation.actions import Translator
from inbox_translation.pipeline import AgentLanguages, TranslationPipeline
from inbox_translation.providers import ProviderUnavailable
from inbox_translation.providers.deepl import DeepLProvider
from inbox_translation.store.sqlite import SqliteTranslationStore


class Parts:
    def __init__(
        self, pipeline: TranslationPipeline, deepl: DeepLApi, nats_url: str, stub: pb_grpc.TranslationServiceAsyncStub
    ) -> None:
        self.pipeline, self.deepl, self.nats_url, self.stub = pipeline, deepl, nats_url, stub


@pytest.fixture
async def parts(nats_server: NatsServer, tmp_path: Path, nats_api_key: str) -> AsyncIterator[Parts]:
    routing_store = await SqliteRoutingStore.open(tmp_path / "routing.sqlite3")
    store = await SqliteTranslationStore.open(tmp_path / "translation.sqlite3")
    async with DeepLApi.serving("deepl-key-123") as deepl, EventBus.connect(nats_server.url, service="test") as bus:
        await bus.ensure_streams()
        routing_actions = RoutingActions(routing_store, bus)
        await routing_actions.upsert_agent("ada", "Ada", {}, ("en",))
        translator = Translator(
            [DeepLProvider(deepl.base_url, "deepl-key-123")], store, Detector(("en", "de", "es"), 0.5, 0.2)
        )
        async with (
            grpc_server(
                host="127.0.0.1",
                port=0,
                keys=await bus.api_keys(),
                services=[routing_api.registration(routing_actions), grpc_api.registration(translator)],
            ) as server,
            authenticated_channel(f"127.0.0.1:{server.port}", nats_api_key) as channel,
        ):
            agents = AgentLanguages(routing_service_pb2_grpc.RoutingServiceStub(channel))
            yield Parts(
                TranslationPipeline(translator, store, bus, agents),
                deepl,
                nats_server.url,
                pb_grpc.TranslationServiceStub(channel),
            )
        await translator.close()
    await store.close()
    await routing_store.close()


async def test_an_outage_marks_the_translation_pending_and_the_retry_delivers_it(parts: Parts) -> None:
    text = "Hallo, meine Bestellung ist nicht angekommen und ich warte seit einer Woche"
    await parts.pipeline.agent_assigned("conv-1", "ada", first_delivery=True)
    parts.deepl.down = True
    with pytest.raises(ProviderUnavailable):
        await parts.pipeline.customer_message("m1", "conv-1", "cust-1", text, first_delivery=True)
    [pending] = await stored_events(
        parts.nats_url, "translation.pending", translation_events.TranslationPending, at_least=1
    )
    assert pending.message_id == "m1"
    [detected] = await stored_events(
        parts.nats_url, "translation.language_detected", translation_events.LanguageDetected, at_least=1
    )
    assert (detected.language, detected.fallback) == ("de", False)
    parts.deepl.down = False
    # The bus redelivers the event: same message, not the first delivery.
    await parts.pipeline.customer_message("m1", "conv-1", "cust-1", text, first_delivery=False)
    [translated] = await stored_events(
        parts.nats_url, "translation.message_translated", translation_events.MessageTranslated, at_least=1
    )
    assert (translated.message_id, translated.language, translated.provider) == ("m1", "en", "deepl")
    assert "meine order ist" in translated.text  # the local engine translates word by word


async def test_a_reply_is_released_translated_or_as_it_is(parts: Parts) -> None:
    outbound = channel_events.OutboundMessage(
        message_id="r1", conversation_id="conv-1", channel=message_pb2.CHANNEL_SMS, text="hello thanks"
    )
    await parts.pipeline.reply(outbound, "de", "ada", first_delivery=True)
    same = channel_events.OutboundMessage(message_id="r2", conversation_id="conv-1", text="hello")
    await parts.pipeline.reply(same, "en", "ada", first_delivery=True)
    released = await stored_events(
        parts.nats_url, "translation.reply_translated", translation_events.ReplyTranslated, at_least=2
    )
    by_id = {r.outbound.message_id: r for r in released}
    assert (by_id["r1"].outbound.text, by_id["r1"].original_text, by_id["r1"].provider) == (
        "hallo danke",
        "hello thanks",
        "deepl",
    )
    assert (by_id["r2"].outbound.text, by_id["r2"].provider) == ("hello", "")


async def test_a_reply_no_engine_can_translate_goes_out_as_written_at_once(parts: Parts) -> None:
    # The local engine serves German and English only: waiting would never bring a Japanese translation.
    outbound = channel_events.OutboundMessage(
        message_id="r3", conversation_id="conv-1", channel=message_pb2.CHANNEL_SMS, text="hello thanks"
    )
    await parts.pipeline.reply(outbound, "ja", "ada", first_delivery=True)
    [released] = await stored_events(
        parts.nats_url, "translation.reply_translated", translation_events.ReplyTranslated, at_least=1
    )
    assert (released.outbound.text, released.provider, released.language) == ("hello thanks", "", "en")


async def test_the_translation_service_api(parts: Parts) -> None:
    providers = await parts.stub.ListProviders(pb.ListProvidersRequest())
    [deepl] = providers.providers
    assert deepl.name == "deepl" and deepl.healthy and pb.LanguagePair(source="de", target="en") in deepl.pairs
    detected = await parts.stub.DetectLanguage(pb.DetectLanguageRequest(text="Hola, mi pedido no ha llegado todavía"))
    assert detected.language == "es" and detected.confidence > 0.5
    done = await parts.stub.Translate(pb.TranslateRequest(text="hallo", source_language="de", target_language="en"))
    assert (done.text, done.provider) == ("hello", "deepl")
    for bad in (
        pb.TranslateRequest(text="", target_language="en"),
        pb.TranslateRequest(text="x", target_language="english"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await parts.stub.Translate(bad)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as unsupported:
        await parts.stub.Translate(pb.TranslateRequest(text="hola", source_language="es", target_language="de"))
    assert unsupported.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    parts.deepl.down = True
    with pytest.raises(grpc.aio.AioRpcError) as down:
        await parts.stub.Translate(pb.TranslateRequest(text="danke", source_language="de", target_language="en"))
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    await asyncio.sleep(0)


async def test_each_tenant_has_its_own_glossary(parts: Parts) -> None:
    assert list((await parts.stub.GetGlossary(pb.GetGlossaryRequest(tenant_id="acme"))).terms) == []
    saved = await parts.stub.SetGlossary(pb.SetGlossaryRequest(tenant_id="acme", terms=[" hallo ", "danke", "danke"]))
    assert list(saved.terms) == ["danke", "hallo"]
    kept = await parts.stub.Translate(
        pb.TranslateRequest(text="hallo danke", source_language="de", target_language="en", tenant_id="acme")
    )
    assert kept.text == "hallo danke"  # the tenant's terms are never translated
    other = await parts.stub.Translate(
        pb.TranslateRequest(text="hallo danke", source_language="de", target_language="en")
    )
    assert other.text == "hello thanks"  # another tenant's glossary does not apply (nor its cache)


async def test_the_detection_is_announced_only_where_it_says_more_than_the_first_guess(parts: Parts) -> None:
    # Threading stored "es" with the first message, and "de" (wrong) with the second.
    spanish = "Hola, mi pedido no ha llegado y espero desde hace una semana"
    await parts.pipeline.customer_message("m1", "conv-1", "cust-1", spanish, True, stored_language="es")
    english = "Hello, my order has not arrived and I have been waiting for a week"
    await parts.pipeline.customer_message("m2", "conv-2", "cust-2", english, True, stored_language="de")
    # Each call returns once what it announces is stored: what is stored now is all there will be.
    detected = await stored_events(
        parts.nats_url, "translation.language_detected", translation_events.LanguageDetected, at_least=1
    )
    assert [(d.message_id, d.language, d.fallback) for d in detected] == [("m2", "en", False)]
