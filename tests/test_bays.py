"""Bays (SPEC D1): channels with a normalling mode, points in their slots."""

from typing import Any

import pytest
import sqlalchemy.exc
from fastapi.testclient import TestClient

from app.core.errors import constraint_error
from app.schemas.bay import BayRead
from tests.helpers import Db, add_points, count, make_bay, make_device, shaped


def points_of(client: TestClient) -> dict[int, str]:
    return {point["id"]: point["name"] for point in client.get("/patchbay-points").json()}


def test_create_a_bay_with_its_points(client: TestClient) -> None:
    response = client.post("/bays", json={"name": "Bay A", "channels": 3})
    assert response.status_code == 201
    bay = shaped(response, BayRead)
    assert response.headers["location"] == f"/bays/{bay['id']}"
    names = points_of(client)
    # Created channel by channel, top first: 1T, 1B, 2T, ...
    assert list(names.values()) == [
        "Bay A 1T",
        "Bay A 1B",
        "Bay A 2T",
        "Bay A 2B",
        "Bay A 3T",
        "Bay A 3B",
    ]
    ids = list(names)
    assert bay == {
        "id": bay["id"],
        "name": "Bay A",
        "description": "",
        "channels": [
            {
                "number": n,
                "mode": "half-normal",
                "top_point_id": ids[2 * n - 2],
                "bottom_point_id": ids[2 * n - 1],
            }
            for n in (1, 2, 3)
        ],
    }
    assert client.get(f"/bays/{bay['id']}").json() == bay
    assert client.get("/bays").json() == [bay]
    assert client.get("/state").json()["bays"] == [bay]


def test_create_a_bay_without_points_and_with_a_mode(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=2, mode="thru", create_points=False, description="Rack 2")
    assert bay["description"] == "Rack 2"
    assert bay["channels"] == [
        {"number": n, "mode": "thru", "top_point_id": None, "bottom_point_id": None} for n in (1, 2)
    ]
    assert count(db, "patchbay_points") == 0


def test_bay_names_are_unique(client: TestClient, db: Db) -> None:
    make_bay(client)
    response = client.post("/bays", json={"name": "Bay A", "channels": 1})
    assert (response.status_code, response.json()) == (409, {"detail": "Bay name already used"})
    assert count(db, "bays") == 1
    assert count(db, "patchbay_points") == 6


def test_limits_are_inclusive(client: TestClient) -> None:
    bay = make_bay(client, name="B" * 190, channels=96)
    assert len(bay["channels"]) == 96
    # The longest point name still fits a point's 200 characters.
    assert max(len(name) for name in points_of(client).values()) == 194


@pytest.mark.parametrize(
    "body",
    [
        {"name": "B" * 191, "channels": 1},
        {"name": "", "channels": 1},
        {"name": "  ", "channels": 1},
        {"name": "A\x00", "channels": 1},
        {"name": "A", "channels": 0},
        {"name": "A", "channels": 97},
        {"name": "A", "channels": 2**31},
        {"name": "A", "channels": "4"},
        {"name": "A", "channels": True},
        {"name": "A", "channels": 1.5},
        {"name": "A"},
        {"name": "A", "channels": 1, "mode": "NORMAL"},
        {"name": "A", "channels": 1, "mode": "open"},
        {"name": "A", "channels": 1, "create_points": "yes"},
        {"name": "A", "channels": 1, "description": "d" * 2001},
        {"name": "A", "channels": 1, "colour": "red"},
    ],
    ids=lambda body: repr(body)[:50],
)
def test_bad_bays_are_422_and_create_nothing(client: TestClient, db: Db, body: Any) -> None:
    response = client.post("/bays", json=body)
    assert response.status_code == 422, response.text
    assert count(db, "bays") == 0
    assert count(db, "patchbay_points") == 0


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_bay_is_404(client: TestClient, method: str) -> None:
    response = client.request(method, "/bays/999999", json={} if method == "PATCH" else None)
    assert (response.status_code, response.json()) == (404, {"detail": "Bay not found"})


def test_unknown_bay_is_404_for_its_channels(client: TestClient) -> None:
    for response in (
        client.patch("/bays/999999/channels", json={"first": 1, "mode": "thru"}),
        client.put("/bays/999999/channels/1", json={}),
    ):
        assert (response.status_code, response.json()) == (404, {"detail": "Bay not found"})


def test_rename_and_describe_a_bay(client: TestClient) -> None:
    bay = make_bay(client)
    response = client.patch(f"/bays/{bay['id']}", json={"name": "Drums", "description": "Rack 1"})
    assert response.status_code == 200
    assert shaped(response, BayRead) == {**bay, "name": "Drums", "description": "Rack 1"}
    # The points keep their names.
    assert "Bay A 1T" in points_of(client).values()
    make_bay(client, name="Other")
    taken = client.patch(f"/bays/{bay['id']}", json={"name": "Other"})
    assert (taken.status_code, taken.json()) == (409, {"detail": "Bay name already used"})
    for body in ({"name": None}, {"name": ""}, {"channels": 4}):
        assert client.patch(f"/bays/{bay['id']}", json=body).status_code == 422


def test_set_the_mode_of_channels(client: TestClient) -> None:
    bay = make_bay(client, channels=6)
    url = f"/bays/{bay['id']}/channels"
    response = client.patch(url, json={"first": 2, "last": 4, "mode": "normal"})
    assert response.status_code == 200
    modes = [channel["mode"] for channel in shaped(response, BayRead)["channels"]]
    assert modes == ["half-normal", "normal", "normal", "normal", "half-normal", "half-normal"]
    # `last` defaults to `first`.
    one = client.patch(url, json={"first": 6, "mode": "parallel"}).json()
    assert [channel["mode"] for channel in one["channels"]][-2:] == ["half-normal", "parallel"]
    every = client.patch(url, json={"first": 1, "last": 6, "mode": "half-normal-top"}).json()
    assert {channel["mode"] for channel in every["channels"]} == {"half-normal-top"}


@pytest.mark.parametrize(
    "body",
    [
        {"first": 4, "last": 3, "mode": "thru"},
        {"first": 7, "mode": "thru"},
        {"first": 1, "last": 7, "mode": "thru"},
        {"first": 0, "mode": "thru"},
        {"first": 1, "mode": "sideways"},
        {"first": 1},
        {"mode": "thru"},
        {"first": "1", "mode": "thru"},
    ],
    ids=repr,
)
def test_bad_channel_ranges_are_422_and_change_nothing(
    client: TestClient, body: dict[str, Any]
) -> None:
    bay = make_bay(client, channels=6)
    response = client.patch(f"/bays/{bay['id']}/channels", json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert client.get(f"/bays/{bay['id']}").json() == bay


def test_put_points_into_a_channel(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=2, create_points=False)
    top, bottom, spare = add_points(db, 3)
    url = f"/bays/{bay['id']}/channels/2"
    response = client.put(url, json={"top_point_id": top, "bottom_point_id": bottom})
    assert response.status_code == 200
    channel = shaped(response, BayRead)["channels"][1]
    assert (channel["top_point_id"], channel["bottom_point_id"]) == (top, bottom)
    # Swapping the two within the channel is fine.
    swapped = client.put(url, json={"top_point_id": bottom, "bottom_point_id": top}).json()
    assert (swapped["channels"][1]["top_point_id"], swapped["channels"][1]["bottom_point_id"]) == (
        bottom,
        top,
    )
    # A missing key empties its slot; the point is loose again.
    emptied = client.put(url, json={"bottom_point_id": spare}).json()["channels"][1]
    assert (emptied["top_point_id"], emptied["bottom_point_id"]) == (None, spare)
    moved = client.put(f"/bays/{bay['id']}/channels/1", json={"top_point_id": top})
    assert moved.status_code == 200


def test_a_point_sits_in_one_slot(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=2)
    taken = bay["channels"][0]["top_point_id"]
    response = client.put(f"/bays/{bay['id']}/channels/2", json={"top_point_id": taken})
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "Patchbay point already in a bay"},
    )
    assert client.get(f"/bays/{bay['id']}").json() == bay
    other = make_bay(client, name="Bay B", channels=1, create_points=False)
    response = client.put(f"/bays/{other['id']}/channels/1", json={"bottom_point_id": taken})
    assert response.status_code == 409


def test_put_errors(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=2, create_points=False)
    [point] = add_points(db, 1)
    for channel in ("0", "3", "2147483647", "-1"):
        response = client.put(f"/bays/{bay['id']}/channels/{channel}", json={})
        assert (response.status_code, response.json()) == (404, {"detail": "Channel not found"})
    missing = client.put(f"/bays/{bay['id']}/channels/1", json={"top_point_id": 999999})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Patchbay point not found"})
    for body in (
        {"top_point_id": point, "bottom_point_id": point},
        {"top_point_id": "1"},
        {"top_point_id": 2**31},
        {"left": 1},
    ):
        assert client.put(f"/bays/{bay['id']}/channels/1", json=body).status_code == 422
    assert client.put(f"/bays/{bay['id']}/channels/x", json={}).status_code == 422
    assert client.get(f"/bays/{bay['id']}").json() == bay


def test_a_channel_deleted_by_hand_is_not_there(client: TestClient, db: Db) -> None:
    """pgAdmin can delete a channel from the middle of a bay: its number is then not a channel,
    and the others work as before."""
    bay = make_bay(client, channels=3, create_points=False)
    db.execute("DELETE FROM bay_channels WHERE bay_id = %(b)s AND number = 2", {"b": bay["id"]})
    [point] = add_points(db, 1)
    url = f"/bays/{bay['id']}/channels"
    response = client.put(f"{url}/2", json={"top_point_id": point})
    assert (response.status_code, response.json()) == (404, {"detail": "Channel not found"})
    response = client.put(f"{url}/3", json={"top_point_id": point})
    assert response.status_code == 200, response.text
    assert [c["number"] for c in response.json()["channels"]] == [1, 3]
    response = client.patch(url, json={"first": 2, "mode": "thru"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "the bay has channels 1, 3"
    response = client.patch(url, json={"first": 1, "last": 3, "mode": "thru"})
    assert response.status_code == 200
    assert [c["mode"] for c in response.json()["channels"]] == ["thru", "thru"]


def test_a_channel_deleted_while_a_point_goes_into_it_is_404(client: TestClient, db: Db) -> None:
    """The foreign key from a slot to its channel stands for "Channel not found" when a row
    typed in by hand breaks it."""
    bay = make_bay(client, channels=1, create_points=False)
    [point] = add_points(db, 1)
    with pytest.raises(sqlalchemy.exc.IntegrityError, match="ForeignKeyViolation") as raised:
        db.execute(
            "UPDATE patchbay_points SET bay_id = %(b)s, bay_channel = 5, bay_row = 'top' "
            "WHERE id = %(p)s",
            {"b": bay["id"], "p": point},
        )
    known = constraint_error(raised.value)
    assert known is not None and (known.status_code, known.detail) == (404, "Channel not found")


def test_deleting_a_point_empties_its_slot(client: TestClient) -> None:
    bay = make_bay(client, channels=1)
    top = bay["channels"][0]["top_point_id"]
    assert client.delete(f"/patchbay-points/{top}").status_code == 200
    assert client.get(f"/bays/{bay['id']}").json()["channels"][0]["top_point_id"] is None


def test_delete_a_bay_and_its_points(client: TestClient, db: Db) -> None:
    bay = make_bay(client)
    [loose] = add_points(db, 1, prefix="Loose ")
    response = client.delete(f"/bays/{bay['id']}")
    assert response.status_code == 200
    assert shaped(response, BayRead) == bay
    assert list(points_of(client)) == [loose]
    assert count(db, "bay_channels") == 0
    assert client.get("/bays").json() == []


def test_a_bay_in_use_cannot_go(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=2)
    [loose] = add_points(db, 1)
    first, second = bay["channels"][0]["top_point_id"], bay["channels"][1]["bottom_point_id"]
    device = make_device(client, ports=[{"label": "OUT", "type": "Output", "patchbay_id": first}])
    response = client.delete(f"/bays/{bay['id']}")
    assert (response.status_code, response.json()) == (409, {"detail": "Bay is in use"})
    assert client.delete(f"/ports/{device['ports'][0]['id']}").status_code == 200
    cable = client.post("/cables", json={"points": [loose, second]}).json()
    assert client.delete(f"/bays/{bay['id']}").status_code == 409
    assert client.delete(f"/cables/{cable['id']}").status_code == 200
    assert client.delete(f"/bays/{bay['id']}").status_code == 200


def test_postgresql_keeps_the_slots_straight(client: TestClient, db: Db) -> None:
    """What pgAdmin users cannot break either."""
    bay = make_bay(client, channels=2)
    taken_slot = "UPDATE patchbay_points SET bay_id = %(bay)s, bay_channel = 1, bay_row = 'top' WHERE id = %(id)s"
    [loose] = add_points(db, 1)
    for statement, params in (
        (taken_slot, {"bay": bay["id"], "id": loose}),  # two points in one slot
        ("INSERT INTO bay_channels (bay_id, number) VALUES (%(bay)s, 97)", {"bay": bay["id"]}),
        (
            "UPDATE patchbay_points SET bay_id = %(bay)s, bay_channel = 3, bay_row = 'top' WHERE id = %(id)s",
            {"bay": bay["id"], "id": loose},
        ),  # a channel the bay does not have
        (
            "UPDATE patchbay_points SET bay_id = %(bay)s, bay_channel = 2, bay_row = 'middle' WHERE id = %(id)s",
            {"bay": bay["id"], "id": loose},
        ),
        (
            "UPDATE patchbay_points SET bay_row = NULL WHERE id = %(id)s",
            {"id": bay["channels"][0]["top_point_id"]},
        ),
    ):
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            db.execute(statement, params)
