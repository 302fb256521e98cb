"""Devices and ports managed over the API (issue: manage the whole studio)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import add_points, count, holder_of, make_device


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


def test_add_port_with_a_point(client: TestClient, db: Session) -> None:
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


def test_get_patch_and_delete_a_port(client: TestClient, db: Session) -> None:
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


def test_list_ports_with_filters(client: TestClient, db: Session) -> None:
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
