from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inbox_runtime.config import CommonSettings, ConfigError, env, env_list

from inbox_threading.domain import DAY_US, ThreadPolicies, ThreadPolicy


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    grpc_port: int
    db_path: Path
    policies: ThreadPolicies
    snooze_check_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        return cls(
            common=common,
            grpc_port=env("THREADING_GRPC_PORT", int, 50051),
            db_path=env("THREADING_DB_PATH", Path, common.data_dir / "threading.sqlite3"),
            policies=ThreadPolicies(
                default=ThreadPolicy(reopen_window_us=int(env("THREADING_REOPEN_WINDOW_DAYS", float, 7.0) * DAY_US)),
                per_inbox=tuple(_per_inbox(env_list("THREADING_INBOX_REOPEN_WINDOW_DAYS"))),
            ),
            snooze_check_seconds=env("THREADING_SNOOZE_CHECK_SECONDS", float, 30.0),
        )


def _per_inbox(items: tuple[str, ...]) -> list[tuple[str, ThreadPolicy]]:
    """`sales=3,vip=30`: reopen windows in days for some inboxes."""
    policies = []
    for item in items:
        inbox, _, days = item.partition("=")
        try:
            window = float(days)
        except ValueError:
            raise ConfigError(f"THREADING_INBOX_REOPEN_WINDOW_DAYS: {item!r} is not inbox=days") from None
        policies.append((inbox.strip(), ThreadPolicy(reopen_window_us=int(window * DAY_US))))
    return policies
