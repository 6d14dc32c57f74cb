"""The translation pipeline: customers' messages detected and translated for their agent; agents'
replies translated for the customer before delivery. Engine outages are retried by the bus."""

from __future__ import annotations

import time

import grpc
import structlog
from inbox.channels.v1 import events_pb2 as channel_events
from inbox.message.v1 import message_pb2
from inbox.routing.v1 import routing_service_pb2, routing_service_pb2_grpc
from inbox.translation.v1 import events_pb2 as translation_events
from inbox_events import EventBus, Outgoing
from inbox_language import SENTIMENT_LANGUAGE, SentimentModel

from inbox_translation.actions import Translator
from inbox_translation.domain import (
    CustomerMessage,
    FailedPrecondition,
    SentimentSource,
    guess_stands,
    needs_translation,
    sentiment_source,
)
from inbox_translation.providers import ProviderUnavailable
from inbox_translation.store import TranslationStore

log = structlog.get_logger(__name__)

AGENT_CACHE_SECONDS = 60.0


class AgentLanguages:
    """An agent's working language (their first), asked of routing and kept for a minute."""

    def __init__(self, routing: routing_service_pb2_grpc.RoutingServiceAsyncStub) -> None:
        self._routing = routing
        self._cache: dict[str, tuple[float, str]] = {}

    async def of(self, agent_id: str) -> str:
        if not agent_id or agent_id == "system":
            return ""
        cached = self._cache.get(agent_id)
        if cached is not None and time.monotonic() - cached[0] < AGENT_CACHE_SECONDS:
            return cached[1]
        try:
            reply = await self._routing.GetAgent(routing_service_pb2.GetAgentRequest(agent_id=agent_id), timeout=5)
            language = reply.agent.languages[0] if reply.agent.languages else ""
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise ProviderUnavailable(f"routing: {exc.code().name}") from None
            language = ""
        self._cache[agent_id] = (time.monotonic(), language)
        return language


class TranslationPipeline:
    def __init__(
        self,
        translator: Translator,
        store: TranslationStore,
        bus: EventBus,
        agents: AgentLanguages,
        sentiment: SentimentModel | None = None,
    ) -> None:
        self._translator = translator
        self._store = store
        self._bus = bus
        self._agents = agents
        self._sentiment = sentiment

    async def customer_message(
        self,
        message_id: str,
        conversation_id: str,
        customer_id: str,
        text: str,
        first_delivery: bool,
        tenant_id: str = "",
        stored_language: str = "",
        scored_as_stored: bool = False,
    ) -> None:
        """Detect the language (the customer's known one when the text says too little), then translate
        for the conversation's agent if they read another language, and score the message's sentiment where
        threading could not (see `sentiment_source`). `stored_language` is threading's first guess, stored
        with the message: the detection is announced only when it says something else."""
        known = await self._store.customer_language(customer_id)
        detection = self._translator.detect(text, known)
        sure = detection.language if detection.language and not detection.fallback else ""
        await self._store.remember_message(
            CustomerMessage(message_id, conversation_id, customer_id, text, detection.language), customer_language=sure
        )
        if not guess_stands(stored_language, detection, known):
            detected = translation_events.LanguageDetected(
                message_id=message_id,
                conversation_id=conversation_id,
                customer_id=customer_id,
                language=detection.language,
                confidence=detection.confidence,
                fallback=detection.fallback,
            )
            await self._bus.publish(detected, event_id=f"language:{message_id}")
        await self.translate_for_agent(conversation_id, first_delivery, tenant_id)
        source = sentiment_source(detection.language, scored_as_stored)
        if source is not None and self._sentiment is not None:
            message = CustomerMessage(message_id, conversation_id, customer_id, text, detection.language)
            await self._score(message, source, tenant_id)

    async def _score(self, message: CustomerMessage, source: SentimentSource, tenant_id: str) -> None:
        """Score the message (on its English translation when written in another language) and announce it.
        An engine outage raises (the bus retries); a language no engine translates to English goes unscored."""
        assert self._sentiment is not None
        text, translated_from = message.text, ""
        if source is SentimentSource.TRANSLATION:
            if not await self._translator.offers(message.language, SENTIMENT_LANGUAGE):
                return  # no engine reads this language into English: unscored, not guessed
            try:
                done = await self._translator.translate(
                    message.text, message.language, SENTIMENT_LANGUAGE, tenant_id, owner=message.customer_id
                )
            except FailedPrecondition:
                log.info("sentiment_not_scored", message_id=message.message_id, language=message.language)
                return
            text, translated_from = done.text, message.language
        scored = self._sentiment.score(text, translated_from)
        if scored is None:
            return
        event = translation_events.SentimentScored(
            message_id=message.message_id,
            conversation_id=message.conversation_id,
            customer_id=message.customer_id,
            sentiment=message_pb2.Sentiment(
                score=scored.score, label=scored.label, translated_from=scored.translated_from
            ),
        )
        await self._bus.publish(event, event_id=f"sentiment:{message.message_id}")

    async def agent_assigned(
        self, conversation_id: str, agent_id: str, first_delivery: bool, tenant_id: str = ""
    ) -> None:
        await self._store.set_conversation_agent(conversation_id, agent_id)
        await self.translate_for_agent(conversation_id, first_delivery, tenant_id, agent_id=agent_id)

    async def translate_for_agent(
        self, conversation_id: str, first_delivery: bool, tenant_id: str = "", *, agent_id: str | None = None
    ) -> None:
        """Translate what the conversation's agent (`agent_id`, else the one stored) has not read in their
        language yet."""
        if agent_id is None:
            agent_id = await self._store.conversation_agent(conversation_id)
        agent_language = await self._agents.of(agent_id)
        if not agent_language:
            return
        for message in await self._store.untranslated(conversation_id, agent_language):
            if not needs_translation(message.language, agent_language):
                continue
            try:
                done = await self._translator.translate(
                    message.text, message.language, agent_language, tenant_id, owner=message.customer_id
                )
            except ProviderUnavailable as exc:
                if first_delivery:
                    await self._pending(message.message_id, conversation_id, str(exc))
                raise
            translated = translation_events.MessageTranslated(
                message_id=message.message_id,
                conversation_id=conversation_id,
                language=agent_language,
                text=done.text,
                provider=done.provider,
            )
            await self._bus.publish(translated, event_id=f"translated:{message.message_id}:{agent_language}")
            await self._store.mark_translated(message.message_id, agent_language)

    async def reply(
        self,
        outbound: channel_events.OutboundMessage,
        customer_language: str,
        agent_id: str,
        first_delivery: bool,
        tenant_id: str = "",
    ) -> None:
        """An agent's reply, in the customer's language, released for delivery."""
        source = await self._agents.of(agent_id) or self._translator.detect(outbound.text).language
        original = outbound.text
        provider = ""
        language = customer_language
        if needs_translation(source, customer_language):
            try:
                done = await self._translator.translate(
                    original, source, customer_language, tenant_id, owner=outbound.customer_id
                )
            except ProviderUnavailable as exc:
                if first_delivery:
                    await self._pending(outbound.message_id, outbound.conversation_id, str(exc))
                raise
            except FailedPrecondition as exc:
                # No engine serves the pair, or the engine would not keep protected text: waiting changes
                # neither (unlike an outage), so the reply goes out as written, in the agent's language.
                log.warning(
                    "reply_sent_untranslated",
                    message_id=outbound.message_id,
                    conversation_id=outbound.conversation_id,
                    source=source,
                    target=customer_language,
                    reason=str(exc),
                )
                language = source
            else:
                outbound.text, provider = done.text, done.provider
        ready = translation_events.ReplyTranslated(
            outbound=outbound, original_text=original, language=language, provider=provider
        )
        await self._bus.publish_all([Outgoing(ready, f"reply-translated:{outbound.message_id}", outbound.message_id)])
        log.info("reply_translated", message_id=outbound.message_id, translated=bool(provider))

    async def forget_customer(self, customer_id: str) -> None:
        await self._store.forget_customer(customer_id)

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> None:
        await self._store.merge_customers(surviving_customer_id, merged_customer_id)
        log.info("customers_merged", customer_id=surviving_customer_id, merged_customer_id=merged_customer_id)

    async def _pending(self, message_id: str, conversation_id: str, reason: str) -> None:
        pending = translation_events.TranslationPending(
            message_id=message_id, conversation_id=conversation_id, reason=reason[:300]
        )
        await self._bus.publish(pending, event_id=f"translation-pending:{message_id}")
        log.warning("translation_pending", message_id=message_id, conversation_id=conversation_id)
