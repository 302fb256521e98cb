"""Load that cannot get a database connection in time is a 503, never a hang or a 500."""

from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import settings


def test_no_free_connection_in_time_is_503_with_retry_after(database_url: str) -> None:
    app = create_app(settings(database_url, db_pool_size=1, db_pool_timeout=0.3))
    with TestClient(app) as client:
        pool = app.state.database.pool
        held = client.portal.call(pool.getconn)  # type: ignore[union-attr]
        for method, path, body in [
            ("GET", "/state", None),
            ("POST", "/devices", {"name": "X", "type": "Y"}),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            assert response.json() == {"detail": "Service busy, retry shortly"}
        client.portal.call(pool.putconn, held)  # type: ignore[union-attr]
        assert client.get("/state").status_code == 200
