from __future__ import annotations

from dataclasses import dataclass

from inbox_runtime.config import CommonSettings, env


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    http_port: int
    conversations_target: str
    routing_target: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            common=CommonSettings.from_env(),
            http_port=env("WEB_HTTP_PORT", int, 8080),
            conversations_target=env("CONVERSATIONS_GRPC_TARGET", str, "127.0.0.1:50051"),
            routing_target=env("ROUTING_GRPC_TARGET", str, "127.0.0.1:50052"),
        )
