"""Fixtures: a real PostgreSQL, migrated by Alembic, and three ways to reach the app.

- `client`: the app in-process, every request inside one transaction per test that is rolled
  back at the end (every test starts from an empty studio and can count rows exactly); `db`
  runs SQL in that same transaction.
- `committing_client`: the same app on its real pool, for what only a real COMMIT shows (ETags,
  events, history); the tables are emptied around each test.
- `live`: two uvicorn processes on the same database, for concurrency; tables emptied around.
"""

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text

from app.api.deps import get_database
from app.core.config import Settings
from app.db.session import Database, hold_studio
from app.main import create_app
from app.services import checks
from scripts.embedded_db import ensure_database, start_server, with_database
from scripts.serve import UVICORN_OPTIONS
from tests.helpers import STUDIO_TABLES, Db, wait_until_up

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test, not from the shell that runs the suite."""
    for name in ("API_KEY", "API_KEYS", "LOG_FORMAT", "CORS_ORIGINS", "ALLOWED_HOSTS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def restore_pepper_logging() -> Iterator[None]:
    """`create_app` reconfigures the `pepper` loggers; leave them as the test found them."""
    logger = logging.getLogger("pepper")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def settings(database_url: str, **overrides: Any) -> Settings:
    """Settings from the arguments alone: no `.env` file, no key from the environment."""
    return Settings(_env_file=None, database_url=database_url, **overrides)


def sqlalchemy_url(url: str) -> str:
    return settings(url).database_url


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Admin URL of the PostgreSQL server the suite uses."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    server = start_server(Path(tempfile.mkdtemp(prefix="pepper-test-")) / "pg", delete_on_exit=True)
    yield ensure_database(server.get_uri(), "pepper_test")
    server.cleanup()


@pytest.fixture(scope="session")
def scratch_database(server_url: str) -> Iterator[Callable[[str], str]]:
    """Makes empty databases beside the test database, dropped at the end of the run."""
    made: list[str] = []
    base = psycopg.conninfo.conninfo_to_dict(server_url).get("dbname") or "postgres"

    def make(suffix: str) -> str:
        name = f"{base}_{suffix}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return with_database(server_url, name)

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(server_url: str) -> str:
    """The test database, emptied and migrated to head by Alembic (never `create_all`)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    command.upgrade(alembic_config(server_url), "head")
    return server_url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """For SQL typed "in pgAdmin": its own connections, committed for real."""
    engine = create_engine(sqlalchemy_url(database_url))
    yield engine
    engine.dispose()


def empty_tables(engine: Engine) -> None:
    """An empty studio, and no history (the emptying itself is recorded, then forgotten)."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(STUDIO_TABLES)} RESTART IDENTITY CASCADE"))
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE history_changes, history_entries"))


@pytest.fixture(scope="session")
def app(database_url: str) -> FastAPI:
    return create_app(settings(database_url))


@pytest.fixture(scope="session")
def app_client(app: FastAPI) -> Iterator[TestClient]:
    """One in-process client for the whole run: the app starts (pool, listener) once."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


class SharedTransaction(Database):
    """The app's database narrowed to the test's one connection. Each request's work runs in
    a savepoint of the test's transaction, so an error rolls back that request alone."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        with self.conn.begin_nested():
            yield self.conn

    @contextmanager
    def transaction(self, *, whole_studio: bool = False) -> Iterator[Connection]:
        with self.conn.begin_nested():
            hold_studio(self.conn, whole_studio=whole_studio)
            yield self.conn


@pytest.fixture
def db(
    app: FastAPI, app_client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Db]:
    """SQL inside the test's transaction, which the `client` shares and which is rolled back.
    It never commits, so the state revision does not move with what it changes: what the app
    keeps by revision (the studio's findings) is kept by nothing here."""
    monkeypatch.setattr(checks, "LATEST", checks.Latest(keep=False))
    with engine.connect() as conn:
        conn.begin()
        shared = SharedTransaction(conn)

        async def shared_database() -> Database:
            return shared

        app.dependency_overrides[get_database] = shared_database
        try:
            yield Db(conn)
        finally:
            app.dependency_overrides.pop(get_database, None)
            conn.rollback()


@pytest.fixture
def client(app_client: TestClient, db: Db) -> TestClient:
    return app_client


@pytest.fixture
def committing_client(app_client: TestClient, engine: Engine) -> Iterator[TestClient]:
    empty_tables(engine)
    yield app_client
    empty_tables(engine)


QUIET = ["--log-level", "warning", *UVICORN_OPTIONS]


class LiveServers:
    def __init__(
        self, database_url: str, count: int, extra_args: Sequence[str] = (), **env: str
    ) -> None:
        self.urls: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        # A small pool, so that clients outnumber connections many times over and every wait
        # for a lock or a connection happens while the pool is all taken.
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DB_POOL_SIZE": "4",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        for _ in range(count):
            port = free_port()
            self.processes.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "uvicorn", "app.main:app"),
                        *("--port", str(port), *QUIET, *extra_args),
                    ],
                    cwd=ROOT,
                    env=environment,
                )
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            wait_until_up(url)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def live_servers(database_url: str) -> Iterator[LiveServers]:
    servers = LiveServers(database_url, count=2)
    yield servers
    servers.stop()


@pytest.fixture
def live(live_servers: LiveServers, engine: Engine) -> Iterator[list[str]]:
    """Base URLs of two API processes sharing the test database, which starts empty."""
    empty_tables(engine)
    yield live_servers.urls
    empty_tables(engine)


def pytest_report_header() -> str:
    given = os.environ.get("TEST_DATABASE_URL")
    source = f"TEST_DATABASE_URL ({given})" if given else "embedded PostgreSQL (started by the run)"
    return f"database: {source}"
