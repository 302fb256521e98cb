"""GET /health and GET /ready."""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from tests.conftest import alembic_config, settings


def answered_within(seconds: float, call: Callable[[], Any]) -> Any:
    """Make the call in a thread; None if it has not answered within `seconds`."""
    answer: list[Any] = []
    thread = threading.Thread(target=lambda: answer.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    return answer[0] if answer else None


def test_health_needs_no_database() -> None:
    app = create_app(settings("postgresql://x@127.0.0.1:1/none"))
    with TestClient(app) as client:
        response = answered_within(1, lambda: client.get("/health"))
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.text == '{"status":"ok"}'
        # /ready, on the other hand, says what is wrong, within 2 s.
        ready = answered_within(2, lambda: client.get("/ready"))
        assert ready is not None, "/ready did not answer within 2 s"
        assert ready.status_code == 503
        assert ready.headers["retry-after"].isdigit()
        assert ready.json()["status"] == "unavailable"
        # Which of the two depends on whether the first attempt to connect has failed yet.
        assert ready.json()["detail"] in ("Database unavailable", "Database not answering in time")


def test_health_uses_no_connection(database_url: str) -> None:
    app = create_app(settings(database_url))
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/health").status_code == 200
        pool = app.state.database.engine.pool
        assert (pool.checkedin(), pool.checkedout()) == (0, 0)


def test_ready_answers_within_2_s_whatever_the_database_does(
    database_url: str, engine: Engine
) -> None:
    app = create_app(settings(database_url))
    with TestClient(app) as client, engine.connect() as locker:
        # A migration (or anyone in pgAdmin) holding the version table.
        locker.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        ready = answered_within(2, lambda: client.get("/ready"))
        assert ready is not None, "/ready did not answer within 2 s"
        assert ready.status_code == 503
        assert ready.json()["detail"] == "Database not answering in time"
        locker.rollback()
        assert client.get("/ready").status_code == 200


def test_ready_reports_live_updates_down_for_over_a_minute(database_url: str) -> None:
    app = create_app(settings(database_url))
    with TestClient(app) as client:
        listener = app.state.listener
        assert client.get("/ready").status_code == 200
        # Down, but only briefly (a database restart): still ready.
        listener.down_since = time.monotonic() - 5
        assert client.get("/ready").status_code == 200
        listener.down_since = time.monotonic() - 61
        response = client.get("/ready")
        assert response.status_code == 503
        assert "Live updates unavailable" in response.json()["detail"]


def test_ready_at_head(database_url: str) -> None:
    with TestClient(create_app(settings(database_url))) as client:
        response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_not_ready_when_the_schema_is_behind(scratch_database: Callable[[str], str]) -> None:
    url = scratch_database("hardening_behind")
    command.upgrade(alembic_config(url), "0002")
    app = create_app(settings(url))
    with TestClient(app) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    head = app.state.schema_head
    assert head != "0002"
    assert response.json() == {
        "status": "unavailable",
        "detail": f"Database schema is at 0002, the code needs {head}",
    }


@pytest.mark.parametrize("history", ["never", "downgraded"])
def test_not_ready_when_the_schema_is_not_migrated(
    scratch_database: Callable[[str], str], history: str
) -> None:
    url = scratch_database(f"hardening_unmigrated_{history}")
    if history == "downgraded":
        # alembic_version is left behind, empty.
        command.upgrade(alembic_config(url), "head")
        command.downgrade(alembic_config(url), "base")
    with TestClient(create_app(settings(url))) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json() == {"status": "unavailable", "detail": "Database schema is not migrated"}
