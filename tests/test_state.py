from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.helpers import add_points, make_device


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_empty_state(client: TestClient) -> None:
    response = client.get("/state")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"patchbay_points": [], "devices": []}


def test_state_lists_points_and_devices_by_id(client: TestClient, db: Session) -> None:
    points = add_points(db, 3)
    db.execute(
        text("UPDATE patchbay_points SET description = 'top', type = 'normalled' WHERE id = :id"),
        {"id": points[1]},
    )
    first = make_device(
        client, name="First", ports=[{"label": "A", "type": "input", "patchbay_id": points[2]}]
    )
    second = make_device(client, name="Second", ports=[])
    state = client.get("/state").json()
    assert state["patchbay_points"] == [
        {"id": points[0], "name": "P1", "description": "", "type": "standard"},
        {"id": points[1], "name": "P2", "description": "top", "type": "normalled"},
        {"id": points[2], "name": "P3", "description": "", "type": "standard"},
    ]
    assert state["devices"] == [
        {
            "id": first["id"],
            "name": "First",
            "type": "Synth",
            "ports": [
                {
                    "id": f"dev-{first['id']}-port-1",
                    "label": "A",
                    "type": "Input",
                    "patchbay_id": points[2],
                }
            ],
        },
        {"id": second["id"], "name": "Second", "type": "Synth", "ports": []},
    ]


TRICKY = "q\"uote \\back/slash \t\n\r\x01\x1f\x7f é ☃ 🎹 \u2028 <>&'"


def test_bodies_are_byte_for_byte_what_pydantic_would_send(client: TestClient, db: Session) -> None:
    """PostgreSQL writes the list bodies; they must equal FastAPI's own serialisation."""
    from pydantic import TypeAdapter

    from app.schemas.device import DeviceRead
    from app.schemas.patchbay_point import PointRead
    from app.schemas.state import StateRead

    [point, _] = add_points(db, 2)
    db.execute(
        text("UPDATE patchbay_points SET name = :t, description = :t, type = :t WHERE id = :id"),
        {"t": TRICKY, "id": point},
    )
    device = make_device(
        client,
        name=TRICKY,
        ports=[
            {"label": TRICKY, "type": "Other", "patchbay_id": point},
            {"label": "x", "type": "Input"},
        ],
    )
    make_device(client, name="empty", ports=[])

    def same(path: str, adapter: TypeAdapter) -> None:  # type: ignore[type-arg]
        response = client.get(path)
        assert response.status_code == 200
        assert response.content == adapter.dump_json(adapter.validate_json(response.content))

    same("/state", TypeAdapter(StateRead))
    same("/devices", TypeAdapter(list[DeviceRead]))
    same(f"/devices/{device['id']}", TypeAdapter(DeviceRead))
    same("/patchbay-points", TypeAdapter(list[PointRead]))
    assert client.get("/state").json()["devices"][0]["name"] == TRICKY


def test_state_shows_direct_sql_edits_at_once(
    committing_client: TestClient, engine: Engine
) -> None:
    """Rows edited in pgAdmin (another connection, committed) show in the very next response."""
    assert committing_client.get("/state").json()["patchbay_points"] == []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (id, name) VALUES (7, 'From pgAdmin')"))
    assert committing_client.get("/state").json()["patchbay_points"] == [
        {"id": 7, "name": "From pgAdmin", "description": "", "type": "standard"}
    ]
    with engine.begin() as conn:
        conn.execute(text("UPDATE patchbay_points SET name = 'Renamed' WHERE id = 7"))
    assert committing_client.get("/state").json()["patchbay_points"][0]["name"] == "Renamed"
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM patchbay_points"))
    assert committing_client.get("/state").json()["patchbay_points"] == []
