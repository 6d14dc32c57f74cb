"""inbox.access.v1.AccessService on the conversations endpoint: API keys, created, listed and revoked
in the bucket every service reads."""

from __future__ import annotations

from typing import Any

import grpc
from inbox.access.v1 import access_pb2 as pb
from inbox.access.v1 import access_pb2_grpc as pb_grpc
from inbox_events.api_keys import ApiKeyStore, record_to_proto
from inbox_runtime.callers import current_caller
from inbox_runtime.errors import InvalidInput
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors

Context = grpc.aio.ServicerContext[Any, Any]


class AccessApi(pb_grpc.AccessServiceServicer):
    def __init__(self, keys: ApiKeyStore) -> None:
        self._keys = keys

    @translate_errors
    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: Context) -> pb.CreateApiKeyResponse:
        issued = await self._keys.create(request.name, list(request.scopes), created_by=current_caller().actor)
        return pb.CreateApiKeyResponse(key=record_to_proto(issued.record, with_digest=False), api_key=issued.text)

    @translate_errors
    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: Context) -> pb.RevokeApiKeyResponse:
        if not request.key_id:
            raise InvalidInput("key_id is required")
        record = await self._keys.revoke(request.key_id, revoked_by=current_caller().actor)
        return pb.RevokeApiKeyResponse(key=record_to_proto(record, with_digest=False))

    @translate_errors
    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: Context) -> pb.ListApiKeysResponse:
        return pb.ListApiKeysResponse(keys=[record_to_proto(r, with_digest=False) for r in await self._keys.list()])


def registration(keys: ApiKeyStore) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["AccessService"].full_name,
        servicer=AccessApi(keys),
        add_to_server=pb_grpc.add_AccessServiceServicer_to_server,
    )
