"""Settings come from environment variables only, each with a documented default or a clear error."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:
    from inbox_runtime.mongo import MongoTarget

T = TypeVar("T")

_MISSING = object()


class ConfigError(Exception):
    """A setting is missing or cannot be read; the message names the variable."""


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


@overload
def env(key: str, cast: Callable[[str], T], default: T) -> T: ...
@overload
def env(key: str, cast: Callable[[str], T]) -> T: ...
@overload
def env(key: str) -> str: ...


def env(key: str, cast: Callable[[str], object] = str, default: object = _MISSING) -> object:
    """Read `key`, converted by `cast`; fall back to `default`; fail naming the key otherwise."""
    raw = os.environ.get(key)
    if raw is None or raw == "":
        if default is _MISSING:
            raise ConfigError(f"environment variable {key} is required")
        return default
    if cast is bool:
        cast = _parse_bool
    try:
        return cast(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {key}={raw!r} is invalid: {exc}") from exc


def env_list(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list; blanks are dropped."""
    raw = os.environ.get(key)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def secret(key: str, *, min_length: int = 16) -> str:
    """A required secret (token, signing key); too-short values are refused at start-up."""
    value = env(key)
    if len(value) < min_length:
        raise ConfigError(f"environment variable {key} must be at least {min_length} characters")
    return value


@dataclass(frozen=True)
class CommonSettings:
    """Settings every service reads, unprefixed."""

    nats_url: str
    api_token: str
    bind_host: str
    data_dir: Path
    log_json: bool | None
    log_level: str
    # The production store; unset means each service keeps its SQLite file under data_dir.
    mongodb: MongoTarget | None = None

    @classmethod
    def from_env(cls) -> CommonSettings:
        from inbox_runtime.mongo import mongo_target  # imports pymongo: only where settings are read

        return cls(
            nats_url=env("NATS_URL", str, "nats://127.0.0.1:4222"),
            api_token=secret("INBOX_API_TOKEN"),
            bind_host=env("BIND_HOST", str, "127.0.0.1"),
            data_dir=env("DATA_DIR", Path, Path("var/data")),
            # Unset: JSON when stderr is not a terminal.
            log_json=env("LOG_JSON", bool, None),
            log_level=env("LOG_LEVEL", str, "INFO"),
            mongodb=mongo_target(raw_mongo) if (raw_mongo := env("MONGODB_URI", str, "")) else None,
        )
