"""Export and import (SPEC D6): the whole studio as JSON, the patch list as CSV."""

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas.studio import ImportResult, StudioDocument
from tests.conftest import alembic_config, settings
from tests.helpers import Db, add_points, count, shaped

TRICKY = 'Jüno-106 ☃ <&> "q" \'x'
KINDS = ("bays", "patchbay_points", "devices", "ports", "cables", "scenes", "electrical")


@pytest.fixture
def studio(client: TestClient, db: Db) -> dict[str, Any]:
    """Two bays, loose points, devices with linked and unlinked ports, cables, a scene."""
    bay_a = client.post("/bays", json={"name": "Bay A", "channels": 4}).json()
    bay_b = client.post("/bays", json={"name": "Bay B", "channels": 2, "mode": "normal"}).json()
    client.patch(f"/bays/{bay_a['id']}/channels", json={"first": 3, "last": 4, "mode": "thru"})
    loose = add_points(db, 2, prefix="Loose ")
    jacks = [c["top_point_id"] for c in bay_a["channels"]] + [
        c["bottom_point_id"] for c in bay_a["channels"]
    ]
    b_jacks = [c["top_point_id"] for c in bay_b["channels"]]
    client.post(
        "/devices",
        json={
            "name": TRICKY,
            "type": "Synth",
            "ports": [
                {"label": "OUT L", "type": "Output", "patchbay_id": jacks[0]},
                {"label": "=SUM(A1)", "type": "Output", "patchbay_id": loose[0]},
                {"label": "MIDI IN", "type": "Input"},
            ],
        },
    )
    desk = client.post(
        "/devices",
        json={
            "name": "Desk",
            "type": "Mixer",
            "ports": [{"label": "IN 1", "type": "Input", "patchbay_id": jacks[4]}],
        },
    ).json()
    client.delete(f"/ports/{desk['ports'][0]['id']}")
    client.post(
        f"/devices/{desk['id']}/ports",
        json={"label": "IN 2", "type": "Input", "patchbay_id": jacks[5]},
    )
    client.post(
        "/cables", json={"points": [jacks[1], b_jacks[0]], "label": "+4 dBu", "color": "red"}
    )
    client.post("/cables", json={"points": [loose[1], jacks[6]], "label": "@send"})
    client.post("/scenes", json={"name": "Tracking", "description": "Monday"})
    return {"bays": (bay_a["id"], bay_b["id"]), "loose": loose}


def export(client: TestClient) -> dict[str, Any]:
    response = client.get("/export")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="pepper-studio-'
    )
    document: dict[str, Any] = shaped(response, StudioDocument)
    return document


@pytest.fixture
def empty_studio(scratch_database: Callable[[str], str]) -> Iterator[TestClient]:
    """Another, empty database, with its own app."""
    url = scratch_database("import")
    command.upgrade(alembic_config(url), "head")
    with TestClient(create_app(settings(url))) as other:
        yield other


def without_time(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "exported_at"}


def test_the_export_holds_everything(client: TestClient, studio: dict[str, Any]) -> None:
    document = export(client)
    assert (document["format"], document["version"]) == ("pepper-studio", 1)
    state = client.get("/state").json()
    assert document["bays"] == state["bays"]
    assert document["patchbay_points"] == state["patchbay_points"]
    assert document["cables"] == state["cables"]
    assert [
        {k: v for k, v in d.items() if k != "last_port_number"} for d in document["devices"]
    ] == state["devices"]
    # Port numbers are never reused, even across an export.
    assert [d["last_port_number"] for d in document["devices"]] == [3, 2]
    [scene] = document["scenes"]
    assert scene == client.get(f"/scenes/{scene['id']}").json()


def test_json_round_trip_into_an_empty_database(
    client: TestClient, studio: dict[str, Any], empty_studio: TestClient
) -> None:
    document = export(client)
    dry = empty_studio.post("/import", json=document)
    assert dry.status_code == 200
    assert shaped(dry, ImportResult) == {
        "dry_run": True,
        "revision": None,
        "delete": {
            "bays": 0,
            "patchbay_points": 0,
            "devices": 0,
            "ports": 0,
            "cables": 0,
            "scenes": 0,
            "electrical": 0,
        },
        "create": {
            "bays": 2,
            "patchbay_points": 14,
            "devices": 2,
            "ports": 4,
            "cables": 2,
            "scenes": 1,
            "electrical": 0,
        },
        "update": dict.fromkeys(KINDS, 0),
    }
    assert export(empty_studio)["devices"] == []
    done = empty_studio.post("/import", params={"dry_run": "false"}, json=document)
    assert done.status_code == 200, done.text
    assert done.json()["revision"] == int(empty_studio.get("/state").headers["etag"][3:-1])
    assert without_time(export(empty_studio)) == without_time(document)
    # The id sequences moved past the imported ids.
    made = empty_studio.post("/patchbay-points", json={"name": "new"}).json()
    assert made["id"] > max(p["id"] for p in document["patchbay_points"])
    device_id = document["devices"][0]["id"]
    port = empty_studio.post(
        f"/devices/{device_id}/ports", json={"label": "X", "type": "Other"}
    ).json()
    assert port["id"] == f"dev-{device_id}-port-4"


def test_import_replaces_the_whole_studio(
    client: TestClient, db: Db, studio: dict[str, Any]
) -> None:
    document = export(client)
    client.post("/devices", json={"name": "Extra", "type": "FX"})
    client.post("/patchbay-points", json={"name": "Extra point"})
    response = client.post("/import", params={"dry_run": "false"}, json=document)
    assert response.status_code == 200, response.text
    # What the document does not hold goes; what it holds as it is stays.
    assert response.json()["delete"] == {
        **dict.fromkeys(KINDS, 0),
        "devices": 1,
        "patchbay_points": 1,
    }
    assert without_time(export(client)) == without_time(document)


def test_a_dry_run_changes_nothing(client: TestClient, db: Db, studio: dict[str, Any]) -> None:
    before = export(client)
    empty = {"format": "pepper-studio", "version": 1}
    response = client.post("/import", json=empty)
    assert response.status_code == 200
    assert response.json()["create"] == dict.fromkeys(KINDS, 0)
    assert without_time(export(client)) == without_time(before)
    # The real thing empties the studio.
    assert client.post("/import", params={"dry_run": "false"}, json=empty).status_code == 200
    assert count(db, "patchbay_points") == 0 and count(db, "scenes") == 0


def broken(document: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    change(copy)
    return copy


BAD_DOCUMENTS: dict[str, tuple[Callable[[dict[str, Any]], None], list[Any]]] = {
    "wrong format": (lambda d: d.update(format="other"), ["body", "format"]),
    "wrong version": (lambda d: d.update(version=2), ["body", "version"]),
    "unknown key": (lambda d: d.update(extra=1), ["body", "extra"]),
    "point id twice": (
        lambda d: d["patchbay_points"].append(dict(d["patchbay_points"][0])),
        ["body", "patchbay_points", 14, "id"],
    ),
    "bay name twice": (lambda d: d["bays"][1].update(name="Bay A"), ["body", "bays", 1, "name"]),
    "unknown point in a slot": (
        lambda d: d["bays"][0]["channels"][0].update(top_point_id=999999),
        ["body", "bays", 0, "channels", 0, "top_point_id"],
    ),
    "point in two slots": (
        lambda d: d["bays"][1]["channels"][0].update(
            top_point_id=d["bays"][0]["channels"][0]["top_point_id"]
        ),
        ["body", "bays", 1, "channels", 0, "top_point_id"],
    ),
    "port on an unknown point": (
        lambda d: d["devices"][0]["ports"][2].update(patchbay_id=999999),
        ["body", "devices", 0, "ports", 2, "patchbay_id"],
    ),
    "two ports on a point": (
        lambda d: d["devices"][0]["ports"][2].update(
            patchbay_id=d["devices"][0]["ports"][0]["patchbay_id"]
        ),
        ["body", "devices", 0, "ports", 2, "patchbay_id"],
    ),
    "port id twice": (
        lambda d: d["devices"][1]["ports"][0].update(id=d["devices"][0]["ports"][0]["id"]),
        ["body", "devices", 1, "ports", 0, "id"],
    ),
    "bad port type": (
        lambda d: d["devices"][0]["ports"][0].update(type="sideways"),
        ["body", "devices", 0, "ports", 0, "type"],
    ),
    "two plugs in a jack": (
        lambda d: d["cables"][1].update(
            points=[d["cables"][0]["points"][0], d["cables"][1]["points"][1]]
        ),
        ["body", "cables", 1, "points", 0],
    ),
    "cable to itself": (
        lambda d: d["cables"][0].update(points=[1, 1]),
        ["body", "cables", 0, "points"],
    ),
    "a channel missing": (
        lambda d: d["bays"][0]["channels"].pop(1),
        ["body", "bays", 0],
    ),
    "channel 0": (
        lambda d: d["bays"][0]["channels"][0].update(number=0),
        ["body", "bays", 0, "channels", 0, "number"],
    ),
    "negative device id": (lambda d: d["devices"][0].update(id=-3), ["body", "devices", 0, "id"]),
    "point id 0": (
        lambda d: d["patchbay_points"][0].update(id=0),
        ["body", "patchbay_points", 0, "id"],
    ),
    "a time without its offset": (
        lambda d: d["scenes"][0].update(created_at="2026-12-01T10:00:00"),
        ["body", "scenes", 0, "created_at"],
    ),
    "cable to an unknown point": (
        lambda d: d["cables"][0]["points"].__setitem__(1, 999999),
        ["body", "cables", 0, "points", 1],
    ),
    "channel 97": (
        lambda d: d["bays"][0]["channels"][0].update(number=97),
        ["body", "bays", 0, "channels", 0, "number"],
    ),
    "bad mode": (
        lambda d: d["bays"][0]["channels"][0].update(mode="open"),
        ["body", "bays", 0, "channels", 0, "mode"],
    ),
    "NUL in a name": (
        lambda d: d["devices"][0].update(name="a\x00b"),
        ["body", "devices", 0, "name"],
    ),
    "scene name twice": (
        lambda d: d["scenes"].append({**d["scenes"][0], "id": 99}),
        ["body", "scenes", 1, "name"],
    ),
    "scene without a time": (
        lambda d: d["scenes"][0].pop("created_at"),
        ["body", "scenes", 0, "created_at"],
    ),
    # Scenes that could never be applied.
    "scene cable to itself": (
        lambda d: d["scenes"][0]["cables"][1].update(points=[5, 5]),
        ["body", "scenes", 0, "cables", 1, "points"],
    ),
    "scene jack on two cables": (
        lambda d: d["scenes"][0]["cables"][1]["points"].__setitem__(
            1, d["scenes"][0]["cables"][0]["points"][0]
        ),
        ["body", "scenes", 0, "cables", 1, "points", 1],
    ),
    "scene point given to two ports": (
        lambda d: d["scenes"][0]["links"][3].update(
            patchbay_id=d["scenes"][0]["links"][0]["patchbay_id"]
        ),
        ["body", "scenes", 0, "links", 3, "patchbay_id"],
    ),
    "scene port listed twice": (
        lambda d: d["scenes"][0]["links"].append(
            {"port_id": d["scenes"][0]["links"][0]["port_id"], "patchbay_id": None}
        ),
        ["body", "scenes", 0, "links", 4, "port_id"],
    ),
    "scene channel listed twice": (
        lambda d: d["scenes"][0]["modes"].append({**d["scenes"][0]["modes"][2], "mode": "normal"}),
        ["body", "scenes", 0, "modes", 6, "channel"],
    ),
    "scene without its links": (
        lambda d: d["scenes"][0].pop("links"),
        ["body", "scenes", 0, "links"],
    ),
    "a scene link that is not an object": (
        lambda d: d["scenes"][0]["links"].__setitem__(0, 7),
        ["body", "scenes", 0, "links", 0],
    ),
    "ports that are not a list": (
        lambda d: d["devices"][0].update(ports={"id": 1}),
        ["body", "devices", 0, "ports"],
    ),
    "a device that is not an object": (
        lambda d: d["devices"].__setitem__(1, "Desk"),
        ["body", "devices", 1],
    ),
    "a port without a type": (
        lambda d: d["devices"][1]["ports"][0].pop("type"),
        ["body", "devices", 1, "ports", 0, "type"],
    ),
    "a device without a name": (
        lambda d: d["devices"][1].pop("name"),
        ["body", "devices", 1, "name"],
    ),
    "an unknown key in a scene": (
        lambda d: d["scenes"][0].update(colour="red"),
        ["body", "scenes", 0, "colour"],
    ),
    "id 2^31": (lambda d: d["cables"][0].update(id=2**31), ["body", "cables", 0, "id"]),
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS)
def test_a_bad_document_is_422_naming_the_item_and_changes_nothing(
    client: TestClient, studio: dict[str, Any], case: str
) -> None:
    change, loc = BAD_DOCUMENTS[case]
    document = export(client)
    for dry_run in ("true", "false"):
        response = client.post(
            "/import", params={"dry_run": dry_run}, json=broken(document, change)
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][: len(loc)] == loc, response.json()
    assert without_time(export(client)) == without_time(document)


def test_imports_up_to_16_mib(client: TestClient, studio: dict[str, Any]) -> None:
    document = export(client)
    padded = {
        **document,
        "patchbay_points": [
            *document["patchbay_points"],
            *(
                {"id": 100_000 + n, "name": "p" * 200, "description": "d" * 2000}
                for n in range(6000)
            ),
        ],
    }
    body = json.dumps(padded).encode()
    assert 12 * 2**20 < len(body) < 16 * 2**20
    assert (
        client.post(
            "/import", content=body, headers={"Content-Type": "application/json"}
        ).status_code
        == 200
    )
    over = body[:-1] + b" " * (16 * 2**20 - len(body) + 1) + b"}"
    refused = client.post("/import", content=over, headers={"Content-Type": "application/json"})
    assert (refused.status_code, refused.json()) == (413, {"detail": "Request body too large"})
    # Everywhere else, 1 MiB still.
    big = client.post(
        "/patchbay-points", content=b" " * (2**20 + 1), headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413


# --- The patch list (CSV) -----------------------------------------------------------------------


def patch_list(client: TestClient) -> str:
    response = client.get("/export/patch-list.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].endswith('.csv"')
    return response.text


def test_the_patch_list(client: TestClient, studio: dict[str, Any]) -> None:
    rows = list(csv.reader(io.StringIO(patch_list(client))))
    assert rows[0] == [
        "bay",
        "channel",
        "row",
        "mode",
        "point",
        "description",
        "device",
        "device type",
        "port",
        "port type",
        "cable to",
        "cable label",
    ]
    assert rows[1] == [
        "Bay A",
        "1",
        "top",
        "half-normal",
        "Bay A 1T",
        "",
        TRICKY,
        "Synth",
        "OUT L",
        "Output",
        "",
        "",
    ]
    assert rows[2] == ["Bay A", "1", "bottom", "half-normal", "Bay A 1B"] + [""] * 7
    assert rows[3][4:] == ["Bay A 2T", "", "", "", "", "", "Bay B 1T", "'+4 dBu"]
    assert rows[4][4:10] == ["Bay A 2B", "", "Desk", "Mixer", "IN 2", "Input"]
    assert [row[4] for row in rows[1:]] == [
        *(f"Bay A {n}{r}" for n in range(1, 5) for r in "TB"),
        *(f"Bay B {n}{r}" for n in range(1, 3) for r in "TB"),
        "Loose 1",
        "Loose 2",
    ]
    # Formula-looking cells are neutralised.
    loose = rows[-2]
    assert loose[:6] == ["", "", "", "", "Loose 1", ""]
    assert loose[8] == "'=SUM(A1)"
    assert rows[-1][10:] == ["Bay A 3B", "'@send"]


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+1", "-1", "@x", "'=x", "''", "'", "'plain", "plain", "a=b", "", "☃=", " =x"],
)
def test_formula_cells_round_trip(value: str) -> None:
    from app.services.patch_list import neutralised, restored

    assert restored(neutralised(value)) == value
    if value[:1] in "=+-@" and value:
        assert neutralised(value).startswith("'")


def test_csv_round_trip_into_an_empty_database(
    client: TestClient, studio: dict[str, Any], empty_studio: TestClient
) -> None:
    exported = patch_list(client).encode()
    headers = {"Content-Type": "text/csv"}
    dry = empty_studio.post("/import/patch-list.csv", content=exported, headers=headers)
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    assert [bay["name"] for bay in plan["create"]["bays"]] == ["Bay A", "Bay B"]
    assert len(plan["create"]["patchbay_points"]) == 14
    assert {d["name"] for d in plan["create"]["devices"]} == {TRICKY, "Desk"}
    assert len(plan["create"]["links"]) == 3 and len(plan["create"]["cables"]) == 2
    assert patch_list(empty_studio).count("\n") == 1  # the dry run changed nothing
    done = empty_studio.post(
        "/import/patch-list.csv", params={"dry_run": "false"}, content=exported, headers=headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["create"] == plan["create"]
    assert patch_list(empty_studio) == patch_list(client)
    # Again: nothing left to build.
    again = empty_studio.post("/import/patch-list.csv", content=exported, headers=headers).json()
    assert all(not items for items in again["create"].values())
    assert all(not items for items in again["change"].values())


def csv_import(client: TestClient, body: bytes, *, dry_run: bool = False) -> dict[str, Any]:
    response = client.post(
        "/import/patch-list.csv",
        params={"dry_run": str(dry_run).lower()},
        content=body,
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_csv_round_trip_of_names_used_twice_and_empty_slots(
    client: TestClient, db: Db, empty_studio: TestClient
) -> None:
    """Two loose points of one name, two ports of one label on one device, a bay made without
    points, a bay whose last channels have no points: all come back, and importing the export
    into the studio it came from changes nothing."""
    empty = client.post("/bays", json={"name": "Empty", "channels": 2, "create_points": False})
    client.patch(f"/bays/{empty.json()['id']}/channels", json={"first": 2, "mode": "thru"})
    partial = client.post("/bays", json={"name": "Partial", "channels": 3, "create_points": False})
    [in_slot, twin_a, twin_b] = add_points(db, 3, prefix="P")
    db.execute(
        "UPDATE patchbay_points SET name = 'Twin' WHERE id IN (%(a)s, %(b)s)",
        {"a": twin_a, "b": twin_b},
    )
    client.put(f"/bays/{partial.json()['id']}/channels/1", json={"bottom_point_id": in_slot})
    ports = [
        {"label": "OUT", "type": "Output", "patchbay_id": twin_b},
        {"label": "OUT", "type": "Output", "patchbay_id": twin_a},
        {"label": "OUT", "type": "Output", "patchbay_id": in_slot},
    ]
    client.post("/devices", json={"name": "Triple", "type": "Synth", "ports": ports})
    [mix] = add_points(db, 1, prefix="Mix ")
    client.post("/cables", json={"points": [mix, twin_b], "label": "to the second twin"})
    exported = patch_list(client)
    rows = list(csv.reader(io.StringIO(exported)))
    assert [row[:5] for row in rows[1:5]] == [
        ["Empty", "1", "top", "half-normal", ""],
        ["Empty", "1", "bottom", "half-normal", ""],
        ["Empty", "2", "top", "thru", ""],
        ["Empty", "2", "bottom", "thru", ""],
    ]
    assert len(rows) == 1 + 4 + 6 + 3

    made = csv_import(empty_studio, exported.encode())
    assert len(made["create"]["ports"]) == 3 and len(made["create"]["links"]) == 3
    assert patch_list(empty_studio) == exported
    bays = {bay["name"]: bay for bay in empty_studio.get("/bays").json()}
    assert [c["mode"] for c in bays["Empty"]["channels"]] == ["half-normal", "thru"]
    assert len(bays["Partial"]["channels"]) == 3

    before = client.get("/state").json()
    again = csv_import(client, exported.encode())
    assert all(not items for items in again["create"].values()), again
    assert all(not items for items in again["change"].values()), again
    assert client.get("/state").json() == before


def test_the_rows_of_a_cable_agree_on_its_label(client: TestClient, db: Db) -> None:
    body = "\r\n".join([HEADER, ",,,,A,,,,,,B,one label", ",,,,B,,,,,,A,another label"]).encode()
    response = client.post(
        "/import/patch-list.csv", content=body, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", 3, "cable label"]
    assert count(db, "patchbay_points") == 0


def test_a_new_device_may_have_more_ports_than_a_request_body(client: TestClient) -> None:
    """A request body creates at most 500 ports per device; a patch list is not held to it."""
    lines = [HEADER, *(f",,,,P{n},,Big desk,Mixer,IN {n},Input,," for n in range(600))]
    made = csv_import(client, "\r\n".join(lines).encode(), dry_run=True)
    assert len(made["create"]["ports"]) == 600 and len(made["create"]["devices"]) == 1


def test_a_port_twice_in_the_rows_is_two_ports(client: TestClient) -> None:
    """A row is a port: two rows of one device's port label are two ports of that label."""
    body = "\r\n".join(
        [HEADER, ",,,,A,,Juno,Synth,OUT,Output,,", ",,,,B,,Juno,Synth,OUT,Output,,"]
    ).encode()
    made = csv_import(client, body, dry_run=True)
    assert made["create"]["ports"] == [{"device": "Juno", "label": "OUT"}] * 2


HEADER = (
    "bay,channel,row,mode,point,description,device,device type,port,port type,cable to,cable label"
)


@pytest.mark.parametrize(
    ("lines", "row", "column"),
    [
        (["Bay A,0,top,,A1,,,,,,,"], 2, "channel"),
        (["Bay A,x,top,,A1,,,,,,,"], 2, "channel"),
        (["Bay A,1,middle,,A1,,,,,,,"], 2, "row"),
        (["Bay A,1,top,open,A1,,,,,,,"], 2, "mode"),
        ([",,,,,a loose point without a name,,,,,,"], 2, "point"),
        (["Bay A,1,top,,,,Juno,Synth,OUT,Output,,"], 2, "device"),
        (["Bay A,1,top,,,,,,,,A1,"], 2, "cable to"),
        (["Bay A,\u00b2,top,,A1,,,,,,,"], 2, "channel"),
        (["Bay A,\uff11,top,,A1,,,,,,,"], 2, "channel"),
        (["Bay A,97,top,,A1,,,,,,,"], 2, "channel"),
        (["Bay A,1,top,,A1,,,,,,,", "Bay A,1,TOP,,A2,,,,,,,"], 3, "row"),
        ([" ,,,,A1,,,,,,,", "Bay A,1,top,,A1,,x" + "y" * 200 + ",Synth,,,,"], 3, "device"),
        ([",,,,A1,,,,OUT,Output,,"], 2, "device"),
        ([",,,,A1,,Juno,,,,,"], 2, "device type"),
        ([",,,,A1,,Juno,Synth,OUT,,,"], 2, "port type"),
        ([",,,,A1,,Juno,Synth,OUT,Sideways,,"], 2, "port type"),
        ([",,,,A1,,,,,,nowhere,"], 2, "cable to"),
        ([",,,,A1,,,,,,A1,"], 2, "cable to"),
        ([",,,,A1,,,,,,,", ",,,,A2,,,,,,,", ",,,,A3,,,,,,A1,", ",,,,A4,,,,,,A1,"], 5, "cable to"),
        ([",,,,A1," + "x" * 2001 + ",,,,,,"], 2, "description"),
        ([",,,,A\x00,,,,,,,"], 2, "point"),
    ],
)
def test_a_bad_row_is_422_naming_row_and_column(
    client: TestClient, db: Db, lines: list[str], row: int, column: str
) -> None:
    body = "\r\n".join([HEADER, *lines]).encode()
    for dry_run in ("true", "false"):
        response = client.post(
            "/import/patch-list.csv",
            params={"dry_run": dry_run},
            content=body,
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", row, column]
    assert count(db, "patchbay_points") == 0 and count(db, "devices") == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"bay,channel\r\n",
        b"\xff\xfe" + HEADER.encode("utf-16-le"),
        (HEADER + "\r\n,,,,A1\r\n").encode(),
        (HEADER + '\r\n,,,,"A1,,,,,,,,\r\n').encode(),
    ],
)
def test_a_bad_file_is_422(client: TestClient, db: Db, body: bytes) -> None:
    response = client.post(
        "/import/patch-list.csv", content=body, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    assert count(db, "patchbay_points") == 0


def test_a_byte_order_mark_and_non_ascii_names(client: TestClient) -> None:
    body = (
        "\ufeff" + HEADER + "\r\nMüller Bay,1,top,,Müller 1T,,合成器,Synth,出力,Output,,\r\n"
    ).encode()
    response = client.post(
        "/import/patch-list.csv",
        params={"dry_run": "false"},
        content=body,
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert "Müller 1T" in patch_list(client)
    assert client.get("/devices").json()[0]["ports"][0]["label"] == "出力"


def test_import_keeps_what_exists_and_builds_the_rest(
    client: TestClient, studio: dict[str, Any]
) -> None:
    lines = [
        "Bay A,1,top,,Bay A 1T,,Juno (new),Synth,OUT,Output,,",  # a new device on a point that is taken
        "Bay C,2,bottom,parallel,Bay C 2B,,,,,,Loose 2,",  # a new bay; Loose 2 holds a plug already
    ]
    body = "\r\n".join([HEADER, *lines]).encode()
    response = client.post(
        "/import/patch-list.csv", content=body, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", 3, "cable to"]
    body = "\r\n".join([HEADER, lines[0], "Bay C,2,bottom,parallel,Bay C 2B,,,,,,,"]).encode()
    plan = client.post(
        "/import/patch-list.csv",
        params={"dry_run": "false"},
        content=body,
        headers={"Content-Type": "text/csv"},
    ).json()
    assert plan["create"]["bays"] == [{"name": "Bay C", "channels": 2}]
    assert plan["create"]["patchbay_points"] == ["Bay C 2B"]
    assert plan["create"]["links"] == [{"device": "Juno (new)", "port": "OUT", "point": "Bay A 1T"}]
    # The port it takes the point from is reported, dry run or not.
    assert plan["change"]["unlinked"] == [{"device": TRICKY, "port": "OUT L", "point": "Bay A 1T"}]
    bay_c = client.get("/bays").json()[-1]
    assert [c["mode"] for c in bay_c["channels"]] == ["half-normal", "parallel"]


def test_a_cable_label_that_differs_is_set_and_reported(
    client: TestClient, studio: dict[str, Any]
) -> None:
    body = "\r\n".join([HEADER, "Bay A,2,top,,Bay A 2T,,,,,,Bay B 1T,-10 dBV"]).encode()
    for dry_run in (True, False):
        result = csv_import(client, body, dry_run=dry_run)
        assert result["change"]["cables"] == [
            {"points": ["Bay A 2T", "Bay B 1T"], "label": "-10 dBV"}
        ]
        assert not any(result["create"].values())
    [cable] = [c for c in client.get("/cables").json() if c["color"] == "red"]
    assert (cable["label"], cable["color"]) == ("-10 dBV", "red")


def test_a_huge_bad_header_is_not_echoed(client: TestClient) -> None:
    response = client.post(
        "/import/patch-list.csv",
        content=b"x," * 400_000,
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    assert len(response.content) < 2048
    assert response.json()["detail"][0]["loc"] == ["body", 1]


def test_the_patch_list_import_takes_16_mib(client: TestClient) -> None:
    row = ",,,,{n},{pad},,,,,,\r\n"
    lines = [HEADER + "\r\n"]
    size = len(lines[0])
    n = 0
    while size < 15 * 2**20:
        line = row.format(n=f"P{n}", pad="d" * 1900)
        lines.append(line)
        size += len(line)
        n += 1
    body = "".join(lines).encode()
    assert 2**20 < len(body) < 16 * 2**20
    result = csv_import(client, body, dry_run=True)
    assert len(result["create"]["patchbay_points"]) == n
    over = body + b" " * (16 * 2**20 - len(body) + 1)
    refused = client.post(
        "/import/patch-list.csv", content=over, headers={"Content-Type": "text/csv"}
    )
    assert (refused.status_code, refused.json()) == (413, {"detail": "Request body too large"})
