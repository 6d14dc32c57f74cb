from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inbox_runtime.config import CommonSettings, ConfigError, env

from inbox_routing.domain import SECOND_US, RoutingPolicy


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    grpc_port: int
    db_path: Path
    policy: RoutingPolicy
    # TOML rules loaded at start (then editable through RoutingService.UpdateRules until the next start).
    rules_file: Path | None

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        rules_file = env("ROUTING_RULES_FILE", Path, None)
        if rules_file is not None and not rules_file.is_file():
            raise ConfigError(f"ROUTING_RULES_FILE: {rules_file} is not a file")
        return cls(
            common=common,
            grpc_port=env("ROUTING_GRPC_PORT", int, 50052),
            db_path=env("ROUTING_DB_PATH", Path, common.data_dir / "routing.sqlite3"),
            policy=RoutingPolicy(
                offer_timeout_us=int(env("ROUTING_OFFER_TIMEOUT_SECONDS", float, 30.0) * SECOND_US),
                known_agent_window_us=int(env("ROUTING_KNOWN_AGENT_DAYS", float, 30.0) * 24 * 3600 * SECOND_US),
                # 0: off. Set it when agents' clients send heartbeats continuously.
                presence_grace_us=int(env("ROUTING_PRESENCE_GRACE_SECONDS", float, 0.0) * SECOND_US),
                release_on_offline=env("ROUTING_RELEASE_ON_OFFLINE", bool, True),
                average_handle_seconds=env("ROUTING_AVERAGE_HANDLE_SECONDS", int, 240),
                first_response_us=int(env("ROUTING_FIRST_RESPONSE_SECONDS", float, 300.0) * SECOND_US),
                next_response_us=int(env("ROUTING_NEXT_RESPONSE_SECONDS", float, 900.0) * SECOND_US),
                breach_priority_boost=env("ROUTING_BREACH_PRIORITY_BOOST", int, 10),
            ),
            rules_file=rules_file,
        )


def read_rules_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"ROUTING_RULES_FILE {path}: {exc}") from None
