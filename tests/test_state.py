"""GET /state: the whole studio, its shapes, no stale reads, and the revision ETag (304s,
body and ETag from one snapshot)."""

import threading
from collections import defaultdict

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.schemas.device import DeviceRead
from app.schemas.patchbay_point import PointRead
from app.schemas.port import PortRead
from app.schemas.state import StateRead
from tests.helpers import JSON, Db, add_points, make_device, shaped


def test_empty_state(client: TestClient) -> None:
    response = client.get("/state")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == EMPTY_STATE


def test_state_lists_points_and_devices_by_id(client: TestClient, db: Db) -> None:
    points = add_points(db, 3)
    db.execute(
        "UPDATE patchbay_points SET description = 'top', type = 'normalled' WHERE id = %(id)s",
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


EMPTY_STATE = {"patchbay_points": [], "devices": [], "bays": [], "cables": []}

TRICKY = "q\"uote \\back/slash \t\n\r\x01\x1f\x7f é ☃ 🎹 \u2028 <>&'"


def test_bodies_are_exactly_the_declared_shapes(client: TestClient, db: Db) -> None:
    """PostgreSQL writes the bodies; each must be exactly what its schema declares, strings
    full of quotes, control characters and non-ASCII included."""
    [point, _] = add_points(db, 2)
    db.execute(
        "UPDATE patchbay_points SET name = %(t)s, description = %(t)s, type = %(t)s WHERE id = %(id)s",
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
    state = shaped(client.get("/state"), StateRead)
    assert shaped(client.get("/devices"), list[DeviceRead]) == state["devices"]
    assert shaped(client.get(f"/devices/{device['id']}"), DeviceRead) == device
    assert shaped(client.get("/patchbay-points"), list[PointRead]) == state["patchbay_points"]
    assert shaped(client.get(f"/ports/{device['ports'][0]['id']}"), PortRead) == device["ports"][0]
    assert state["devices"][0]["name"] == TRICKY
    assert state["patchbay_points"][0]["description"] == TRICKY
    assert device["ports"][0]["label"] == TRICKY


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


# --- Revision ETag and 304 ----------------------------------------------------------------------


def etag_of(client: TestClient) -> str:
    response = client.get("/state")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    etag: str = response.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"')
    return etag


def test_matching_if_none_match_is_304_without_body(committing_client: TestClient) -> None:
    etag = etag_of(committing_client)
    response = committing_client.get("/state", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "header",
    ['W/"0", {etag}', "{etag}", "{strong}", "*", ' W/"x" ,{etag} '],
    ids=["list", "same", "strong-form", "star", "spaces"],
)
def test_if_none_match_forms_that_match(committing_client: TestClient, header: str) -> None:
    etag = etag_of(committing_client)
    value = header.format(etag=etag, strong=etag.removeprefix("W/"))
    assert committing_client.get("/state", headers={"If-None-Match": value}).status_code == 304


@pytest.mark.parametrize("header", ['W/"0"', '"abc"', "", "W/", 'W/"1 2"'])
def test_if_none_match_that_does_not_match_gets_the_body(
    committing_client: TestClient, header: str
) -> None:
    response = committing_client.get("/state", headers={"If-None-Match": header})
    assert response.status_code == 200
    assert response.json() == EMPTY_STATE


def test_api_writes_change_the_etag_once_per_request(committing_client: TestClient) -> None:
    before = etag_of(committing_client)
    body = {
        "name": "X",
        "type": "Y",
        "ports": [{"label": f"P{n}", "type": "Input"} for n in range(5)],
    }
    assert committing_client.post("/devices", json=body, headers=JSON).status_code == 201
    after = etag_of(committing_client)
    assert after != before
    # Device and five ports were three statements in one transaction: one new revision.
    assert int(after[3:-1]) == int(before[3:-1]) + 1
    assert committing_client.get("/state", headers={"If-None-Match": before}).status_code == 200


def test_a_refused_write_leaves_the_etag(committing_client: TestClient) -> None:
    before = etag_of(committing_client)
    body = {"name": "X", "type": "Y", "ports": [{"label": "A", "type": "Input", "patchbay_id": 5}]}
    assert committing_client.post("/devices", json=body).status_code == 404
    assert etag_of(committing_client) == before


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO patchbay_points (id, name) VALUES (1, 'A')",
        "UPDATE patchbay_points SET name = 'B'",
        "DELETE FROM patchbay_points",
        "TRUNCATE patchbay_points CASCADE",
        "INSERT INTO devices (name, type) VALUES ('x', 'y')",
    ],
)
def test_direct_sql_edits_change_the_etag(
    committing_client: TestClient, engine: Engine, statement: str
) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (id, name) VALUES (1000, 'seed')"))
    before = etag_of(committing_client)
    with engine.begin() as conn:
        conn.execute(text(statement))
    after = committing_client.get("/state", headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before


def test_body_and_etag_agree_under_concurrent_writes(live: list[str], engine: Engine) -> None:
    """Two answers with the same ETag must carry the same body: never a new ETag on old data."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patchbay_points (id, name) SELECT n, 'P' || n FROM generate_series(1, 4) n"
            )
        )
        conn.execute(text("INSERT INTO devices (id, name, type) VALUES (1, 'D', 'Synth')"))
        conn.execute(
            text(
                "INSERT INTO ports (id, device_id, label, type) "
                "SELECT 'dev-1-port-' || n, 1, 'L', 'Input' FROM generate_series(1, 6) n"
            )
        )
    stop = threading.Event()

    def write(base: str, seed: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            n = seed
            while not stop.is_set():
                n += 1
                client.post(f"/ports/dev-1-port-{n % 6 + 1}/link", json={"patchbay_id": n % 4 + 1})

    writers = [threading.Thread(target=write, args=(live[i % 2], i)) for i in range(4)]
    for writer in writers:
        writer.start()
    bodies: dict[str, set[bytes]] = defaultdict(set)
    try:
        with httpx.Client(base_url=live[0], timeout=30) as reader:
            for _ in range(150):
                response = reader.get("/state")
                bodies[response.headers["etag"]].add(response.content)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert len(bodies) > 5, "the writers did not change the state while it was read"
    assert all(len(variants) == 1 for variants in bodies.values())
