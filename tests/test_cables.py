"""Patch cables (SPEC D2): a jack holds one plug."""

from typing import Any

import pytest
import sqlalchemy.exc
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.schemas.cable import CableRead
from tests.helpers import Db, add_points, count, shaped


def plug(client: TestClient, a: int, b: int, **body: Any) -> dict[str, Any]:
    response = client.post("/cables", json={"points": [a, b], **body})
    assert response.status_code == 201, response.text
    cable: dict[str, Any] = shaped(response, CableRead)
    return cable


def test_plug_a_cable(client: TestClient, db: Db) -> None:
    a, b = add_points(db, 2)
    response = client.post(
        "/cables", json={"points": [b, a], "label": "Juno to comp", "color": "red"}
    )
    assert response.status_code == 201
    cable = shaped(response, CableRead)
    # The points in the order given.
    assert cable == {"id": cable["id"], "points": [b, a], "label": "Juno to comp", "color": "red"}
    assert response.headers["location"] == f"/cables/{cable['id']}"
    assert client.get(f"/cables/{cable['id']}").json() == cable
    assert client.get("/cables").json() == [cable]
    assert client.get("/state").json()["cables"] == [cable]


def test_label_and_color_default(client: TestClient, db: Db) -> None:
    a, b = add_points(db, 2)
    assert plug(client, a, b) | {"id": 0} == {"id": 0, "points": [a, b], "label": "", "color": None}


def test_a_jack_holds_one_plug(client: TestClient, db: Db) -> None:
    a, b, c, d = add_points(db, 4)
    first = plug(client, a, b)
    for points in ([a, c], [c, a], [b, d], [d, b], [a, b], [b, a]):
        response = client.post("/cables", json={"points": points})
        assert (response.status_code, response.json()) == (409, {"detail": "Jack already patched"})
    assert client.get("/cables").json() == [first]
    plug(client, c, d)


def test_unknown_points_are_404_and_plug_nothing(client: TestClient, db: Db) -> None:
    [a] = add_points(db, 1)
    for points in ([a, 999999], [999999, a], [999998, 999999]):
        response = client.post("/cables", json={"points": points})
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "Patchbay point not found"},
        )
    assert count(db, "cables") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"points": [1, 1]},
        {"points": [1]},
        {"points": [1, 2, 3]},
        {"points": []},
        {"points": ["1", "2"]},
        {"points": [1, True]},
        {"points": [1, 2**31]},
        {"points": [1, 2], "label": "x" * 201},
        {"points": [1, 2], "label": "a\x00"},
        {"points": [1, 2], "color": ""},
        {"points": [1, 2], "color": "c" * 51},
        {"points": [1, 2], "colour": "red"},
        {"label": "no points"},
    ],
    ids=repr,
)
def test_bad_cables_are_422(client: TestClient, db: Db, body: Any) -> None:
    add_points(db, 3)
    assert client.post("/cables", json=body).status_code == 422
    assert count(db, "cables") == 0


def test_relabel_recolour_and_unplug(client: TestClient, db: Db) -> None:
    a, b = add_points(db, 2)
    cable = plug(client, a, b, color="blue")
    url = f"/cables/{cable['id']}"
    relabelled = client.patch(url, json={"label": "Send 1"})
    assert shaped(relabelled, CableRead) == {**cable, "label": "Send 1"}
    assert client.patch(url, json={"color": None}).json()["color"] is None
    assert client.patch(url, json={"color": "green"}).json()["color"] == "green"
    assert client.patch(url, json={}).json() == {**cable, "label": "Send 1", "color": "green"}
    for body in ({"label": None}, {"color": ""}, {"points": [b, a]}):
        assert client.patch(url, json=body).status_code == 422
    removed = client.delete(url)
    assert shaped(removed, CableRead) == {**cable, "label": "Send 1", "color": "green"}
    assert client.get("/cables").json() == []
    # Both jacks are free again.
    plug(client, b, a)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_cable_is_404(client: TestClient, method: str) -> None:
    response = client.request(method, "/cables/999999", json={} if method == "PATCH" else None)
    assert (response.status_code, response.json()) == (404, {"detail": "Cable not found"})


def test_a_point_with_a_plug_cannot_be_deleted(client: TestClient, db: Db) -> None:
    a, b = add_points(db, 2)
    cable = plug(client, a, b)
    for point in (a, b):
        response = client.delete(f"/patchbay-points/{point}")
        assert (response.status_code, response.json()) == (
            409,
            {"detail": "Patchbay point is in use"},
        )
    client.delete(f"/cables/{cable['id']}")
    assert client.delete(f"/patchbay-points/{a}").status_code == 200


def test_postgresql_keeps_the_plugs_straight(client: TestClient, db: Db) -> None:
    a, b, c = add_points(db, 3)
    cable = plug(client, a, b)
    for statement in (
        "INSERT INTO cable_ends (cable_id, end_number, point_id) VALUES (%(id)s, 3, %(c)s)",
        "UPDATE cable_ends SET point_id = %(a)s WHERE cable_id = %(id)s AND end_number = 2",
        "INSERT INTO cable_ends (cable_id, end_number, point_id) VALUES (%(id)s, 2, %(c)s)",
        "DELETE FROM patchbay_points WHERE id = %(a)s",
    ):
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            db.execute(statement, {"id": cable["id"], "a": a, "c": c})


def test_a_cable_must_have_its_two_ends_at_commit(
    engine: Any, committing_client: TestClient
) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (id, name) VALUES (1, 'A'), (2, 'B')"))
    with pytest.raises(Exception, match="exactly two ends"), engine.begin() as conn:
        conn.execute(text("INSERT INTO cables (id) VALUES (1)"))
        conn.execute(text("INSERT INTO cable_ends VALUES (1, 1, 1)"))
    assert committing_client.get("/cables").json() == []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO cables (id) VALUES (1)"))
        conn.execute(text("INSERT INTO cable_ends VALUES (1, 1, 1), (1, 2, 2)"))
    assert committing_client.get("/cables").json()[0]["points"] == [1, 2]


def test_a_cable_that_loses_its_ends_to_a_truncate_is_gone(
    committing_client: TestClient, engine: Engine
) -> None:
    """pgAdmin's `TRUNCATE patchbay_points CASCADE` empties cable_ends without a row trigger:
    the cables go with their ends, so none is left half there (404, not listed, not exported,
    not counted by an import)."""
    client = committing_client
    a, b, c, d = (
        client.post("/patchbay-points", json={"name": f"P{n}"}).json()["id"] for n in range(4)
    )
    first, second = plug(client, a, b), plug(client, c, d)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE patchbay_points CASCADE"))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM cables")) == 0
    for cable in (first, second):
        assert client.get(f"/cables/{cable['id']}").status_code == 404
        assert client.delete(f"/cables/{cable['id']}").status_code == 404
    assert client.get("/cables").json() == []
    assert client.get("/export").json()["cables"] == []
    dry_run = client.post("/import", json=client.get("/export").json())
    assert dry_run.json()["delete"]["cables"] == 0
