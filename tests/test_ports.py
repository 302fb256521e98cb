"""Ports: link (take-over), PUT …/patchbay, unlink, bulk link, and managing ports."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Db, add_points, holder_of, make_device


@pytest.fixture
def studio(client: TestClient, db: Db) -> dict[str, object]:
    points = add_points(db, 3)
    device = make_device(
        client,
        ports=[{"label": f"P{n}", "type": "Input"} for n in range(1, 12)],
    )
    ports = [port["id"] for port in device["ports"]]
    return {"points": points, "ports": ports}


def link(client: TestClient, port_id: str, point: int | None) -> dict[str, object]:
    response = client.post(f"/ports/{port_id}/link", json={"patchbay_id": point})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_link_to_a_free_point(client: TestClient, db: Db, studio: dict) -> None:
    point, port = studio["points"][0], studio["ports"][0]
    assert link(client, port, point) == {
        "id": port,
        "label": "P1",
        "type": "Input",
        "patchbay_id": point,
        "unlinked_port_id": None,
    }
    assert holder_of(db, point) == port


# port-2 and port-10 sort one way as strings and the other way as numbers, and the earlier
# service answered 409 for one of these orders.
@pytest.mark.parametrize(("holder", "taker"), [(1, 9), (9, 1), (10, 1), (1, 10)])
def test_take_over_works_whatever_the_id_order(
    client: TestClient, db: Db, studio: dict, holder: int, taker: int
) -> None:
    point = studio["points"][0]
    holder_id, taker_id = studio["ports"][holder], studio["ports"][taker]
    link(client, holder_id, point)
    body = link(client, taker_id, point)
    assert body["patchbay_id"] == point
    assert body["unlinked_port_id"] == holder_id
    assert holder_of(db, point) == taker_id
    port = client.get("/state").json()["devices"][0]["ports"][holder]
    assert port["patchbay_id"] is None


def test_link_moves_the_port_off_its_old_point(client: TestClient, db: Db, studio: dict) -> None:
    first, second = studio["points"][:2]
    port = studio["ports"][0]
    link(client, port, first)
    assert link(client, port, second)["unlinked_port_id"] is None
    assert holder_of(db, first) is None
    assert holder_of(db, second) == port


def test_relinking_to_the_same_point_is_a_no_op(client: TestClient, db: Db, studio: dict) -> None:
    point, port = studio["points"][0], studio["ports"][0]
    link(client, port, point)
    body = link(client, port, point)
    assert body["unlinked_port_id"] is None
    assert body["patchbay_id"] == point
    assert holder_of(db, point) == port


def test_link_unknown_port_is_404(client: TestClient, studio: dict) -> None:
    response = client.post("/ports/nope/link", json={"patchbay_id": studio["points"][0]})
    assert response.status_code == 404
    assert response.json() == {"detail": "Port not found"}


def test_link_unknown_point_is_404(client: TestClient, db: Db, studio: dict) -> None:
    response = client.post(f"/ports/{studio['ports'][0]}/link", json={"patchbay_id": 987654})
    assert response.status_code == 404
    assert response.json() == {"detail": "Patchbay point not found"}


@pytest.mark.parametrize(
    "body", [{}, {"patchbay_id": None}, {"patchbay_id": "x"}, {"patchbay_id": 2**31}, []]
)
def test_link_needs_an_integer_point(client: TestClient, studio: dict, body: object) -> None:
    response = client.post(f"/ports/{studio['ports'][0]}/link", json=body)
    assert response.status_code == 422


def test_put_patchbay_sets_a_free_point(client: TestClient, db: Db, studio: dict) -> None:
    point, port = studio["points"][0], studio["ports"][0]
    response = client.put(f"/ports/{port}/patchbay", json={"patchbay_id": point})
    assert response.status_code == 200
    assert response.json() == {"id": port, "label": "P1", "type": "Input", "patchbay_id": point}
    assert holder_of(db, point) == port


def test_put_patchbay_refuses_an_occupied_point(client: TestClient, db: Db, studio: dict) -> None:
    point = studio["points"][0]
    link(client, studio["ports"][0], point)
    response = client.put(f"/ports/{studio['ports'][1]}/patchbay", json={"patchbay_id": point})
    assert response.status_code == 409
    assert response.json() == {"detail": "Patchbay point already linked"}
    assert holder_of(db, point) == studio["ports"][0]


def test_put_patchbay_to_the_point_already_held_is_200(client: TestClient, studio: dict) -> None:
    point, port = studio["points"][0], studio["ports"][0]
    link(client, port, point)
    response = client.put(f"/ports/{port}/patchbay", json={"patchbay_id": point})
    assert response.status_code == 200
    assert response.json()["patchbay_id"] == point


@pytest.mark.parametrize("body", [{"patchbay_id": None}, {}])
def test_put_patchbay_null_or_missing_clears(
    client: TestClient, db: Db, studio: dict, body: dict
) -> None:
    point, port = studio["points"][0], studio["ports"][0]
    link(client, port, point)
    response = client.put(f"/ports/{port}/patchbay", json=body)
    assert response.status_code == 200
    assert response.json()["patchbay_id"] is None
    assert holder_of(db, point) is None


def test_put_patchbay_unknown_port_and_point_are_404(client: TestClient, studio: dict) -> None:
    response = client.put("/ports/nope/patchbay", json={"patchbay_id": studio["points"][0]})
    assert (response.status_code, response.json()) == (404, {"detail": "Port not found"})
    response = client.put("/ports/nope/patchbay", json={"patchbay_id": None})
    assert (response.status_code, response.json()) == (404, {"detail": "Port not found"})
    response = client.put(f"/ports/{studio['ports'][0]}/patchbay", json={"patchbay_id": 987654})
    assert (response.status_code, response.json()) == (404, {"detail": "Patchbay point not found"})


@pytest.mark.parametrize("body", [{"patchbay_id": "x"}, {"patchbay_id": -(2**31) - 1}, [1]])
def test_put_patchbay_bad_body_is_422(client: TestClient, studio: dict, body: object) -> None:
    assert client.put(f"/ports/{studio['ports'][0]}/patchbay", json=body).status_code == 422


def test_unlink_frees_the_point(client: TestClient, db: Db, studio: dict) -> None:
    point, port = studio["points"][0], studio["ports"][0]
    link(client, port, point)
    response = client.post(f"/ports/{port}/unlink")
    assert response.status_code == 200
    assert response.json() == {"id": port, "label": "P1", "type": "Input", "patchbay_id": None}
    assert holder_of(db, point) is None
    # Unlinking a free port is harmless.
    assert client.post(f"/ports/{port}/unlink").status_code == 200


def test_unlink_unknown_port_is_404(client: TestClient) -> None:
    response = client.post("/ports/nope/unlink")
    assert (response.status_code, response.json()) == (404, {"detail": "Port not found"})


def test_get_patch_and_delete_a_port(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    device = make_device(client, ports=[{"label": "A", "type": "Input", "patchbay_id": point}])
    port_id = device["ports"][0]["id"]
    assert client.get(f"/ports/{port_id}").json() == device["ports"][0]
    response = client.patch(f"/ports/{port_id}", json={"label": "MIDI IN", "type": " OTHER "})
    assert response.status_code == 200
    assert response.json() == {
        "id": port_id,
        "label": "MIDI IN",
        "type": "Other",
        "patchbay_id": point,
    }
    assert client.patch(f"/ports/{port_id}", json={}).json()["label"] == "MIDI IN"
    response = client.delete(f"/ports/{port_id}")
    assert response.status_code == 200
    assert response.json()["id"] == port_id
    assert holder_of(db, point) is None
    assert client.get("/state").json()["devices"][0]["ports"] == []


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_port_is_404(client: TestClient, method: str) -> None:
    response = client.request(method, "/ports/nope", json={} if method == "PATCH" else None)
    assert (response.status_code, response.json()) == (404, {"detail": "Port not found"})


@pytest.mark.parametrize(
    "body", [{"label": None}, {"type": "in"}, {"patchbay_id": 1}, {"label": " "}]
)
def test_bad_port_patch_is_422(client: TestClient, body: dict) -> None:
    device = make_device(client)
    assert client.patch(f"/ports/{device['ports'][0]['id']}", json=body).status_code == 422


def test_list_ports_with_filters(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    first = make_device(client, ports=[{"label": f"P{n}", "type": "Input"} for n in range(1, 12)])
    second = make_device(client, ports=[{"label": "X", "type": "Output", "patchbay_id": point}])
    every = client.get("/ports").json()
    assert every == first["ports"] + second["ports"]
    assert client.get("/ports", params={"device_id": first["id"]}).json() == first["ports"]
    assert client.get("/ports", params={"linked": "true"}).json() == second["ports"]
    assert client.get("/ports", params={"linked": "false"}).json() == first["ports"]
    both = {"device_id": second["id"], "linked": "false"}
    assert client.get("/ports", params=both).json() == []
    assert client.get("/ports", params={"device_id": 999999}).json() == []


@pytest.mark.parametrize(
    "params", [{"device_id": "x"}, {"device_id": str(2**31)}, {"linked": "maybe"}]
)
def test_list_ports_bad_filters_are_422(client: TestClient, params: dict) -> None:
    assert client.get("/ports", params=params).status_code == 422


# --- Bulk link --------------------------------------------------------------------------------


@pytest.fixture
def bulk_studio(client: TestClient, db: Db) -> dict[str, Any]:
    points = add_points(db, 4)
    device = make_device(client, ports=[{"label": f"P{n}", "type": "Input"} for n in range(1, 7)])
    return {"points": points, "ports": [p["id"] for p in device["ports"]]}


def bulk(client: TestClient, links: list[tuple[str, int | None]]) -> Any:
    return client.post(
        "/ports/bulk-link",
        json={"links": [{"port_id": port, "patchbay_id": point} for port, point in links]},
    )


def test_bulk_link_applies_a_whole_patch(client: TestClient, db: Db, bulk_studio: dict) -> None:
    (a, b, c, d), ports = bulk_studio["points"], bulk_studio["ports"]
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


def test_unlinked_ids_are_sorted(client: TestClient, bulk_studio: dict) -> None:
    (a, b, _, _), ports = bulk_studio["points"], bulk_studio["ports"]
    bulk(client, [(ports[5], a), (ports[4], b)])
    response = bulk(client, [(ports[0], a), (ports[1], b)])
    assert response.json()["unlinked_port_ids"] == sorted([ports[5], ports[4]])


def test_relinking_in_bulk_to_the_same_points_changes_nothing(
    client: TestClient, bulk_studio: dict
) -> None:
    (a, _, _, _), ports = bulk_studio["points"], bulk_studio["ports"]
    bulk(client, [(ports[0], a)])
    response = bulk(client, [(ports[0], a), (ports[1], None)])
    assert response.json()["unlinked_port_ids"] == []
    assert response.json()["ports"][0]["patchbay_id"] == a


@pytest.mark.parametrize("which", ["port", "point"])
def test_unknown_port_or_point_is_404_and_changes_nothing(
    client: TestClient, db: Db, bulk_studio: dict, which: str
) -> None:
    (a, b, _, _), ports = bulk_studio["points"], bulk_studio["ports"]
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
    client: TestClient, db: Db, bulk_studio: dict, links: str
) -> None:
    (a, b, _, _), ports = bulk_studio["points"], bulk_studio["ports"]
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


def test_two_unlinks_in_one_request_are_fine(client: TestClient, bulk_studio: dict) -> None:
    ports = bulk_studio["ports"]
    assert bulk(client, [(ports[0], None), (ports[1], None)]).status_code == 200
