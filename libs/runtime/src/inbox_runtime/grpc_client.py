"""gRPC channels to the suite's services, carrying the bearer token on every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc


def _with_token(details: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata["authorization"] = f"Bearer {token}"
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _UnaryUnaryToken(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc,type-arg]
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_token(client_call_details, self._token), request)


class _UnaryStreamToken(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc,type-arg]
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_token(client_call_details, self._token), request)


def authenticated_channel(target: str, token: str) -> grpc.aio.Channel:
    """An insecure channel (TLS is terminated by the deployment's mesh) that authenticates every call."""
    # grpc-stubs types interceptors as a partial stub that must be cast.
    interceptors: list[Any] = [_UnaryUnaryToken(token), _UnaryStreamToken(token)]
    return grpc.aio.insecure_channel(target, interceptors=interceptors)
