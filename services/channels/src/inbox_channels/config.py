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

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        return cls(
            common=common,
            grpc_port=env("CHANNELS_GRPC_PORT", int, 50054),
            http_port=env("CHANNELS_HTTP_PORT", int, 8081),
            db_path=env("CHANNELS_DB_PATH", Path, common.data_dir / "channels.sqlite3"),
            adapters=env_list("CHANNELS_ADAPTERS"),
        )
