"""Devices: creating them with their ports (all or nothing), listing, renaming, adding a
port, deleting."""

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Db, add_points, count, holder_of, make_device


def test_create_device_numbers_ports_in_the_order_given(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    response = client.post(
        "/devices",
        json={
            "name": "Juno-106",
            "type": "Synth",
            "ports": [
                {"label": "MIDI IN", "type": "Input", "patchbay_id": point},
                {"label": "OUT L", "type": "Output"},
                {"label": "CV", "type": "Other", "patchbay_id": None},
            ],
        },
    )
    assert response.status_code == 201
    device = response.json()
    prefix = f"dev-{device['id']}-port-"
    assert device == {
        "id": device["id"],
        "name": "Juno-106",
        "type": "Synth",
        "ports": [
            {"id": prefix + "1", "label": "MIDI IN", "type": "Input", "patchbay_id": point},
            {"id": prefix + "2", "label": "OUT L", "type": "Output", "patchbay_id": None},
            {"id": prefix + "3", "label": "CV", "type": "Other", "patchbay_id": None},
        ],
    }
    assert holder_of(db, point) == prefix + "1"


def test_create_device_without_ports(client: TestClient) -> None:
    response = client.post("/devices", json={"name": "Patch cable box", "type": "Misc"})
    assert response.status_code == 201
    assert response.json()["ports"] == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("input", "Input"),
        ("INPUT", "Input"),
        (" Output ", "Output"),
        ("other", "Other"),
        ("Other", "Other"),
        ("\toutput\n", "Output"),
    ],
)
def test_port_type_accepts_any_case_and_surrounding_spaces(
    client: TestClient, given: str, stored: str
) -> None:
    device = make_device(client, ports=[{"label": "X", "type": given}])
    assert device["ports"][0]["type"] == stored


@pytest.mark.parametrize("bad_type", ["in", "Inputs", "", "  ", "MIDI", 1, None])
def test_port_type_rejects_anything_else(client: TestClient, db: Db, bad_type: object) -> None:
    response = client.post(
        "/devices", json={"name": "X", "type": "Synth", "ports": [{"label": "X", "type": bad_type}]}
    )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert count(db, "devices") == 0


def test_ports_keep_creation_order_past_nine(client: TestClient) -> None:
    ports = [{"label": f"P{n}", "type": "Input"} for n in range(1, 13)]
    device = make_device(client, ports=ports)
    expected = [f"dev-{device['id']}-port-{n}" for n in range(1, 13)]
    assert [port["id"] for port in device["ports"]] == expected
    [listed] = client.get("/state").json()["devices"]
    assert [port["id"] for port in listed["ports"]] == expected
    assert [port["label"] for port in listed["ports"]] == [f"P{n}" for n in range(1, 13)]


def test_unknown_point_is_404_and_creates_nothing(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    response = client.post(
        "/devices",
        json={
            "name": "X",
            "type": "Synth",
            "ports": [
                {"label": "A", "type": "Input", "patchbay_id": point},
                {"label": "B", "type": "Input", "patchbay_id": point + 1000},
            ],
        },
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Patchbay point not found"}
    assert count(db, "devices") == 0
    assert count(db, "ports") == 0


def test_point_held_by_another_port_is_409_and_creates_nothing(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    first = make_device(client, ports=[{"label": "A", "type": "Input", "patchbay_id": point}])
    response = client.post(
        "/devices",
        json={
            "name": "Y",
            "type": "Synth",
            "ports": [{"label": "B", "type": "Input", "patchbay_id": point}],
        },
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "Patchbay point already linked"}
    assert count(db, "devices") == 1
    assert holder_of(db, point) == first["ports"][0]["id"]


def test_two_new_ports_on_one_point_is_409_and_creates_nothing(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    response = client.post(
        "/devices",
        json={
            "name": "X",
            "type": "Synth",
            "ports": [
                {"label": "A", "type": "Input", "patchbay_id": point},
                {"label": "B", "type": "Output", "patchbay_id": point},
            ],
        },
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "Patchbay point already linked"}
    assert count(db, "devices") == 0
    assert count(db, "ports") == 0


def test_delete_device_removes_its_ports_and_frees_their_points(client: TestClient, db: Db) -> None:
    [point] = add_points(db, 1)
    device = make_device(client, ports=[{"label": "A", "type": "Input", "patchbay_id": point}])
    other = make_device(client, name="Other")
    response = client.delete(f"/devices/{device['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": device["id"], "name": "Juno-106", "type": "Synth"}
    assert holder_of(db, point) is None
    assert count(db, "ports") == len(other["ports"])
    assert [d["id"] for d in client.get("/state").json()["devices"]] == [other["id"]]
    # The freed point can be used again.
    make_device(client, ports=[{"label": "B", "type": "Input", "patchbay_id": point}])


def test_delete_unknown_device_is_404(client: TestClient) -> None:
    response = client.delete("/devices/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Device not found"}


@pytest.mark.parametrize("device_id", ["abc", "1.5", str(2**31), str(-(2**31) - 1), str(10**30)])
def test_delete_with_bad_device_id_is_422(client: TestClient, device_id: str) -> None:
    assert client.delete(f"/devices/{device_id}").status_code == 422


def test_list_and_get_devices(client: TestClient) -> None:
    first = make_device(
        client, name="First", ports=[{"label": f"P{n}", "type": "Input"} for n in range(1, 12)]
    )
    second = make_device(client, name="Second", ports=[])
    listed = client.get("/devices").json()
    assert listed == [first, second]
    assert listed == client.get("/state").json()["devices"]
    assert client.get(f"/devices/{first['id']}").json() == first


def test_get_unknown_device_is_404(client: TestClient) -> None:
    response = client.get("/devices/123456")
    assert (response.status_code, response.json()) == (404, {"detail": "Device not found"})


def test_patch_device(client: TestClient) -> None:
    device = make_device(client)
    response = client.patch(f"/devices/{device['id']}", json={"name": "Juno-60"})
    assert response.status_code == 200
    assert response.json() == {**device, "name": "Juno-60"}
    response = client.patch(f"/devices/{device['id']}", json={"type": "Poly synth"})
    assert response.json() == {**device, "name": "Juno-60", "type": "Poly synth"}
    assert client.get("/state").json()["devices"][0]["type"] == "Poly synth"
    assert client.patch(f"/devices/{device['id']}", json={}).json()["name"] == "Juno-60"


@pytest.mark.parametrize(
    "body", [{"name": None}, {"name": ""}, {"colour": "red"}, {"type": "x" * 201}]
)
def test_bad_device_patch_is_422(client: TestClient, body: dict) -> None:
    device = make_device(client)
    assert client.patch(f"/devices/{device['id']}", json=body).status_code == 422


def test_patch_unknown_device_is_404(client: TestClient) -> None:
    assert client.patch("/devices/123456", json={"name": "x"}).status_code == 404


def test_add_port_continues_numbering_and_never_reuses(client: TestClient) -> None:
    device = make_device(client, ports=[{"label": f"P{n}", "type": "Input"} for n in (1, 2, 3)])
    prefix = f"dev-{device['id']}-port-"
    assert client.delete(f"/ports/{prefix}3").status_code == 200
    response = client.post(
        f"/devices/{device['id']}/ports", json={"label": "New", "type": "output"}
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": prefix + "4",
        "label": "New",
        "type": "Output",
        "patchbay_id": None,
    }
    assert response.headers["location"] == f"/ports/{prefix}4"
    listed = client.get(f"/devices/{device['id']}").json()["ports"]
    assert [p["id"] for p in listed] == [prefix + "1", prefix + "2", prefix + "4"]


def test_add_port_to_a_device_with_no_ports(client: TestClient) -> None:
    device = make_device(client, ports=[])
    response = client.post(f"/devices/{device['id']}/ports", json={"label": "A", "type": "Other"})
    assert response.json()["id"] == f"dev-{device['id']}-port-1"


def test_add_port_with_a_point(client: TestClient, db: Db) -> None:
    [free, taken] = add_points(db, 2)
    device = make_device(client, ports=[{"label": "A", "type": "Input", "patchbay_id": taken}])
    response = client.post(
        f"/devices/{device['id']}/ports", json={"label": "B", "type": "Input", "patchbay_id": free}
    )
    assert response.status_code == 201
    assert holder_of(db, free) == response.json()["id"]
    response = client.post(
        f"/devices/{device['id']}/ports", json={"label": "C", "type": "Input", "patchbay_id": taken}
    )
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "Patchbay point already linked"},
    )
    response = client.post(
        f"/devices/{device['id']}/ports",
        json={"label": "C", "type": "Input", "patchbay_id": 999999},
    )
    assert (response.status_code, response.json()) == (404, {"detail": "Patchbay point not found"})
    assert count(db, "ports") == 2


def test_add_port_errors(client: TestClient) -> None:
    response = client.post("/devices/123456/ports", json={"label": "A", "type": "Input"})
    assert (response.status_code, response.json()) == (404, {"detail": "Device not found"})
    device = make_device(client)
    for body in (
        {"label": "", "type": "Input"},
        {"label": "A", "type": "sideways"},
        {"label": "A"},
    ):
        assert client.post(f"/devices/{device['id']}/ports", json=body).status_code == 422


def test_devices_and_ports_typed_in_by_hand_do_not_block_new_ones(
    client: TestClient, db: Db
) -> None:
    """Rows inserted in pgAdmin with ids of their own: the id sequences catch up with them, and
    a port id taken by hand is a 409, never a 500."""
    typed = db.execute(
        "INSERT INTO devices (id, name, type, last_port_number) VALUES "
        "((SELECT last_value + 1 FROM devices_id_seq), 'By hand', 'Synth', 0), "
        "((SELECT last_value + 2 FROM devices_id_seq), 'By hand too', 'Synth', 0) RETURNING id"
    )
    created = client.post("/devices", json={"name": "New", "type": "Synth", "ports": []})
    assert created.status_code == 201, created.text
    assert created.json()["id"] > max(row[0] for row in typed)
    device = created.json()["id"]
    db.execute(
        "INSERT INTO ports (id, device_id, label, type) "
        "VALUES (%(id)s, %(device)s, 'typed', 'Input')",
        {"id": f"dev-{device}-port-1", "device": device},
    )
    added = client.post(f"/devices/{device}/ports", json={"label": "A", "type": "Input"})
    assert added.status_code == 201, added.text
    assert added.json()["id"] == f"dev-{device}-port-2"
    # The same id typed in on another device: the number is taken whoever holds it.
    other = make_device(client)
    db.execute(
        "INSERT INTO ports (id, device_id, label, type) VALUES (%(id)s, %(device)s, 'x', 'Input')",
        {"id": f"dev-{device}-port-3", "device": other["id"]},
    )
    added = client.post(f"/devices/{device}/ports", json={"label": "B", "type": "Input"})
    assert added.status_code == 201, added.text
    assert added.json()["id"] == f"dev-{device}-port-4"


def test_a_device_out_of_port_numbers_is_409(client: TestClient, db: Db) -> None:
    device = make_device(client)
    db.execute(
        "UPDATE devices SET last_port_number = 2147483647 WHERE id = %(id)s", {"id": device["id"]}
    )
    response = client.post(f"/devices/{device['id']}/ports", json={"label": "A", "type": "Input"})
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "Device has given out every port number"},
    )
    assert count(db, "ports") == len(device["ports"])
