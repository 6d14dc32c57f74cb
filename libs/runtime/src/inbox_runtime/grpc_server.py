"""One gRPC server bootstrap for every service: health, reflection, bearer-token auth, logging, drain."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer as AsyncHealthServicer
from grpc_reflection.v1alpha import reflection

from inbox_runtime.auth import bearer_matches
from inbox_runtime.errors import FailedPrecondition, InvalidInput, NotFound

log = structlog.get_logger(__name__)

# Probes and tooling must work without credentials; everything else needs the token.
UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer and the generated `add_*_to_server` function that mounts it."""

    full_name: str
    servicer: object
    add_to_server: Callable[[Any, grpc.aio.Server], None]


def _bearer_matches(metadata: Sequence[tuple[str, str | bytes]] | None, token: str) -> bool:
    authorization = next((value for key, value in metadata or () if key == "authorization"), None)
    return bearer_matches(authorization, token)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses every call but health and reflection unless it carries `authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method: str = handler_call_details.method
        structlog.contextvars.bind_contextvars(rpc=method)
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(UNAUTHENTICATED_PREFIXES):
            return handler
        if _bearer_matches(handler_call_details.invocation_metadata, self._token):  # type: ignore[arg-type]
            return handler
        log.warning("rpc_unauthenticated", rpc=method)
        return _denying_handler(handler)


async def _deny(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")


async def _deny_stream(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
    yield None  # pragma: no cover - abort raises


def _denying_handler(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_deny, **kwargs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_deny_stream, **kwargs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_deny, **kwargs)
    return grpc.stream_stream_rpc_method_handler(_deny_stream, **kwargs)


@dataclass
class RunningGrpcServer:
    server: grpc.aio.Server
    port: int
    health: AsyncHealthServicer
    service_names: tuple[str, ...]

    async def set_serving(self) -> None:
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def enter_graceful_shutdown(self) -> None:
        """Tell probes and load balancers to stop sending new calls."""
        await self.health.enter_graceful_shutdown()


@asynccontextmanager
async def grpc_server(
    *,
    host: str,
    port: int,
    token: str,
    services: Sequence[ServiceRegistration],
    grace_seconds: float = 10.0,
) -> AsyncIterator[RunningGrpcServer]:
    """Start a server with the given services; on exit, stop taking calls and let in-flight ones finish.

    Health stays NOT_SERVING until the caller says otherwise (`set_serving`), once its dependencies
    (store, bus, streams) are ready.
    """
    server = grpc.aio.server(interceptors=[BearerTokenInterceptor(token)])
    health_servicer = AsyncHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for registration in services:
        registration.add_to_server(registration.servicer, server)
    names = tuple(r.full_name for r in services)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC on {host}:{port}")
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.start()
    log.info("grpc_listening", port=bound, services=list(names))
    running = RunningGrpcServer(server=server, port=bound, health=health_servicer, service_names=names)
    try:
        yield running
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace_seconds)
        log.info("grpc_stopped")


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def translate_errors(method: F) -> F:
    """Map domain errors raised inside a servicer method to gRPC status codes with their message."""

    @functools.wraps(method)
    async def wrapper(self: object, request: object, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await method(self, request, context)
        except InvalidInput as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except FailedPrecondition as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    return wrapper  # type: ignore[return-value]
