"""pytest fixtures shared by every test folder: a real nats-server, and the whole suite as processes."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol, TypeVar

import pytest
from inbox_runtime.callers import IssuedKey
from inbox_runtime.mongo import MongoTarget, mongo_target, with_database

from inbox_devstack.apertium import ApyServer
from inbox_devstack.ferretdb import FerretDb, ferretdb_binary
from inbox_devstack.keys import integrator_key, store_keys
from inbox_devstack.nats_server import NatsServer
from inbox_devstack.suite import LocalSuite, SuitePorts


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream in a temporary folder, on a free port."""
    with NatsServer(tmp_path / "nats", log_file=tmp_path / "nats.log") as server:
        yield server


# What a run skipped for want of something on the machine, said again at the end of the run.
_NOT_RUN: list[str] = []


def skip_and_say(reason: str) -> NoReturn:
    """Skip the test, and repeat why at the end of the run (where a skipped suite would go unnoticed)."""
    if reason not in _NOT_RUN:
        _NOT_RUN.append(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDb | str]:
    """A MongoDB-protocol server for the session: `MONGODB_URI` when set (a real MongoDB), else FerretDB
    built by `make test` (FERRETDB_BIN). Skips, and says so at the end of the run, when neither is there."""
    external = os.environ.get("MONGODB_URI", "")
    if external:
        yield external
        return
    binary = ferretdb_binary()
    if binary is None:
        skip_and_say("MongoDB suite not run: no MONGODB_URI and no FerretDB (needs Go >= 1.24; `make test` builds it)")
    folder = tmp_path_factory.mktemp("ferretdb")
    with FerretDb(binary, folder / "data", log_file=folder / "ferretdb.log") as server:
        yield server


@pytest.fixture
def mongo(mongo_server: FerretDb | str) -> MongoTarget:
    """A fresh, empty database on the session's MongoDB-protocol server (its URI names it too)."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    if isinstance(mongo_server, str):
        return MongoTarget(with_database(mongo_target(mongo_server).uri, database), database)
    return MongoTarget(mongo_server.uri(database), database)


@pytest.fixture
def suite_store(request: pytest.FixtureRequest) -> dict[str, str]:
    """The store every service of `local_suite` runs on: SQLite files unless a test module asks for
    both (`@pytest.mark.parametrize("suite_store", ["sqlite", "mongo"], indirect=True)`)."""
    if getattr(request, "param", "sqlite") == "mongo":
        target: MongoTarget = request.getfixturevalue("mongo")
        return {"MONGODB_URI": target.uri}
    return {}


class Closable(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=Closable)


@dataclass(frozen=True)
class StoreBackend:
    """Where a store under test lives: a MongoDB database (`mongo` set) or a SQLite file in `folder`."""

    mongo: MongoTarget | None
    folder: Path

    @asynccontextmanager
    async def instances(
        self,
        mongo: Callable[[MongoTarget], Awaitable[S]],
        sqlite: Callable[[Path], Awaitable[S]],
        filename: str,
    ) -> AsyncIterator[Callable[[], Awaitable[S]]]:
        """Opens instances of the store on this one backend (as replicas would), all closed after."""
        opened: list[S] = []

        async def open_one() -> S:
            store = await (mongo(self.mongo) if self.mongo is not None else sqlite(self.folder / filename))
            opened.append(store)
            return store

        try:
            yield open_one
        finally:
            for store in opened:
                await store.close()

    @asynccontextmanager
    async def opened(
        self,
        mongo: Callable[[MongoTarget], Awaitable[S]],
        sqlite: Callable[[Path], Awaitable[S]],
        filename: str,
    ) -> AsyncIterator[S]:
        """The store on this backend (opened by `mongo` or by `sqlite` on `filename`), closed after."""
        async with self.instances(mongo, sqlite, filename) as open_one:
            yield await open_one()


@pytest.fixture(params=["sqlite", "mongo"])
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    """Run a store contract once per implementation: the embedded SQLite, and MongoDB (FerretDB or
    MONGODB_URI; skipped, and said so, when neither is there)."""
    if request.param == "mongo":
        return StoreBackend(request.getfixturevalue("mongo"), tmp_path)
    return StoreBackend(None, tmp_path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _NOT_RUN:
        terminalreporter.write_line(line, yellow=True, bold=True)


@pytest.fixture(scope="session")
def apy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApyServer]:
    """Apertium's APY server with Debian's English-Spanish data, once per test session (it starts slowly)."""
    with ApyServer(log_file=tmp_path_factory.mktemp("apy") / "apy.log") as server:
        yield server


@pytest.fixture
def integrator() -> IssuedKey:
    """A key with every scope, as an integrator holds one (`local_suite` stores it in its bucket)."""
    return integrator_key()


@pytest.fixture
def api_key(integrator: IssuedKey) -> str:
    """The integrator's key text, for `authenticated_channel` against `local_suite`."""
    return integrator.text


@pytest.fixture
async def nats_api_key(nats_server: NatsServer, integrator: IssuedKey) -> str:
    """The integrator's key, stored in the test's own `nats_server` (for services run in-process)."""
    await store_keys(nats_server.url, [integrator])
    return integrator.text


@pytest.fixture
def suite_env() -> dict[str, str]:
    """Extra settings for the services of `local_suite`; override it in a test module to configure channels."""
    return {}


@pytest.fixture
def local_suite(
    tmp_path: Path, integrator: IssuedKey, suite_env: dict[str, str], suite_store: dict[str, str], apy_server: ApyServer
) -> Iterator[LocalSuite]:
    """Every service as its own process on free ports, against its own nats-server, on `suite_store`,
    with the session's Apertium server as the translation engine."""
    suite = LocalSuite(
        extra_env={"TRANSLATION_APERTIUM_URL": apy_server.url, **suite_store, **suite_env},
        base_dir=tmp_path / "suite",
        integrator=integrator,
        chat_secret=secrets.token_urlsafe(24),
        web_session_secret=secrets.token_urlsafe(32),
        ports=SuitePorts.free(),
    )
    suite.start()
    try:
        yield suite
    finally:
        codes = suite.stop()
        # A service that crashed or ignored SIGTERM must fail the test that used it.
        failed = {name: code for name, code in codes.items() if code != 0}
        if failed:
            logs = {p.name: p.read_text()[-2000:] for p in suite.log_dir.glob("*.log")}
            pytest.fail(f"services exited badly on SIGTERM: {failed}\n{logs}")
