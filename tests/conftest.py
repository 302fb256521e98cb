"""Fixtures: a real PostgreSQL, migrated by Alembic, and three ways to reach the app.

- `client`: TestClient whose requests share one outer transaction per test, rolled back at the
  end (every test starts from an empty studio and can count rows exactly).
- `committing_client`: TestClient with the real `get_db`, for what only a real COMMIT shows.
- `live`: two uvicorn processes on the same database, for concurrency; tables are emptied around
  each test that uses it.
"""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from app.api.deps import get_db, get_reader
from app.core.config import Settings
from app.main import create_app
from scripts.embedded_db import ensure_database, start_server, with_database

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def sqlalchemy_url(url: str) -> str:
    return Settings(database_url=url).database_url


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
    return sqlalchemy_url(server_url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    session.close()
    outer.rollback()
    connection.close()


@pytest.fixture(scope="session")
def app(database_url: str):  # type: ignore[no-untyped-def]
    return create_app(Settings(database_url=database_url))


@pytest.fixture
def client(app, db: Session) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    def shared_session() -> Iterator[Session]:
        # Same contract as get_db; commit and rollback act on a savepoint of the test's transaction.
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    app.dependency_overrides[get_db] = shared_session
    # Reads go through the same transaction, so they see what the test wrote.
    app.dependency_overrides[get_reader] = lambda: (
        lambda: nullcontext(db.connection().connection.driver_connection)
    )
    with TestClient(app) as test_client:
        yield test_client
    app.dependency_overrides.clear()


def empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE ports, devices, patchbay_points RESTART IDENTITY CASCADE"))


@pytest.fixture
def committing_client(app, engine: Engine) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    empty_tables(engine)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    empty_tables(engine)


QUIET = ["--log-level", "warning", "--no-access-log"]


class LiveServers:
    def __init__(self, database_url: str, count: int, **settings: str) -> None:
        self.urls: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        # Few worker threads, so that clients outnumber them many times over and every wait for
        # a lock or a connection happens while the workers are all taken.
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "THREADPOOL_SIZE": "4",
            "LOG_LEVEL": "WARNING",
            **settings,
        }
        for _ in range(count):
            port = free_port()
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), *QUIET],
                    cwd=ROOT,
                    env=env,
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


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up")


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
