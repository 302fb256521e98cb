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


def test_state_bytes_match_the_declared_model(client: TestClient, db: Session) -> None:
    """The hand-built read path must serialise exactly as FastAPI would from StateRead."""
    from app.schemas.state import StateRead

    add_points(db, 2)
    make_device(client, name="Ünïcode ☃")
    response = client.get("/state")
    expected = StateRead.model_validate(response.json()).model_dump_json().encode()
    assert response.content == expected


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
