"""inbox.translation.v1.TranslationService: proto <-> domain, nothing more."""

from __future__ import annotations

from typing import Any

import grpc
from inbox.translation.v1 import translation_service_pb2 as pb
from inbox.translation.v1 import translation_service_pb2_grpc as pb_grpc
from inbox_runtime.errors import FailedPrecondition
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors

from inbox_translation.actions import Translator
from inbox_translation.providers import ProviderUnavailable

Context = grpc.aio.ServicerContext[Any, Any]


class TranslationApi(pb_grpc.TranslationServiceServicer):
    def __init__(self, translator: Translator) -> None:
        self._translator = translator

    @translate_errors
    async def ListProviders(self, request: pb.ListProvidersRequest, context: Context) -> pb.ListProvidersResponse:
        states = await self._translator.providers(refresh=True)
        return pb.ListProvidersResponse(
            providers=[
                pb.Provider(
                    name=s.name,
                    healthy=s.healthy,
                    pairs=[pb.LanguagePair(source=a, target=b) for a, b in sorted(s.pairs)],
                )
                for s in states
            ]
        )

    @translate_errors
    async def DetectLanguage(self, request: pb.DetectLanguageRequest, context: Context) -> pb.DetectLanguageResponse:
        detection = self._translator.detect(request.text)
        return pb.DetectLanguageResponse(language=detection.language, confidence=detection.confidence)

    @translate_errors
    async def Translate(self, request: pb.TranslateRequest, context: Context) -> pb.TranslateResponse:
        try:
            done = await self._translator.translate(
                request.text, request.source_language, request.target_language, request.tenant_id
            )
        except ProviderUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"translation provider unavailable: {exc}")
            raise  # pragma: no cover - abort raises
        return pb.TranslateResponse(text=done.text, source_language=done.source, provider=done.provider)

    @translate_errors
    async def GetGlossary(self, request: pb.GetGlossaryRequest, context: Context) -> pb.GetGlossaryResponse:
        return pb.GetGlossaryResponse(terms=list(await self._translator.glossary(request.tenant_id)))

    @translate_errors
    async def SetGlossary(self, request: pb.SetGlossaryRequest, context: Context) -> pb.SetGlossaryResponse:
        return pb.SetGlossaryResponse(terms=list(await self._translator.set_glossary(request.tenant_id, request.terms)))


def registration(translator: Translator) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["TranslationService"].full_name,
        servicer=TranslationApi(translator),
        add_to_server=pb_grpc.add_TranslationServiceServicer_to_server,
    )


__all__ = ["FailedPrecondition", "TranslationApi", "registration"]
