"""One gRPC server bootstrap for every service: health, reflection, API-key auth and scopes, logging, a trace
span and metrics per call, drain."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer as AsyncHealthServicer
from grpc_reflection.v1alpha import reflection
from inbox.access.v1 import access_pb2

from inbox_runtime import tracing
from inbox_runtime.callers import (
    Caller,
    KeySource,
    Refused,
    authenticate,
    permission_denied,
    require_scope,
    reset_current_caller,
    set_current_caller,
)
from inbox_runtime.errors import FailedPrecondition, InvalidInput, NotFound, PermissionDenied, Unavailable
from inbox_runtime.metrics import counter, histogram

log = structlog.get_logger(__name__)

GRPC_CALLS = counter("inbox_grpc_calls_total", "gRPC calls answered, by method and status code", ["method", "code"])
GRPC_SECONDS = histogram("inbox_grpc_call_seconds", "Time to answer a unary gRPC call, by method", ["method"])

# Probes and tooling must work without credentials; everything else needs a key with the method's scope.
UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer and the generated `add_*_to_server` function that mounts it."""

    full_name: str
    servicer: object
    add_to_server: Callable[[Any, grpc.aio.Server], None]


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Every call but health and reflection must present a valid API key holding the scope its method
    declares in the proto; the servicer then finds the caller with `current_caller()`."""

    def __init__(self, keys: KeySource) -> None:
        self._keys = keys

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
        metadata: Sequence[tuple[str, str | bytes]] = tuple(handler_call_details.invocation_metadata or ())  # type: ignore[arg-type]
        try:
            caller = await self._caller(method, metadata)
        except Refused as refused:
            log.warning("rpc_refused", rpc=method, reason=str(refused))
            code = grpc.StatusCode.UNAUTHENTICATED if refused.unauthenticated else grpc.StatusCode.PERMISSION_DENIED
            GRPC_CALLS.labels(method, code.name).inc()
            return _denying_handler(handler, code, str(refused))
        structlog.contextvars.bind_contextvars(**caller.log_fields)
        return _as_caller(handler, caller, method, _trace_carrier(metadata))

    async def _caller(self, method: str, metadata: Sequence[tuple[str, str | bytes]]) -> Caller:
        caller = await authenticate(self._keys, next((v for k, v in metadata if k == "authorization"), None), metadata)
        scope = required_scope(method)
        if not scope:
            raise permission_denied(f"{method} declares no scope, so no key may call it")
        require_scope(caller, scope)
        return caller


@functools.cache
def required_scope(method: str) -> str:
    """The scope a method ("/pkg.Service/Method") declares with `inbox.access.v1.required_scope`; "" if none."""
    service, _, name = method.lstrip("/").partition("/")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return ""
    scope: str = descriptor.GetOptions().Extensions[access_pb2.required_scope]
    return scope


def _codecs(handler: grpc.RpcMethodHandler[Any, Any]) -> dict[str, Any]:
    """The method's (de)serialisers, for a handler that stands in for it."""
    return {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}


def _trace_carrier(metadata: Sequence[tuple[str, str | bytes]]) -> dict[str, str] | None:
    """The caller's W3C trace context from the call's metadata, when tracing is on and it sent one."""
    if not tracing.tracing_enabled():
        return None
    carrier = {k: v for k, v in metadata if k in ("traceparent", "tracestate") and isinstance(v, str)}
    return carrier or None


def _status_name(context: grpc.aio.ServicerContext[Any, Any], failed: bool) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "UNKNOWN" if failed else "OK"


def _as_caller(
    handler: grpc.RpcMethodHandler[Any, Any], caller: Caller, method: str, carrier: dict[str, str] | None
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler, run with `caller` as the current caller (each RPC runs in its own task, so the
    context variable is the call's alone), in a server span continuing the caller's trace, and counted by
    its status code."""
    kwargs = _codecs(handler)
    calls_ok = GRPC_CALLS.labels(method, "OK")
    seconds = GRPC_SECONDS.labels(method)
    # grpc-stubs type the handlers' behaviours as synchronous; the aio server gives coroutines and async
    # generators.
    if handler.unary_unary is not None:
        unary: Callable[..., Awaitable[object]] = handler.unary_unary  # type: ignore[assignment]

        async def call(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> object:
            token = set_current_caller(caller)
            started = time.perf_counter()
            failed = True
            try:
                with tracing.span(
                    method.lstrip("/"), kind="server", carrier=carrier, attributes={"rpc.system": "grpc"}
                ):
                    result = await unary(request, context)
                failed = False
                return result
            finally:
                reset_current_caller(token)
                seconds.observe(time.perf_counter() - started)
                code = _status_name(context, failed)
                (calls_ok if code == "OK" else GRPC_CALLS.labels(method, code)).inc()

        return grpc.unary_unary_rpc_method_handler(call, **kwargs)
    if handler.unary_stream is not None:
        streaming: Callable[..., AsyncIterator[object]] = handler.unary_stream  # type: ignore[assignment]

        # A stream may stay open for hours: counted when it ends, with no span of its own.
        async def stream(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[object]:
            set_current_caller(caller)
            failed = True
            try:
                async for item in streaming(request, context):
                    yield item
                failed = False
            finally:
                GRPC_CALLS.labels(method, _status_name(context, failed)).inc()

        return grpc.unary_stream_rpc_method_handler(stream, **kwargs)
    raise TypeError("client-streaming methods are not served by this bootstrap")


def _denying_handler(
    handler: grpc.RpcMethodHandler[Any, Any], code: grpc.StatusCode, reason: str
) -> grpc.RpcMethodHandler[Any, Any]:
    async def deny(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, reason)

    async def deny_stream(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        await context.abort(code, reason)
        yield None  # pragma: no cover - abort raises

    kwargs = _codecs(handler)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(deny, **kwargs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(deny_stream, **kwargs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    return grpc.stream_stream_rpc_method_handler(deny_stream, **kwargs)


class HealthServicer(AsyncHealthServicer):  # type: ignore[misc]  # the package ships no type hints
    """grpc.health.v1 with `List` too: grpcio-health-checking's asyncio servicer does not implement it, and
    a call to it (grpcurl, Kubernetes tooling) raised NotImplementedError inside the server."""

    async def List(self, request: health_pb2.HealthListRequest, context: object) -> health_pb2.HealthListResponse:
        statuses = {name: health_pb2.HealthCheckResponse(status=status) for name, status in self._server_status.items()}
        return health_pb2.HealthListResponse(statuses=statuses)


@dataclass
class RunningGrpcServer:
    server: grpc.aio.Server
    port: int
    health: HealthServicer
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
    keys: KeySource,
    services: Sequence[ServiceRegistration],
    grace_seconds: float = 10.0,
) -> AsyncIterator[RunningGrpcServer]:
    """Start a server with the given services; on exit, stop taking calls and let in-flight ones finish.

    Health stays NOT_SERVING until the caller says otherwise (`set_serving`), once its dependencies
    (store, bus, streams) are ready.
    """
    server = grpc.aio.server(interceptors=[ApiKeyInterceptor(keys)])
    health_servicer = HealthServicer()
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
        except PermissionDenied as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except Unavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))

    return wrapper  # type: ignore[return-value]
