"""Load that cannot get a database connection in time is a 503, never a hang or a 500."""

import time
from contextlib import ExitStack

from fastapi.testclient import TestClient

from app.core.config import Settings
from app.db.session import POOL_OVERFLOW
from app.main import create_app


def test_no_free_connection_in_time_is_503_with_retry_after(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, threadpool_size=1, db_pool_timeout=0.3))
    with TestClient(app) as client, ExitStack() as held:
        for _ in range(1 + POOL_OVERFLOW):
            held.enter_context(app.state.engine.connect())
        started = time.monotonic()
        for method, path, body in [
            ("GET", "/state", None),
            ("POST", "/devices", {"name": "X", "type": "Y"}),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            assert response.json() == {"detail": "Service busy, retry shortly"}
        assert time.monotonic() - started < 5
        held.close()
        assert client.get("/state").status_code == 200
