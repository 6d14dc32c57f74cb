"""The gRPC bootstrap's authentication over a real server and channel: keys, scopes, the agent a call is
made for, and that every RPC of every service declares the scope it needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from inbox.translation.v1 import translation_service_pb2 as pb
from inbox.translation.v1 import translation_service_pb2_grpc as pb_grpc
from inbox_runtime.callers import Agent, IssuedKey, StaticKeys, current_caller, issue_key
from inbox_runtime.grpc_client import acting_for, authenticated_channel
from inbox_runtime.grpc_server import ServiceRegistration, grpc_server, required_scope

PROTO_ROOT = Path(__file__).resolve().parents[3] / "proto"


class Echo(pb_grpc.TranslationServiceServicer):
    """Answers with who it was called by (in the provider's name)."""

    async def ListProviders(self, request: pb.ListProvidersRequest, context: Any) -> pb.ListProvidersResponse:
        caller = current_caller()
        agent = caller.agent
        name = f"{caller.key_name}|{agent.agent_id if agent else ''}|{','.join(agent.teams) if agent else ''}"
        return pb.ListProvidersResponse(providers=[pb.Provider(name=name, healthy=bool(agent and agent.supervisor))])

    async def SetGlossary(self, request: pb.SetGlossaryRequest, context: Any) -> pb.SetGlossaryResponse:
        return pb.SetGlossaryResponse()


def key(name: str, *scopes: str) -> IssuedKey:
    return issue_key(name, scopes, created_by="test", now_us=1)


READER = key("reader", "translation:use")
WEB = key("inbox-web", "translation:use", "agents:act-as")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    registration = ServiceRegistration(
        pb.DESCRIPTOR.services_by_name["TranslationService"].full_name,
        Echo(),
        pb_grpc.add_TranslationServiceServicer_to_server,
    )
    async with grpc_server(
        host="127.0.0.1", port=0, keys=StaticKeys.of(READER, WEB), services=[registration]
    ) as server:
        await server.set_serving()
        yield server.port


async def code_of(target: str, api_key: str, request: Any = None) -> grpc.StatusCode:
    async with authenticated_channel(target, api_key) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await pb_grpc.TranslationServiceStub(channel).SetGlossary(request or pb.SetGlossaryRequest())
    return raised.value.code()


async def test_a_call_needs_a_known_key_holding_the_methods_scope(port: int) -> None:
    target = f"127.0.0.1:{port}"
    async with grpc.aio.insecure_channel(target) as bare:
        with pytest.raises(grpc.aio.AioRpcError) as none:
            await pb_grpc.TranslationServiceStub(bare).ListProviders(pb.ListProvidersRequest())
        assert none.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # Probes need no key.
        health = await health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        listed_health = await health_pb2_grpc.HealthStub(bare).List(health_pb2.HealthListRequest())
        assert {name: s.status for name, s in listed_health.statuses.items()} == {
            "": health_pb2.HealthCheckResponse.SERVING,
            "inbox.translation.v1.TranslationService": health_pb2.HealthCheckResponse.SERVING,
        }
    stranger = key("stranger", "translation:use")  # well formed, never stored
    assert await code_of(target, stranger.text) == grpc.StatusCode.UNAUTHENTICATED
    tampered = READER.text[:-1] + ("A" if READER.text[-1] != "A" else "B")
    assert await code_of(target, tampered) == grpc.StatusCode.UNAUTHENTICATED
    # SetGlossary needs translation:admin, which the reader lacks.
    assert await code_of(target, READER.text) == grpc.StatusCode.PERMISSION_DENIED
    async with authenticated_channel(target, READER.text) as channel:
        listed = await pb_grpc.TranslationServiceStub(channel).ListProviders(pb.ListProvidersRequest())
    assert listed.providers[0].name == "reader||"


async def test_only_an_act_as_key_calls_for_an_agent_and_the_servicer_sees_who(port: int) -> None:
    target = f"127.0.0.1:{port}"
    ada = Agent("ada", ("billing", "Équipe"), supervisor=True)
    async with authenticated_channel(target, WEB.text) as channel:
        with acting_for(ada):
            listed = await pb_grpc.TranslationServiceStub(channel).ListProviders(pb.ListProvidersRequest())
    assert listed.providers[0].name == "inbox-web|ada|billing,Équipe" and listed.providers[0].healthy
    async with authenticated_channel(target, READER.text) as channel:
        with acting_for(ada), pytest.raises(grpc.aio.AioRpcError) as claimed:
            await pb_grpc.TranslationServiceStub(channel).ListProviders(pb.ListProvidersRequest())
    assert claimed.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "agents:act-as" in (claimed.value.details() or "")


def test_every_rpc_of_every_service_declares_a_known_scope() -> None:
    import importlib

    from inbox_runtime.callers import SCOPES

    services = []
    for proto in PROTO_ROOT.rglob("*_service.proto"):
        module = importlib.import_module(str(proto.relative_to(PROTO_ROOT).with_suffix("")).replace("/", ".") + "_pb2")
        services.extend(module.DESCRIPTOR.services_by_name.values())
    access = importlib.import_module("inbox.access.v1.access_pb2")
    services.extend(access.DESCRIPTOR.services_by_name.values())
    assert len(services) >= 5
    undeclared = [
        f"{s.full_name}/{m.name}"
        for s in services
        for m in s.methods
        if required_scope(f"/{s.full_name}/{m.name}") not in SCOPES
    ]
    assert undeclared == []
    assert required_scope("/inbox.nothing.v1.NoService/Nothing") == ""


class Named(pb_grpc.TranslationServiceServicer):
    """Answers with the name of the replica that took the call."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def ListProviders(self, request: pb.ListProvidersRequest, context: Any) -> pb.ListProvidersResponse:
        return pb.ListProvidersResponse(providers=[pb.Provider(name=self.name)])


def replica(name: str) -> Any:
    registration = ServiceRegistration(
        pb.DESCRIPTOR.services_by_name["TranslationService"].full_name,
        Named(name),
        pb_grpc.add_TranslationServiceServicer_to_server,
    )
    return grpc_server(host="127.0.0.1", port=0, keys=StaticKeys.of(READER), services=[registration])


async def test_calls_spread_over_a_services_replicas_and_skip_one_that_is_gone() -> None:
    async with replica("a") as a, replica("b") as b:
        target = f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}"
        async with authenticated_channel(target, READER.text) as channel:
            stub = pb_grpc.TranslationServiceStub(channel)

            async def who() -> str:
                return (await stub.ListProviders(pb.ListProvidersRequest())).providers[0].name

            assert {await who() for _ in range(10)} == {"a", "b"}
            await a.server.stop(None)  # gone, as a killed replica is
            # Once the channel has seen a go, every call reaches b; none waits for a to come back.
            answers: list[str] = []
            for _ in range(100):
                try:
                    answers.append(await who())
                except grpc.aio.AioRpcError as error:  # a call that raced a's going
                    assert error.code() == grpc.StatusCode.UNAVAILABLE
                if answers[-10:] == ["b"] * 10:
                    break
            assert answers[-10:] == ["b"] * 10
