import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import add_points, count, holder_of, make_device


def test_create_device_numbers_ports_in_the_order_given(client: TestClient, db: Session) -> None:
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
def test_port_type_rejects_anything_else(client: TestClient, db: Session, bad_type: object) -> None:
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


def test_unknown_point_is_404_and_creates_nothing(client: TestClient, db: Session) -> None:
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


def test_point_held_by_another_port_is_409_and_creates_nothing(
    client: TestClient, db: Session
) -> None:
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


def test_two_new_ports_on_one_point_is_409_and_creates_nothing(
    client: TestClient, db: Session
) -> None:
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


def test_delete_device_removes_its_ports_and_frees_their_points(
    client: TestClient, db: Session
) -> None:
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
