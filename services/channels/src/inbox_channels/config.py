from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inbox_runtime.config import CommonSettings, env, env_list


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    grpc_port: int
    http_port: int
    db_path: Path
    # Empty: every installed adapter.
    adapters: tuple[str, ...]
    # How fast one sender (a phone number, an address, a chat visitor) may write: a burst, then a rate.
    sender_per_minute: int
    sender_burst: int
    # Threading's gRPC endpoint: contact pressure is asked there before each proactive message.
    conversations_target: str = "127.0.0.1:50051"

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        return cls(
            common=common,
            grpc_port=env("CHANNELS_GRPC_PORT", int, 50054),
            http_port=env("CHANNELS_HTTP_PORT", int, 8081),
            db_path=env("CHANNELS_DB_PATH", Path, common.data_dir / "channels.sqlite3"),
            adapters=env_list("CHANNELS_ADAPTERS"),
            sender_per_minute=env("CHANNELS_SENDER_PER_MINUTE", int, 60),
            sender_burst=env("CHANNELS_SENDER_BURST", int, 20),
            conversations_target=env("CONVERSATIONS_GRPC_TARGET", str, "127.0.0.1:50051"),
        )
