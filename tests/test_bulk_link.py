from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import add_points, holder_of, make_device


@pytest.fixture
def studio(client: TestClient, db: Session) -> dict[str, Any]:
    points = add_points(db, 4)
    device = make_device(client, ports=[{"label": f"P{n}", "type": "Input"} for n in range(1, 7)])
    return {"points": points, "ports": [p["id"] for p in device["ports"]]}


def bulk(client: TestClient, links: list[tuple[str, int | None]]) -> Any:
    return client.post(
        "/ports/bulk-link",
        json={"links": [{"port_id": port, "patchbay_id": point} for port, point in links]},
    )


def test_bulk_link_applies_a_whole_patch(client: TestClient, db: Session, studio: dict) -> None:
    (a, b, c, d), ports = studio["points"], studio["ports"]
    assert bulk(client, [(ports[0], a), (ports[1], b), (ports[5], c)]).status_code == 200
    # Swap two ports, take a point from a port outside the request, unlink one, leave one alone.
    response = bulk(client, [(ports[1], a), (ports[0], b), (ports[2], c), (ports[3], None)])
    assert response.status_code == 200
    body = response.json()
    assert [(p["id"], p["patchbay_id"]) for p in body["ports"]] == [
        (ports[1], a),
        (ports[0], b),
        (ports[2], c),
        (ports[3], None),
    ]
    assert body["unlinked_port_ids"] == [ports[5]]
    assert body["ports"][0] == {"id": ports[1], "label": "P2", "type": "Input", "patchbay_id": a}
    assert holder_of(db, a) == ports[1]
    assert holder_of(db, b) == ports[0]
    assert holder_of(db, c) == ports[2]
    assert holder_of(db, d) is None


def test_unlinked_ids_are_sorted(client: TestClient, studio: dict) -> None:
    (a, b, _, _), ports = studio["points"], studio["ports"]
    bulk(client, [(ports[5], a), (ports[4], b)])
    response = bulk(client, [(ports[0], a), (ports[1], b)])
    assert response.json()["unlinked_port_ids"] == sorted([ports[5], ports[4]])


def test_relinking_in_bulk_to_the_same_points_changes_nothing(
    client: TestClient, studio: dict
) -> None:
    (a, _, _, _), ports = studio["points"], studio["ports"]
    bulk(client, [(ports[0], a)])
    response = bulk(client, [(ports[0], a), (ports[1], None)])
    assert response.json()["unlinked_port_ids"] == []
    assert response.json()["ports"][0]["patchbay_id"] == a


@pytest.mark.parametrize("which", ["port", "point"])
def test_unknown_port_or_point_is_404_and_changes_nothing(
    client: TestClient, db: Session, studio: dict, which: str
) -> None:
    (a, b, _, _), ports = studio["points"], studio["ports"]
    bulk(client, [(ports[0], a)])
    bad = ("nope", b) if which == "port" else (ports[2], 999999)
    response = bulk(client, [(ports[1], a), bad])
    expected = "Port not found" if which == "port" else "Patchbay point not found"
    assert (response.status_code, response.json()) == (404, {"detail": expected})
    assert holder_of(db, a) == ports[0]


@pytest.mark.parametrize(
    "links",
    [
        "port-twice",
        "point-twice",
        "empty",
        "too-many",
        "bad-point",
        "nul-port",
        "missing-point",
    ],
)
def test_bad_bulk_requests_are_422(
    client: TestClient, db: Session, studio: dict, links: str
) -> None:
    (a, b, _, _), ports = studio["points"], studio["ports"]
    bodies: dict[str, Any] = {
        "port-twice": [
            {"port_id": ports[0], "patchbay_id": a},
            {"port_id": ports[0], "patchbay_id": b},
        ],
        "point-twice": [
            {"port_id": ports[0], "patchbay_id": a},
            {"port_id": ports[1], "patchbay_id": a},
        ],
        "empty": [],
        "too-many": [{"port_id": f"p{n}", "patchbay_id": None} for n in range(501)],
        "bad-point": [{"port_id": ports[0], "patchbay_id": 2**31}],
        "nul-port": [{"port_id": "a\x00", "patchbay_id": a}],
        "missing-point": [{"port_id": ports[0]}],
    }
    response = client.post("/ports/bulk-link", json={"links": bodies[links]})
    assert response.status_code == 422
    assert holder_of(db, a) is None


def test_two_unlinks_in_one_request_are_fine(client: TestClient, studio: dict) -> None:
    ports = studio["ports"]
    assert bulk(client, [(ports[0], None), (ports[1], None)]).status_code == 200
