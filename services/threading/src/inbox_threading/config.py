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
            grpc_port=env("THREADING_GRPC_PORT", int, 50051),
            db_path=env("THREADING_DB_PATH", Path, common.data_dir / "threading.sqlite3"),
        )
