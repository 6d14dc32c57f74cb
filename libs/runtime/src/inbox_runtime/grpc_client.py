"""gRPC channels to the suite's services, carrying an API key on every call, the caller's trace context
when tracing is on, and, inside `acting_for`, the agent the call is made for (believed only from a key
holding `agents:act-as`)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from inbox_runtime import tracing
from inbox_runtime.callers import Agent, agent_metadata

_ACTING_FOR: contextvars.ContextVar[Agent | None] = contextvars.ContextVar("inbox_acting_for", default=None)


@contextlib.contextmanager
def acting_for(agent: Agent | None) -> Iterator[None]:
    """Calls made inside this block (in this task and the tasks it starts) are made for `agent`."""
    token = _ACTING_FOR.set(agent)
    try:
        yield
    finally:
        _ACTING_FOR.reset(token)


def _with_key(details: grpc.aio.ClientCallDetails, api_key: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata["authorization"] = f"Bearer {api_key}"
    agent = _ACTING_FOR.get()
    if agent is not None:
        for key, value in agent_metadata(agent):
            metadata.add(key, value)
    for key, value in tracing.current_trace_context().items():  # the server's span continues this trace
        metadata[key] = value
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _UnaryUnaryKey(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc,type-arg]
    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_key(client_call_details, self._api_key), request)


class _UnaryStreamKey(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc,type-arg]
    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_key(client_call_details, self._api_key), request)


# Calls spread over every address the target names, and skip one that stopped answering: a service's
# replicas behind one DNS name (a Kubernetes headless Service, a compose network alias) or listed as
# `ipv4:10.0.0.4:50051,10.0.0.5:50051`. The default (pick_first) would send everything to one replica and,
# when it dies, fail calls until the reconnection finds another.
CHANNEL_OPTIONS = (("grpc.lb_policy_name", "round_robin"),)


def authenticated_channel(target: str, api_key: str) -> grpc.aio.Channel:
    """An insecure channel (TLS is terminated by the deployment's mesh) that authenticates every call."""
    # grpc-stubs types interceptors as a partial stub that must be cast.
    interceptors: list[Any] = [_UnaryUnaryKey(api_key), _UnaryStreamKey(api_key)]
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
