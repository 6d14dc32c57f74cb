"""API keys in the NATS key-value bucket INBOX_API_KEYS: one entry per key (its digest and scopes, never
its secret), read by every replica of every service, written by AccessService and by the operator's
command (`python -m inbox_events.api_keys`).

A service keeps what it read for a few seconds (`CACHE_SECONDS`), so a revoked key stops working on every
endpoint within that time, and at once on the endpoint that revoked it; unknown key ids are remembered as
unknown for as long, so random keys cannot turn every call into a read of the bucket.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import nats.js.errors
from inbox.access.v1 import access_pb2
from inbox_runtime.callers import SCOPES, IssuedKey, KeyRecord, issue_key, parse_key, validate_scopes
from inbox_runtime.errors import NotFound
from inbox_runtime.timestamps import from_timestamp, now_us, to_timestamp
from nats.js.kv import KeyValue

from inbox_events.streams import API_KEYS_BUCKET

BUCKET = API_KEYS_BUCKET
# The keys the services themselves hold to call each other: what each one calls, and no more.
SERVICE_SCOPES: dict[str, tuple[str, ...]] = {
    # For the agent signed in: their conversations, their routing, delivery status.
    "inbox-web": (
        "agents:act-as",
        "channels:read",
        "conversations:read",
        "conversations:write",
        "outreach:admin",
        "routing:read",
        "routing:write",
    ),
    # An agent's language, for translating what they read.
    "translation": ("routing:read",),
    # Whether contact pressure lets a proactive message go (OutreachService.CheckOutreach).
    "channels": ("messages:send",),
    # Not a service of the suite: the Prometheus server scraping every service's `/metrics`.
    "prometheus": ("metrics:read",),
}
CACHE_SECONDS = 5.0
_CACHE_LIMIT = 10_000


def record_to_proto(record: KeyRecord, *, with_digest: bool = True) -> access_pb2.ApiKey:
    key = access_pb2.ApiKey(
        key_id=record.key_id,
        name=record.name,
        scopes=sorted(record.scopes),
        secret_sha256=record.secret_sha256 if with_digest else b"",
        created_at=to_timestamp(record.created_at_us),
        created_by=record.created_by,
        revoked_by=record.revoked_by,
    )
    if record.revoked:
        key.revoked_at.CopyFrom(to_timestamp(record.revoked_at_us))
    return key


def record_from_proto(key: access_pb2.ApiKey) -> KeyRecord:
    return KeyRecord(
        key_id=key.key_id,
        name=key.name,
        scopes=frozenset(key.scopes),
        secret_sha256=key.secret_sha256,
        created_at_us=from_timestamp(key.created_at),
        created_by=key.created_by,
        revoked_at_us=from_timestamp(key.revoked_at) if key.HasField("revoked_at") else 0,
        revoked_by=key.revoked_by,
    )


class ApiKeyStore:
    """The bucket, as the gRPC bootstrap's `KeySource` and as the place keys are created and revoked."""

    def __init__(self, kv: KeyValue, clock: Callable[[], float] = time.monotonic) -> None:
        self._kv = kv
        self._clock = clock
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}

    async def _read(self, key_id: str) -> KeyRecord | None:
        try:
            entry = await self._kv.get(key_id)
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return record_from_proto(access_pb2.ApiKey.FromString(entry.value))

    async def get(self, key_id: str) -> KeyRecord | None:
        now = self._clock()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        record = await self._read(key_id)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
        self._cache[key_id] = (now + CACHE_SECONDS, record)
        return record

    async def add(self, issued: IssuedKey) -> KeyRecord:
        await self._kv.create(issued.record.key_id, record_to_proto(issued.record).SerializeToString())
        self._cache.pop(issued.record.key_id, None)
        return issued.record

    async def create(self, name: str, scopes: Sequence[str], *, created_by: str) -> IssuedKey:
        issued = issue_key(name, scopes, created_by=created_by, now_us=now_us())
        await self.add(issued)
        return issued

    async def revoke(self, key_id: str, *, revoked_by: str) -> KeyRecord:
        record = await self._read(key_id)
        if record is None:
            raise NotFound(f"API key {key_id} not found")
        if not record.revoked:
            record = replace(record, revoked_at_us=now_us(), revoked_by=revoked_by)
            await self._kv.put(key_id, record_to_proto(record).SerializeToString())
        self._cache.pop(key_id, None)
        return record

    async def list(self) -> list[KeyRecord]:
        try:
            ids = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        records = [await self._read(key_id) for key_id in ids]
        return sorted((r for r in records if r is not None), key=lambda r: r.created_at_us)


async def ensure_key(store: ApiKeyStore, held: str, name: str, scopes: Sequence[str]) -> str | None:
    """Keep the key text `held` when it still works with exactly `scopes`; else issue a new key named
    `name` (revoking the old one) and return its text, for the caller to store."""
    wanted = frozenset(scopes)
    old = parse_key(held)
    if old is not None:
        record = await store.get(old[0])
        if record is not None and record.matches(old[1]) and not record.revoked and record.scopes == wanted:
            return None
        if record is not None and not record.revoked:
            await store.revoke(record.key_id, revoked_by="cli")
    issued = await store.create(name, sorted(wanted), created_by="cli")
    return issued.text


# Keys read by a process of another image, under another user (Prometheus runs as `nobody`): readable by
# all who can open the folder. Prometheus's key reads metrics and nothing else.
READABLE_BY_ALL = frozenset({"prometheus"})


def write_key_file(file: Path, text: str, *, readable_by_all: bool = False) -> None:
    """A key file only its owner can read (unless `readable_by_all`)."""
    mode = 0o644 if readable_by_all else 0o600
    file.parent.mkdir(parents=True, exist_ok=True)
    file.touch(mode=mode)
    file.chmod(mode)
    file.write_text(text + "\n")


async def ensure_service_keys(store: ApiKeyStore, folder: Path) -> dict[str, Path]:
    """A working key file per service of SERVICE_SCOPES in `folder` (`<service>.key`), issued as needed."""
    files: dict[str, Path] = {}
    for service, scopes in SERVICE_SCOPES.items():
        file = folder / f"{service}.key"
        held = file.read_text() if file.exists() else ""
        issued = await ensure_key(store, held, service, scopes)
        if issued is not None:
            write_key_file(file, issued, readable_by_all=service in READABLE_BY_ALL)
        files[service] = file
    return files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inbox_events.api_keys",
        description="Create, list and revoke the suite's API keys (NATS_URL names the server).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="issue a key and print it once")
    create.add_argument("name")
    create.add_argument("--scope", action="append", required=True, help=f"repeatable; one of: {', '.join(SCOPES)}")
    ensure = commands.add_parser("ensure", help="make FILE hold a working key with these scopes (for deployments)")
    ensure.add_argument("name")
    ensure.add_argument("--file", type=Path, required=True)
    ensure.add_argument("--scope", action="append", required=True)
    services = commands.add_parser("service-keys", help="a key file per service that calls others, in DIR")
    services.add_argument("dir", type=Path)
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    commands.add_parser("list", help="every key, active and revoked (never a secret)")
    commands.add_parser("scopes", help="the scopes a key can hold")
    return parser


async def _main(argv: Sequence[str]) -> int:
    from inbox_runtime.config import CommonSettings
    from inbox_runtime.logging import configure

    from inbox_events.bus import EventBus

    # The key is the only thing on standard output; what the client logs goes to standard error.
    configure("api-keys", level="ERROR")
    args = _parser().parse_args(argv)
    if args.command in ("create", "ensure"):
        validate_scopes(args.scope)  # before connecting: a typo needs no server
    if args.command == "scopes":
        for scope, what in SCOPES.items():
            print(f"{scope:22} {what}")
        return 0
    common = CommonSettings.from_env()  # NATS_URL, and NATS_STREAM_REPLICAS should it create the bucket
    async with EventBus.connect(common.nats_url, service="api-keys-cli", replicas=common.stream_replicas) as bus:
        store = await bus.api_keys()
        if args.command == "create":
            issued = await store.create(args.name, args.scope, created_by="cli")
            print(issued.text)
            print(f"key {issued.record.key_id} ({args.name}): keep it secret, it is not shown again", file=sys.stderr)
        elif args.command == "ensure":
            held = args.file.read_text() if args.file.exists() else ""
            issued_text = await ensure_key(store, held, args.name, args.scope)
            if issued_text is not None:
                write_key_file(args.file, issued_text)
            print(f"{args.name}: {'new key in' if issued_text else 'key kept in'} {args.file}", file=sys.stderr)
        elif args.command == "service-keys":
            for service, file in (await ensure_service_keys(store, args.dir)).items():
                print(f"{service}: {file}", file=sys.stderr)
        elif args.command == "revoke":
            record = await store.revoke(args.key_id, revoked_by="cli")
            print(f"revoked {record.key_id} ({record.name})")
        else:
            for record in await store.list():
                state = "revoked" if record.revoked else "active"
                print(f"{record.key_id}  {record.name:20} {state:8} {','.join(sorted(record.scopes))}")
    return 0


def main() -> None:
    from inbox_runtime.config import ConfigError
    from inbox_runtime.errors import InvalidInput

    try:
        raise SystemExit(asyncio.run(_main(sys.argv[1:])))
    except (InvalidInput, NotFound, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
