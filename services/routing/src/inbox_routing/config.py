from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inbox_runtime.config import CommonSettings, env


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    grpc_port: int
    db_path: Path

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        return cls(
            common=common,
            grpc_port=env("ROUTING_GRPC_PORT", int, 50052),
            db_path=env("ROUTING_DB_PATH", Path, common.data_dir / "routing.sqlite3"),
        )
