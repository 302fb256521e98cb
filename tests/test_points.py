import pytest
from fastapi.testclient import TestClient

from tests.helpers import Db, add_points, count, make_device


def test_create_point_with_defaults_and_location(client: TestClient) -> None:
    response = client.post("/patchbay-points", json={"name": "A1"})
    assert response.status_code == 201
    point = response.json()
    assert point == {"id": point["id"], "name": "A1", "description": "", "type": "standard"}
    assert response.headers["location"] == f"/patchbay-points/{point['id']}"
    assert client.get(response.headers["location"]).json() == point


def test_create_point_with_every_field(client: TestClient) -> None:
    body = {"name": "B7", "description": "Bottom row", "type": "normalled"}
    response = client.post("/patchbay-points", json=body)
    assert response.status_code == 201
    assert {k: v for k, v in response.json().items() if k != "id"} == body


def test_points_typed_in_pgadmin_do_not_block_new_ones(client: TestClient, db: Db) -> None:
    # Ids typed by hand leave the id sequence behind the table.
    next_id = db.scalar("SELECT nextval('patchbay_points_id_seq') + 1")
    db.execute(
        "INSERT INTO patchbay_points (id, name) "
        "SELECT n, 'hand' FROM generate_series(CAST(%(a)s AS int), CAST(%(b)s AS int)) n",
        {"a": next_id, "b": next_id + 5},
    )
    response = client.post("/patchbay-points", json={"name": "API"})
    assert response.status_code == 201
    assert response.json()["id"] > next_id + 5
    bulk = client.post("/patchbay-points/bulk", json={"points": [{"name": "X"}, {"name": "Y"}]})
    assert bulk.status_code == 201


def test_list_and_get_points(client: TestClient, db: Db) -> None:
    ids = add_points(db, 3)
    listed = client.get("/patchbay-points").json()
    assert [p["id"] for p in listed] == sorted(ids)
    assert client.get(f"/patchbay-points/{ids[1]}").json() == {
        "id": ids[1],
        "name": "P2",
        "description": "",
        "type": "standard",
    }
    assert listed == client.get("/state").json()["patchbay_points"]


def test_get_unknown_point_is_404(client: TestClient) -> None:
    response = client.get("/patchbay-points/123456")
    assert (response.status_code, response.json()) == (404, {"detail": "Patchbay point not found"})


def test_bulk_create_keeps_order(client: TestClient) -> None:
    names = [f"A{n}" for n in range(1, 97)]
    response = client.post("/patchbay-points/bulk", json={"points": [{"name": n} for n in names]})
    assert response.status_code == 201
    points = response.json()
    assert [p["name"] for p in points] == names
    assert [p["id"] for p in points] == sorted(p["id"] for p in points)
    assert len(client.get("/state").json()["patchbay_points"]) == 96


@pytest.mark.parametrize(
    "body",
    [
        {"points": []},
        {"points": [{"name": "x"}] * 501},
        {"points": [{"name": "ok"}, {"name": ""}]},
        {"points": [{"name": "ok"}, {"name": "x", "description": "d" * 2001}]},
        {"points": [{"name": "ok"}, {"name": "x\x00"}]},
        {},
    ],
    ids=["empty", "501", "blank", "long-description", "nul", "missing"],
)
def test_bulk_create_is_all_or_nothing(client: TestClient, db: Db, body: dict) -> None:
    assert client.post("/patchbay-points/bulk", json=body).status_code == 422
    assert count(db, "patchbay_points") == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": " "},
        {"name": "x" * 201},
        {"name": "A", "description": "d" * 2001},
        {"name": "A", "type": ""},
        {"name": "A", "description": "\x00"},
        {"name": "A", "colour": "red"},
        {"name": None},
    ],
)
def test_create_point_bad_input_is_422(client: TestClient, db: Db, body: dict) -> None:
    assert client.post("/patchbay-points", json=body).status_code == 422
    assert count(db, "patchbay_points") == 0


def test_description_limit_is_inclusive(client: TestClient) -> None:
    response = client.post("/patchbay-points", json={"name": "A", "description": "d" * 2000})
    assert response.status_code == 201


def test_patch_point(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    response = client.patch(f"/patchbay-points/{point}", json={"description": "Top row"})
    assert response.status_code == 200
    assert response.json() == {
        "id": point,
        "name": "P1",
        "description": "Top row",
        "type": "standard",
    }
    response = client.patch(f"/patchbay-points/{point}", json={"name": "A1", "type": "normalled"})
    assert response.json() == {
        "id": point,
        "name": "A1",
        "description": "Top row",
        "type": "normalled",
    }
    assert client.get("/state").json()["patchbay_points"][0]["name"] == "A1"


def test_empty_patch_is_a_no_op(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    response = client.patch(f"/patchbay-points/{point}", json={})
    assert response.status_code == 200
    assert response.json()["name"] == "P1"


@pytest.mark.parametrize(
    "body", [{"name": None}, {"colour": "red"}, {"name": ""}, {"description": "d" * 2001}]
)
def test_bad_patch_is_422(client: TestClient, db: Db, body: dict) -> None:
    [point] = add_points(db, 1)
    assert client.patch(f"/patchbay-points/{point}", json=body).status_code == 422


def test_patch_unknown_point_is_404(client: TestClient) -> None:
    response = client.patch("/patchbay-points/123456", json={"name": "x"})
    assert (response.status_code, response.json()) == (404, {"detail": "Patchbay point not found"})


def test_delete_free_point(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    response = client.delete(f"/patchbay-points/{point}")
    assert response.status_code == 200
    assert response.json()["id"] == point
    assert count(db, "patchbay_points") == 0
    assert client.delete(f"/patchbay-points/{point}").status_code == 404


def test_delete_point_in_use_is_409(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    make_device(client, ports=[{"label": "A", "type": "Input", "patchbay_id": point}])
    response = client.delete(f"/patchbay-points/{point}")
    assert (response.status_code, response.json()) == (409, {"detail": "Patchbay point is in use"})
    assert count(db, "patchbay_points") == 1


@pytest.mark.parametrize("point_id", ["x", str(2**31), str(-(2**31) - 1)])
def test_bad_point_ids_are_422(client: TestClient, point_id: str) -> None:
    assert client.get(f"/patchbay-points/{point_id}").status_code == 422
    assert client.patch(f"/patchbay-points/{point_id}", json={}).status_code == 422
    assert client.delete(f"/patchbay-points/{point_id}").status_code == 422
