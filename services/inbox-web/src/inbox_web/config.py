from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inbox_runtime.config import CommonSettings, env, secret


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    http_port: int
    conversations_target: str
    routing_target: str
    channels_target: str
    db_path: Path
    session_secret: str
    # Set true behind HTTPS so the session cookie is never sent in clear.
    secure_cookies: bool
    session_hours: int

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        return cls(
            common=common,
            http_port=env("WEB_HTTP_PORT", int, 8080),
            conversations_target=env("CONVERSATIONS_GRPC_TARGET", str, "127.0.0.1:50051"),
            routing_target=env("ROUTING_GRPC_TARGET", str, "127.0.0.1:50052"),
            channels_target=env("CHANNELS_GRPC_TARGET", str, "127.0.0.1:50054"),
            db_path=env("WEB_DB_PATH", Path, common.data_dir / "web.sqlite3"),
            session_secret=secret("WEB_SESSION_SECRET", min_length=32),
            secure_cookies=env("WEB_SECURE_COOKIES", bool, False),
            session_hours=env("WEB_SESSION_HOURS", int, 12),
        )
