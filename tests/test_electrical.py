"""What a port is, electrically (SPEC E1): its level, phantom power, phantom safety; a row only
for a port with a value set; part of the state (revision, history, event)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.schemas.electrical import DeviceElectricalRead, ElectricalRead
from app.schemas.state import StateRead
from tests.helpers import Db, count, make_device, shaped

DEFAULTS = {"level": None, "phantom": False, "phantom_safe": True}


def desk(client: TestClient) -> dict[str, str]:
    """A device with an input, an output and an `Other` port: their ids by type."""
    device = make_device(
        client,
        name="Desk",
        ports=[
            {"label": "MIC 1", "type": "Input"},
            {"label": "MAIN L", "type": "Output"},
            {"label": "WORDCLOCK", "type": "Other"},
        ],
    )
    ids = [port["id"] for port in device["ports"]]
    return {"device": str(device["id"]), "Input": ids[0], "Output": ids[1], "Other": ids[2]}


def electrical(client: TestClient, port_id: str) -> dict[str, Any]:
    response = client.get(f"/ports/{port_id}/electrical")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = shaped(response, ElectricalRead)
    return body


def patch(client: TestClient, port_id: str, **values: Any) -> Any:
    return client.patch(f"/ports/{port_id}/electrical", json=values)


def test_every_port_shows_the_defaults(client: TestClient) -> None:
    ports = desk(client)
    for kind in ("Input", "Output", "Other"):
        assert electrical(client, ports[kind]) == {"port_id": ports[kind], **DEFAULTS}


def test_set_and_reset_a_port(client: TestClient, db: Db) -> None:
    ports = desk(client)
    preamp = ports["Input"]
    response = patch(client, preamp, level="mic", phantom=True)
    assert response.status_code == 200, response.text
    wanted = {"port_id": preamp, "level": "mic", "phantom": True, "phantom_safe": True}
    assert shaped(response, ElectricalRead) == wanted
    assert electrical(client, preamp) == wanted
    # Keys left out stay as they are.
    assert patch(client, preamp, level="line").json()["phantom"] is True
    assert count(db, "port_electrical") == 1
    # Back to the defaults: the row goes.
    back = patch(client, preamp, level=None, phantom=False)
    assert back.json() == {"port_id": preamp, **DEFAULTS}
    assert count(db, "port_electrical") == 0


def test_a_fragile_output(client: TestClient) -> None:
    ports = desk(client)
    response = patch(client, ports["Output"], phantom_safe=False, level="mic")
    assert response.json() == {
        "port_id": ports["Output"],
        "level": "mic",
        "phantom": False,
        "phantom_safe": False,
    }


@pytest.mark.parametrize(
    ("kind", "values", "field"),
    [
        ("Output", {"phantom": True}, "phantom"),
        ("Other", {"phantom": True}, "phantom"),
        ("Input", {"phantom_safe": False}, "phantom_safe"),
        ("Other", {"phantom_safe": False, "level": "line"}, "phantom_safe"),
    ],
)
def test_values_a_port_of_that_type_cannot_have_are_422(
    client: TestClient, db: Db, kind: str, values: dict[str, Any], field: str
) -> None:
    ports = desk(client)
    response = patch(client, ports[kind], **values)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert electrical(client, ports[kind]) == {"port_id": ports[kind], **DEFAULTS}
    assert count(db, "port_electrical") == 0


def test_the_defaults_are_accepted_on_any_port(client: TestClient, db: Db) -> None:
    ports = desk(client)
    for kind in ("Input", "Output", "Other"):
        response = patch(client, ports[kind], phantom=False, phantom_safe=True, level=None)
        assert response.status_code == 200, response.text
    assert count(db, "port_electrical") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"level": "loud"},
        {"level": "MIC"},
        {"phantom": None},
        {"phantom_safe": None},
        {"phantom": "true"},
        {"phantom": 1},
        {"port_id": "dev-1-port-1"},
        {"colour": "red"},
        [],
    ],
)
def test_bad_bodies_are_422(client: TestClient, db: Db, body: Any) -> None:
    ports = desk(client)
    assert client.patch(f"/ports/{ports['Input']}/electrical", json=body).status_code == 422
    assert count(db, "port_electrical") == 0


def test_unknown_port_or_device_is_404(client: TestClient) -> None:
    for method in ("GET", "PATCH"):
        response = client.request(method, "/ports/dev-9-port-9/electrical", json={"level": "mic"})
        assert (response.status_code, response.json()) == (404, {"detail": "Port not found"})
    body = {"ports": [{"port_id": "dev-9-port-9", "level": "mic"}]}
    for method in ("GET", "PUT"):
        response = client.request(method, "/devices/999999/electrical", json=body)
        assert (response.status_code, response.json()) == (404, {"detail": "Device not found"})


def test_several_ports_of_a_device_at_once(client: TestClient) -> None:
    ports = desk(client)
    body = {
        "ports": [
            {"port_id": ports["Input"], "level": "mic", "phantom": True},
            {"port_id": ports["Output"], "level": "line"},
        ]
    }
    response = client.put(f"/devices/{ports['device']}/electrical", json=body)
    assert response.status_code == 200, response.text
    wanted = {
        "device_id": int(ports["device"]),
        "ports": [
            {"port_id": ports["Input"], "level": "mic", "phantom": True, "phantom_safe": True},
            {"port_id": ports["Output"], "level": "line", "phantom": False, "phantom_safe": True},
            {"port_id": ports["Other"], **DEFAULTS},
        ],
    }
    assert shaped(response, DeviceElectricalRead) == wanted
    again = client.get(f"/devices/{ports['device']}/electrical")
    assert shaped(again, DeviceElectricalRead) == wanted


def test_a_port_of_another_device_is_422_naming_it(client: TestClient, db: Db) -> None:
    ports = desk(client)
    other = make_device(client, name="Ribbon", ports=[{"label": "OUT", "type": "Output"}])
    stranger = other["ports"][0]["id"]
    for port_id in (stranger, "dev-9-port-9"):
        body = {
            "ports": [
                {"port_id": ports["Input"], "phantom": True},
                {"port_id": port_id, "phantom_safe": False},
            ]
        }
        response = client.put(f"/devices/{ports['device']}/electrical", json=body)
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "ports", 1, "port_id"]
        assert port_id in error["msg"]
    # The first entry was not applied either.
    assert count(db, "port_electrical") == 0


@pytest.mark.parametrize("case", ["none", "no port id", "a port twice", "phantom on an output"])
def test_bad_device_bodies_are_422(client: TestClient, db: Db, case: str) -> None:
    ports = desk(client)
    entries = {
        "none": [],
        "no port id": [{"level": "mic"}],
        "a port twice": [
            {"port_id": ports["Input"], "level": "mic"},
            {"port_id": ports["Input"], "level": "line"},
        ],
        "phantom on an output": [
            {"port_id": ports["Input"], "level": "mic"},
            {"port_id": ports["Output"], "phantom": True},
        ],
    }[case]
    response = client.put(f"/devices/{ports['device']}/electrical", json={"ports": entries})
    assert response.status_code == 422
    assert count(db, "port_electrical") == 0


def test_a_port_type_changed_since_shows_what_its_type_allows(client: TestClient) -> None:
    ports = desk(client)
    patch(client, ports["Input"], phantom=True, level="mic")
    client.patch(f"/ports/{ports['Input']}", json={"type": "Output"})
    assert electrical(client, ports["Input"]) == {
        "port_id": ports["Input"],
        "level": "mic",
        "phantom": False,
        "phantom_safe": True,
    }


def test_the_values_go_with_their_port(client: TestClient, db: Db) -> None:
    ports = desk(client)
    patch(client, ports["Input"], phantom=True)
    patch(client, ports["Output"], level="line")
    client.delete(f"/ports/{ports['Input']}")
    assert count(db, "port_electrical") == 1
    client.delete(f"/devices/{ports['device']}")
    assert count(db, "port_electrical") == 0


def test_no_part_a_shape_gains_a_key(client: TestClient) -> None:
    ports = desk(client)
    patch(client, ports["Input"], phantom=True, level="mic")
    shaped(client.get("/state"), StateRead)
    assert set(client.get(f"/ports/{ports['Input']}").json()) == {
        "id",
        "label",
        "type",
        "patchbay_id",
    }


def test_a_change_is_part_of_the_state(committing_client: TestClient, engine: Engine) -> None:
    client = committing_client
    ports = desk(client)
    etag = client.get("/state").headers["etag"]
    assert patch(client, ports["Input"], level="mic", phantom=True).status_code == 200
    changed = client.get("/state", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    entry = client.get("/history", params={"limit": 1}).json()["entries"][0]
    assert f'W/"{entry["revision"]}"' == changed.headers["etag"]
    assert [(c["table"], c["key"], c["op"]) for c in entry["changes"]] == [
        ("port_electrical", ports["Input"], "insert")
    ]
    with engine.connect() as conn:
        names = conn.execute(
            text("SELECT names FROM history_entries WHERE revision = :r"), {"r": entry["revision"]}
        ).scalar_one()
    assert names["ports"] == {ports["Input"]: ["Desk", "MIC 1"]}
    # The same values again change nothing: no revision.
    again = changed.headers["etag"]
    patch(client, ports["Input"], level="mic")
    assert client.get("/state", headers={"If-None-Match": again}).status_code == 304
    # A reset is a change too (the row's deletion).
    patch(client, ports["Input"], level=None, phantom=False)
    latest = client.get("/history", params={"limit": 1}).json()["entries"][0]
    assert [c["op"] for c in latest["changes"]] == ["delete"]


def test_a_truncate_in_pgadmin_is_recorded(committing_client: TestClient, engine: Engine) -> None:
    client = committing_client
    ports = desk(client)
    patch(client, ports["Output"], phantom_safe=False)
    etag = client.get("/state").headers["etag"]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE port_electrical"))
    assert client.get("/state", headers={"If-None-Match": etag}).status_code == 200
    entry = client.get("/history", params={"limit": 1}).json()["entries"][0]
    assert (entry["source"], [c["op"] for c in entry["changes"]]) == ("sql", ["delete"])
    assert electrical(client, ports["Output"])["phantom_safe"] is True


def latest_summary(client: TestClient) -> str:
    summary: str = client.get("/history", params={"limit": 1}).json()["entries"][0]["summary"]
    return summary


def test_history_names_each_change_and_reverts_it(committing_client: TestClient) -> None:
    client = committing_client
    ports = desk(client)
    patch(client, ports["Output"], phantom_safe=False)
    assert latest_summary(client) == "Marked Desk MAIN L phantom-unsafe"
    patch(client, ports["Input"], level="mic", phantom=True)
    assert (
        latest_summary(client)
        == "Set Desk MIC 1 to mic level; Turned phantom power on for Desk MIC 1"
    )
    patch(client, ports["Input"], level=None)
    assert latest_summary(client) == "Set Desk MIC 1's level to unknown"
    revision = client.get("/history", params={"limit": 1}).json()["entries"][0]["revision"]
    reverted = client.post(f"/history/{revision}/revert")
    assert reverted.status_code == 200, reverted.text
    assert electrical(client, ports["Input"])["level"] == "mic"
    assert (
        reverted.json()["summary"] == f"Revert of revision {revision}: Set Desk MIC 1 to mic level"
    )


def test_a_port_deleted_with_its_values_comes_back_with_them(committing_client: TestClient) -> None:
    client = committing_client
    ports = desk(client)
    patch(client, ports["Output"], level="line", phantom_safe=False)
    assert client.delete(f"/ports/{ports['Output']}").status_code == 200
    revision = client.get("/history", params={"limit": 1}).json()["entries"][0]["revision"]
    assert client.post(f"/history/{revision}/revert").status_code == 200
    assert electrical(client, ports["Output"]) | {"port_id": ""} == {
        "port_id": "",
        "level": "line",
        "phantom": False,
        "phantom_safe": False,
    }


def test_several_ports_of_one_device_read_as_one_change(committing_client: TestClient) -> None:
    client = committing_client
    made = client.post(
        "/devices",
        json={
            "name": "Preamp",
            "type": "Preamp",
            "ports": [{"label": f"IN {n}", "type": "Input"} for n in range(1, 4)],
        },
    ).json()
    body = {"ports": [{"port_id": p["id"], "level": "mic"} for p in made["ports"]]}
    assert client.put(f"/devices/{made['id']}/electrical", json=body).status_code == 200
    assert latest_summary(client) == "Set the electrical values of 3 ports of Preamp"


def test_the_values_go_out_and_back_with_the_studio(committing_client: TestClient) -> None:
    """`GET /export` holds the values as the ports show them; importing the document into an
    empty studio brings them back, and importing it again changes nothing."""
    client = committing_client
    ports = desk(client)
    patch(client, ports["Input"], level="mic", phantom=True)
    patch(client, ports["Output"], phantom_safe=False)
    document = client.get("/export").json()
    assert document["electrical"] == [
        {"port_id": ports["Input"], "level": "mic", "phantom": True, "phantom_safe": True},
        {"port_id": ports["Output"], "level": None, "phantom": False, "phantom_safe": False},
    ]
    again = client.post("/import", params={"dry_run": "false"}, json=document).json()
    assert again["revision"] == int(client.get("/state").headers["etag"][3:-1])
    assert all(n == 0 for action in ("create", "update", "delete") for n in again[action].values())
    empty = {"format": "pepper-studio", "version": 1}
    assert client.post("/import", params={"dry_run": "false"}, json=empty).status_code == 200
    assert client.get("/export").json()["electrical"] == []
    back = client.post("/import", params={"dry_run": "false"}, json=document)
    assert back.status_code == 200, back.text
    assert back.json()["create"]["electrical"] == 2
    assert electrical(client, ports["Input"])["phantom"] is True
    assert electrical(client, ports["Output"])["phantom_safe"] is False


def test_an_import_that_changes_values_is_reverted_with_them(
    committing_client: TestClient,
) -> None:
    client = committing_client
    ports = desk(client)
    document = client.get("/export").json()
    document["electrical"] = [{"port_id": ports["Input"], "level": "line"}]
    done = client.post("/import", params={"dry_run": "false"}, json=document).json()
    assert done["create"]["electrical"] == 1
    assert electrical(client, ports["Input"])["level"] == "line"
    assert client.post(f"/history/{done['revision']}/revert").status_code == 200
    assert electrical(client, ports["Input"])["level"] is None


@pytest.mark.parametrize(
    ("values", "field", "msg"),
    [
        ([{"port_id": "dev-9-port-9", "level": "mic"}], "port_id", "not a port of this document"),
        ([{"port_id": "P"}, {"port_id": "P", "level": "mic"}], "port_id", "port id appears twice"),
        ([{"port_id": "P", "phantom": True}], "phantom", "only an Input sends phantom power"),
        (
            [{"port_id": "Q", "phantom_safe": False}],
            "phantom_safe",
            "only an Output can be damaged by phantom power",
        ),
    ],
)
def test_values_a_document_cannot_have_are_422(
    client: TestClient, values: list[dict[str, Any]], field: str, msg: str
) -> None:
    """P is an Output, Q an Input; the 422 names the item, and nothing is imported."""
    document = {
        "format": "pepper-studio",
        "version": 1,
        "devices": [
            {
                "id": 1,
                "name": "Desk",
                "type": "Mixer",
                "last_port_number": 2,
                "ports": [
                    {"id": "P", "label": "OUT", "type": "Output", "patchbay_id": None},
                    {"id": "Q", "label": "IN", "type": "Input", "patchbay_id": None},
                ],
            }
        ],
        "electrical": values,
    }
    response = client.post("/import", params={"dry_run": "false"}, json=document)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][:2] == ["body", "electrical"] and error["loc"][-1] == field
    assert error["msg"] == msg
    assert client.get("/devices").json() == []


def test_an_item_of_defaults_sets_nothing(client: TestClient) -> None:
    document = {
        "format": "pepper-studio",
        "version": 1,
        "devices": [
            {
                "id": 1,
                "name": "Desk",
                "type": "Mixer",
                "last_port_number": 1,
                "ports": [{"id": "Q", "label": "IN", "type": "Input", "patchbay_id": None}],
            }
        ],
        "electrical": [{"port_id": "Q", "level": None, "phantom": False, "phantom_safe": True}],
    }
    response = client.post("/import", params={"dry_run": "false"}, json=document)
    assert response.status_code == 200, response.text
    assert response.json()["create"]["electrical"] == 0
