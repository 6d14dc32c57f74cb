"""inbox.translation.v1.TranslationService.

Until a provider is configured (TRANSLATION_PROVIDERS) the service lists no providers and answers
FAILED_PRECONDITION to Translate and DetectLanguage, so callers can tell "off" from "broken".
"""

from __future__ import annotations

from typing import Any

import grpc
from inbox.translation.v1 import translation_service_pb2 as pb
from inbox.translation.v1 import translation_service_pb2_grpc as pb_grpc
from inbox_runtime.errors import FailedPrecondition, InvalidInput
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors

Context = grpc.aio.ServicerContext[Any, Any]


class TranslationApi(pb_grpc.TranslationServiceServicer):
    def __init__(self, providers: tuple[str, ...]) -> None:
        if providers:
            raise FailedPrecondition(f"translation providers {list(providers)} are not available in this build")

    @translate_errors
    async def ListProviders(self, request: pb.ListProvidersRequest, context: Context) -> pb.ListProvidersResponse:
        return pb.ListProvidersResponse(providers=[])

    @translate_errors
    async def DetectLanguage(self, request: pb.DetectLanguageRequest, context: Context) -> pb.DetectLanguageResponse:
        if not request.text.strip():
            raise InvalidInput("text is required")
        raise FailedPrecondition("no language detector is configured")

    @translate_errors
    async def Translate(self, request: pb.TranslateRequest, context: Context) -> pb.TranslateResponse:
        if not request.text.strip() or not request.target_language:
            raise InvalidInput("text and target_language are required")
        raise FailedPrecondition("no translation provider is configured")


def registration(providers: tuple[str, ...]) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["TranslationService"].full_name,
        servicer=TranslationApi(providers),
        add_to_server=pb_grpc.add_TranslationServiceServicer_to_server,
    )
