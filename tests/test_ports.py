import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import add_points, holder_of, make_device


@pytest.fixture
def studio(client: TestClient, db: Session) -> dict[str, object]:
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


def test_link_to_a_free_point(client: TestClient, db: Session, studio: dict) -> None:
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
    client: TestClient, db: Session, studio: dict, holder: int, taker: int
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


def test_link_moves_the_port_off_its_old_point(
    client: TestClient, db: Session, studio: dict
) -> None:
    first, second = studio["points"][:2]
    port = studio["ports"][0]
    link(client, port, first)
    assert link(client, port, second)["unlinked_port_id"] is None
    assert holder_of(db, first) is None
    assert holder_of(db, second) == port


def test_relinking_to_the_same_point_is_a_no_op(
    client: TestClient, db: Session, studio: dict
) -> None:
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


def test_link_unknown_point_is_404(client: TestClient, db: Session, studio: dict) -> None:
    response = client.post(f"/ports/{studio['ports'][0]}/link", json={"patchbay_id": 987654})
    assert response.status_code == 404
    assert response.json() == {"detail": "Patchbay point not found"}


@pytest.mark.parametrize(
    "body", [{}, {"patchbay_id": None}, {"patchbay_id": "x"}, {"patchbay_id": 2**31}, []]
)
def test_link_needs_an_integer_point(client: TestClient, studio: dict, body: object) -> None:
    response = client.post(f"/ports/{studio['ports'][0]}/link", json=body)
    assert response.status_code == 422


def test_put_patchbay_sets_a_free_point(client: TestClient, db: Session, studio: dict) -> None:
    point, port = studio["points"][0], studio["ports"][0]
    response = client.put(f"/ports/{port}/patchbay", json={"patchbay_id": point})
    assert response.status_code == 200
    assert response.json() == {"id": port, "label": "P1", "type": "Input", "patchbay_id": point}
    assert holder_of(db, point) == port


def test_put_patchbay_refuses_an_occupied_point(
    client: TestClient, db: Session, studio: dict
) -> None:
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
    client: TestClient, db: Session, studio: dict, body: dict
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


def test_unlink_frees_the_point(client: TestClient, db: Session, studio: dict) -> None:
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
