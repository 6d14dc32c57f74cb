"""Settings come from environment variables only, each with a documented default or a clear error."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:
    from inbox_runtime.http_server import HttpLimits
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


def api_key_setting() -> str:
    """INBOX_API_KEY, or the file INBOX_API_KEY_FILE names (a mounted secret); "" when neither is set."""
    from inbox_runtime.callers import parse_key

    text = env("INBOX_API_KEY", str, "")
    source = "INBOX_API_KEY"
    if not text and (file := env("INBOX_API_KEY_FILE", str, "")):
        source = "INBOX_API_KEY_FILE"
        try:
            text = Path(file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"environment variable INBOX_API_KEY_FILE={file!r} cannot be read: {exc}") from exc
    if text and parse_key(text) is None:
        raise ConfigError(f"{source} does not hold an API key (ibx_<key_id>_<secret>)")
    return text


def _http_limits_default() -> HttpLimits:
    from inbox_runtime.http_server import HttpLimits

    return HttpLimits()


def _positive(cast: Callable[[str], T]) -> Callable[[str], T]:
    def read(raw: str) -> T:
        value = cast(raw)
        if not value > 0:  # type: ignore[operator]
            raise ValueError("must be more than 0")
        return value

    return read


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 < port < 65536:
        raise ValueError("a port is a number from 1 to 65535")
    return port


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return raw


def http_limits_setting() -> HttpLimits:
    from inbox_runtime.http_server import HttpLimits

    default = HttpLimits()
    return HttpLimits(
        header_timeout_seconds=env("HTTP_HEADER_TIMEOUT_SECONDS", _positive(float), default.header_timeout_seconds),
        idle_timeout_seconds=env("HTTP_IDLE_TIMEOUT_SECONDS", _positive(float), default.idle_timeout_seconds),
        max_connections_per_address=env(
            "HTTP_MAX_CONNECTIONS_PER_ADDRESS", _positive(int), default.max_connections_per_address
        ),
    )


def _replicas(raw: str) -> int:
    """1, 3 or 5: JetStream keeps a stream's copies on a majority quorum, so an even count buys nothing."""
    if raw not in ("1", "3", "5"):
        raise ValueError("must be 1 (one nats-server), 3 or 5 (a cluster of at least that many)")
    return int(raw)


@dataclass(frozen=True)
class CommonSettings:
    """Settings every service reads, unprefixed."""

    nats_url: str
    # This service's own API key, for the calls it makes to the others ("" when it calls none).
    api_key: str
    bind_host: str
    data_dir: Path
    log_json: bool | None
    log_level: str
    # The production store; unset means each service keeps its SQLite file under data_dir.
    mongodb: MongoTarget | None = None
    # Every HTTP listener's guards (header deadline, idle timeout, sockets per address).
    http_limits: HttpLimits = field(default_factory=_http_limits_default)
    # Where `/metrics` is served (to keys holding metrics:read); None: not served.
    metrics_port: int | None = None
    # The OpenTelemetry collector's OTLP/HTTP base URL (spans go to <it>/v1/traces); "": tracing off.
    otlp_endpoint: str = ""
    # Copies JetStream keeps of each stream and bucket: 1 on one nats-server, 3 (or 5) on a cluster.
    stream_replicas: int = 1

    @classmethod
    def from_env(cls) -> CommonSettings:
        from inbox_runtime.mongo import mongo_target  # imports pymongo: only where settings are read

        return cls(
            nats_url=env("NATS_URL", str, "nats://127.0.0.1:4222"),
            api_key=api_key_setting(),
            bind_host=env("BIND_HOST", str, "127.0.0.1"),
            data_dir=env("DATA_DIR", Path, Path("var/data")),
            # Unset: JSON when stderr is not a terminal.
            log_json=env("LOG_JSON", bool, None),
            log_level=env("LOG_LEVEL", str, "INFO"),
            mongodb=mongo_target(raw_mongo) if (raw_mongo := env("MONGODB_URI", str, "")) else None,
            http_limits=http_limits_setting(),
            metrics_port=env("METRICS_PORT", _port, None),
            otlp_endpoint=env("OTEL_EXPORTER_OTLP_ENDPOINT", _http_url, ""),
            stream_replicas=env("NATS_STREAM_REPLICAS", _replicas, 1),
        )

    def required_api_key(self) -> str:
        """The key of a service that calls the others' gRPC APIs: refused at start-up when missing."""
        if not self.api_key:
            raise ConfigError("environment variable INBOX_API_KEY (or INBOX_API_KEY_FILE) is required")
        return self.api_key
