"""Waits that would otherwise hang: no free connection, a row lock held elsewhere. Each is a
503 with Retry-After within its bound, and the service goes on."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from tests.conftest import LiveServers, empty_tables, settings


def test_no_free_connection_in_time_is_503_with_retry_after(database_url: str) -> None:
    app = create_app(settings(database_url, db_pool_size=1, db_pool_timeout=0.3))
    with TestClient(app) as client:
        held = app.state.database.engine.connect()
        for method, path, body in [
            ("GET", "/state", None),
            ("POST", "/devices", {"name": "X", "type": "Y"}),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            assert response.json() == {"detail": "Service busy, retry shortly"}
        held.close()
        assert client.get("/state").status_code == 200


def test_a_row_lock_held_elsewhere_is_a_503_within_the_lock_timeout(
    database_url: str, engine: Engine
) -> None:
    """Someone in pgAdmin holds a row lock and goes for coffee: requests that need the row get a
    503 once DB_LOCK_TIMEOUT has passed (not a hang that ties up the pool), the rest of the API
    keeps serving, and everything works again once the lock is gone."""
    empty_tables(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (id, name) VALUES (1, 'A1'), (2, 'A2')"))
        conn.execute(text("INSERT INTO devices (id, name, type) VALUES (1, 'Juno', 'Synth')"))
        conn.execute(
            text(
                "INSERT INTO ports (id, device_id, label, type) VALUES ('dev-1-port-1', 1, 'OUT', 'Output')"
            )
        )
    servers = LiveServers(database_url, 1, DB_LOCK_TIMEOUT="0.5", DB_POOL_SIZE="2")
    url = servers.urls[0]
    try:
        with engine.connect() as pgadmin:
            pgadmin.execute(text("SELECT * FROM patchbay_points WHERE id = 1 FOR UPDATE"))
            # More requests than connections: none may keep a connection waiting for good.
            for _ in range(4):
                locked = httpx.post(
                    f"{url}/ports/dev-1-port-1/link", json={"patchbay_id": 1}, timeout=3
                )
                assert locked.status_code == 503, locked.text
                assert locked.headers["retry-after"].isdigit()
                assert locked.json() == {"detail": "Database unavailable"}
            # What does not need the locked row is served meanwhile.
            assert httpx.get(f"{url}/state", timeout=3).status_code == 200
            free = httpx.post(f"{url}/ports/dev-1-port-1/link", json={"patchbay_id": 2}, timeout=3)
            assert free.status_code == 200, free.text
            assert httpx.get(f"{url}/ready", timeout=3).status_code == 200
            pgadmin.rollback()
        linked = httpx.post(f"{url}/ports/dev-1-port-1/link", json={"patchbay_id": 1}, timeout=3)
        assert linked.status_code == 200, linked.text
    finally:
        servers.stop()
        empty_tables(engine)


def test_the_timeouts_are_set_on_the_api_connections_only(
    database_url: str, engine: Engine
) -> None:
    """lock_timeout, statement_timeout and idle_in_transaction_session_timeout come from the
    settings on each connection the API opens; the role and the database, which pgAdmin users
    share, keep theirs."""
    app = create_app(
        settings(
            database_url,
            db_lock_timeout=2.5,
            db_statement_timeout=7,
            db_idle_in_transaction_timeout=9,
        )
    )
    shown = (
        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "
        "current_setting('idle_in_transaction_session_timeout')"
    )
    with TestClient(app) as client:
        client.get("/health")  # the app has started
        with app.state.database.connection() as conn:
            assert tuple(conn.execute(text(shown)).one()) == ("2500ms", "7s", "9s")
    with engine.connect() as conn:
        assert conn.execute(text(shown)).one() == ("0", "0", "0")
        assert conn.scalar(text("SELECT count(*) FROM pg_db_role_setting")) == 0


def test_writes_waiting_on_a_row_lock_leave_reads_served(database_url: str, engine: Engine) -> None:
    """Someone in pgAdmin holds a point's row lock while a dozen clients link ports to it. The
    writes wait for the lock (up to DB_LOCK_TIMEOUT), but they never take every connection or
    every worker thread: reads are answered all the while, and the writes go through once the
    lock is gone."""
    empty_tables(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (id, name) VALUES (1, 'A1')"))
        conn.execute(text("INSERT INTO devices (id, name, type) VALUES (1, 'Juno', 'Synth')"))
        conn.execute(
            text(
                "INSERT INTO ports (id, device_id, label, type) "
                "SELECT 'dev-1-port-' || n, 1, 'OUT ' || n, 'Output' FROM generate_series(1, 12) n"
            )
        )
    pool_size = 4
    servers = LiveServers(
        database_url,
        1,
        DB_POOL_SIZE=str(pool_size),
        DB_LOCK_TIMEOUT="10",
        DB_POOL_TIMEOUT="10",
    )
    url = servers.urls[0]
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'pepper' AND wait_event_type = 'Lock'"
    )
    try:
        with engine.connect() as pgadmin, ThreadPoolExecutor(12) as clients:
            pgadmin.execute(text("SELECT * FROM patchbay_points WHERE id = 1 FOR UPDATE"))
            writes = [
                clients.submit(
                    httpx.post,
                    f"{url}/ports/dev-1-port-{n}/link",
                    json={"patchbay_id": 1},
                    timeout=30,
                )
                for n in range(1, 13)
            ]
            # Autocommit: pg_stat_activity stays as it was for the rest of a transaction.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
                # As many writes as may hold a connection wait on the lock; the rest queue.
                deadline = time.monotonic() + 10
                while watcher.scalar(waiting) < pool_size - 1:
                    assert time.monotonic() < deadline, "the writes never reached the lock"
                    time.sleep(0.05)
                for _ in range(5):
                    state = httpx.get(f"{url}/state", timeout=5)
                    assert state.status_code == 200, state.text
                assert httpx.get(f"{url}/ready", timeout=5).status_code == 200
                # All that while, the writes were still held up by the lock.
                assert watcher.scalar(waiting) == pool_size - 1
            pgadmin.rollback()
            assert [write.result().status_code for write in writes] == [200] * 12
    finally:
        servers.stop()
        empty_tables(engine)
