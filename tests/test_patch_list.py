"""The patch list (SPEC D6, G): bounded reading, dry runs that take no ids, moved links
reported, spreadsheet-safe cells, devices that share a name."""

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.db.session import hold_studio
from app.services.patch_list import (
    MAX_BAY_CHANNELS,
    MAX_POINTS,
    MAX_ROWS,
    device_cell,
    device_named,
    neutralised,
    restored,
)
from tests import test_export
from tests.helpers import Db, add_points, count, holder_of, make_device

CSV = {"Content-Type": "text/csv"}
STUDIO = ("bays", "bay_channels", "patchbay_points", "devices", "ports", "cables")


def patch_list(*lines: str) -> bytes:
    return "\r\n".join([test_export.HEADER, *lines]).encode()


def post(client: TestClient, body: bytes, *, dry_run: bool) -> Any:
    params = {"dry_run": str(dry_run).lower()}
    return client.post("/import/patch-list.csv", params=params, content=body, headers=CSV)


# test_export's: an import that must succeed, the export, another empty studio.
imported = test_export.csv_import
exported = test_export.patch_list
empty_studio = test_export.empty_studio


def counts(db: Db) -> list[int]:
    return [count(db, table) for table in STUDIO]


# --- Bounds (SPEC G) ----------------------------------------------------------------------------
def test_the_heaviest_patch_list_within_the_bounds_is_taken(client: TestClient, db: Db) -> None:
    """As many points as SPEC G asks for and as many empty slots, in bays of 96 channels:
    every point a new device's port, half of them cabled."""
    lines = []
    for n in range(MAX_BAY_CHANNELS):
        bay, channel = divmod(n, 96)
        point = f"B{bay} {channel + 1}T"
        cable = f"B{bay} {channel}T,c{n - 1}" if n % 2 else f"B{bay} {channel + 2}T,c{n}"
        lines.append(f"B{bay},{channel + 1},top,,{point},,D{n},Synth,OUT,Output,{cable}")
        lines.append(f"B{bay},{channel + 1},bottom,,,,,,,,,")
    assert len(lines) == MAX_ROWS and MAX_POINTS == MAX_BAY_CHANNELS
    made = imported(client, patch_list(*lines), dry_run=True)
    assert len(made["create"]["patchbay_points"]) == len(made["create"]["ports"]) == MAX_POINTS
    assert len(made["create"]["cables"]) == MAX_POINTS // 2
    assert sum(bay["channels"] for bay in made["create"]["bays"]) == MAX_BAY_CHANNELS
    assert counts(db) == [0] * len(STUDIO)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [",,,,,,,,,,,"] * (MAX_ROWS + 1),
            "Too many rows: at most 40,000 in one request",
        ),
        (
            [f",,,,P{n},,,,,,," for n in range(MAX_POINTS + 1)],
            "Too many rows with a point: at most 20,000 in one request",
        ),
        (
            [f"Bay {n},96,top,,,,,,,,," for n in range(MAX_BAY_CHANNELS // 96 + 1)],
            "Too many bay channels: at most 20,000 in one request",
        ),
    ],
    ids=["rows", "points", "channels"],
)
def test_a_patch_list_past_a_bound_is_413_naming_it(
    client: TestClient, db: Db, lines: list[str], message: str
) -> None:
    for dry_run in (True, False):
        response = post(client, patch_list(*lines), dry_run=dry_run)
        assert (response.status_code, response.json()) == (413, {"detail": message})
    assert counts(db) == [0] * len(STUDIO)


def test_a_patch_list_past_a_bound_is_refused_while_the_studio_is_held(
    committing_client: TestClient, engine: Engine
) -> None:
    """Decided while reading, before the import waits for the studio: refused at once even
    while another import holds it (waiting for it would be a 503)."""
    lines = [f",,,,P{n},,,,,,," for n in range(MAX_POINTS + 1)]
    with engine.connect() as conn, conn.begin():
        hold_studio(conn, whole_studio=True)
        response = post(committing_client, patch_list(*lines), dry_run=False)
    assert response.status_code == 413, response.text


# --- A dry run takes no ids (SPEC G) ------------------------------------------------------------
SEQUENCES = (("bays", "id"), ("patchbay_points", "id"), ("devices", "id"), ("cables", "id"))


def last_ids(db: Db) -> list[int]:
    """The last id each sequence gave out (0 before the first), and the ports' last position."""
    columns = (*SEQUENCES, ("ports", "position"))
    return [
        db.scalar(
            "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence(%(t)s, %(c)s)), 0)",
            {"t": table, "c": column},
        )
        for table, column in columns
    ]


def test_a_dry_run_takes_no_ids(client: TestClient, db: Db) -> None:
    body = patch_list(
        "Bay Z,1,top,thru,Z 1T,,Juno,Synth,OUT,Output,Z 1B,patch",
        "Bay Z,1,bottom,thru,Z 1B,,Juno,Synth,IN,Input,Z 1T,patch",
    )
    before = last_ids(db)
    plan = imported(client, body, dry_run=True)
    assert last_ids(db) == before
    done = imported(client, body)
    assert done["create"] == plan["create"]
    # The ids the real run drew are the next ones: the dry run used none up.
    bay, point, device, cable, _ = before
    [made] = client.get("/bays").json()
    assert made["id"] == bay + 1
    assert made["channels"][0]["top_point_id"] == point + 1
    [juno] = client.get("/devices").json()
    assert (juno["id"], juno["ports"][0]["id"]) == (device + 1, f"dev-{device + 1}-port-1")
    assert [k["id"] for k in client.get("/cables").json()] == [cable + 1]


# --- Moved links are reported (SPEC D6) ---------------------------------------------------------
def test_a_port_moved_to_another_point_is_reported(client: TestClient, db: Db) -> None:
    p1, p2 = add_points(db, 2)
    ports = [{"label": "OUT", "type": "Output", "patchbay_id": p1}]
    port = make_device(client, name="Juno", ports=ports)["ports"][0]["id"]
    body = patch_list(",,,,P2,,Juno,Synth,OUT,Output,,")
    for dry_run in (True, False):
        result = imported(client, body, dry_run=dry_run)
        assert result["change"]["moved"] == [
            {"device": "Juno", "port": "OUT", "point": "P1", "to": "P2"}
        ]
        assert result["change"]["unlinked"] == []
        assert result["create"]["links"] == [{"device": "Juno", "port": "OUT", "point": "P2"}]
    assert (holder_of(db, p1), holder_of(db, p2)) == (None, port)
    again = imported(client, body)
    assert all(not items for items in again["change"].values())


def test_ports_that_swap_points_and_one_that_loses_its_point(client: TestClient, db: Db) -> None:
    p1, p2, p3 = add_points(db, 3)
    ports = [
        {"label": label, "type": "Output", "patchbay_id": point}
        for label, point in (("A", p1), ("B", p2), ("C", p3))
    ]
    juno = make_device(client, name="Juno", ports=ports)
    a, b, c = (port["id"] for port in juno["ports"])
    body = patch_list(",,,,P1,,Juno,,B,,,", ",,,,P2,,Juno,,C,,,", ",,,,P3,,,,,,,")
    result = imported(client, body)
    assert result["change"]["moved"] == [
        {"device": "Juno", "port": "B", "point": "P2", "to": "P1"},
        {"device": "Juno", "port": "C", "point": "P3", "to": "P2"},
    ]
    assert result["change"]["unlinked"] == [{"device": "Juno", "port": "A", "point": "P1"}]
    assert [holder_of(db, point) for point in (p1, p2, p3)] == [b, c, None]
    assert client.get(f"/ports/{a}").json()["patchbay_id"] is None


# --- Cells a spreadsheet would run (SPEC D6) ----------------------------------------------------
@pytest.mark.parametrize("value", ["\tx", "\rx", "'\tx", "'\rx", "\t", "x\t", "'\r"])
def test_cells_starting_with_tab_or_cr_round_trip(value: str) -> None:
    assert restored(neutralised(value)) == value
    if value[:1] in "\t\r":
        assert neutralised(value) == "'" + value


def test_tab_and_cr_first_survive_a_round_trip(
    client: TestClient, db: Db, empty_studio: TestClient
) -> None:
    [point, other] = add_points(db, 2)
    db.execute(
        "UPDATE patchbay_points SET name = %(n)s, description = %(d)s WHERE id = %(id)s",
        {"n": "\tIn 1", "d": "\r\nbehind the desk", "id": point},
    )
    ports = [{"label": "\rOUT", "type": "Output", "patchbay_id": point}]
    make_device(client, name="\tJuno", ports=ports)
    client.post("/cables", json={"points": [point, other], "label": "\t-3 dB"})
    text = exported(client)
    [row, _] = list(csv.reader(io.StringIO(text)))[1:]
    assert [row[4], row[5], row[6], row[8], row[11]] == [
        "'\tIn 1",
        "'\r\nbehind the desk",
        "'\tJuno",
        "'\rOUT",
        "'\t-3 dB",
    ]
    imported(empty_studio, text.encode())
    assert exported(empty_studio) == text
    assert empty_studio.get("/devices").json()[0]["name"] == "\tJuno"


# --- Devices that share a name (SPEC D6) --------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "number", "cell"),
    [
        ("Synth", 1, "Synth"),
        ("Synth", 2, "Synth [2]"),
        ("Mix [2]", 1, "Mix [2] [1]"),
        ("Mix [2]", 3, "Mix [2] [3]"),
        ("a [0]", 1, "a [0]"),
        ("[2]", 1, "[2]"),
        (" [2]", 1, " [2]"),
        ("x [02]", 1, "x [02]"),
        ("x\n [2]", 1, "x\n [2]"),
        ("x\n [2]", 2, "x\n [2] [2]"),
    ],
)
def test_device_cells_read_back_as_the_device(name: str, number: int, cell: str) -> None:
    assert device_cell(name, number) == cell
    assert device_named(cell) == (name, number)


def two_synths(client: TestClient, db: Db) -> tuple[dict[str, Any], dict[str, Any]]:
    p1, p2, p3 = add_points(db, 3)
    first = make_device(
        client, name="Synth", ports=[{"label": "OUT", "type": "Output", "patchbay_id": p1}]
    )
    second = make_device(
        client,
        name="Synth",
        ports=[
            {"label": "OUT", "type": "Output", "patchbay_id": p2},
            {"label": "IN", "type": "Input", "patchbay_id": p3},
        ],
    )
    return first, second


def test_devices_of_one_name_stay_apart_on_a_round_trip(
    client: TestClient, db: Db, empty_studio: TestClient
) -> None:
    two_synths(client, db)
    text = exported(client)
    assert [row[6] for row in csv.reader(io.StringIO(text))][1:] == [
        "Synth",
        "Synth [2]",
        "Synth [2]",
    ]
    made = imported(empty_studio, text.encode())
    assert made["create"]["devices"] == [{"name": "Synth", "type": "Synth"}] * 2
    devices = empty_studio.get("/devices").json()
    assert [[port["label"] for port in d["ports"]] for d in devices] == [["OUT"], ["OUT", "IN"]]
    assert exported(empty_studio) == text
    before = client.get("/state").json()
    again = imported(client, text.encode())
    assert all(not items for items in (*again["create"].values(), *again["change"].values()))
    assert client.get("/state").json() == before


def test_the_wired_device_of_a_name_comes_first(client: TestClient, db: Db) -> None:
    """The patch list shows only devices wired to a point: an older device of the same name
    that is not wired is counted after them, so the export finds the one it shows."""
    make_device(client, name="Synth", ports=[{"label": "OUT", "type": "Output"}])
    [point] = add_points(db, 1)
    wired = make_device(
        client, name="Synth", ports=[{"label": "OUT", "type": "Output", "patchbay_id": point}]
    )
    text = exported(client)
    assert list(csv.reader(io.StringIO(text)))[1][6] == "Synth"
    result = imported(client, text.encode())
    assert all(not items for items in (*result["create"].values(), *result["change"].values()))
    assert holder_of(db, point) == wired["ports"][0]["id"]
    # The other one is "Synth [2]".
    result = imported(client, patch_list(",,,,P1,,Synth [2],,OUT,,,"))
    assert result["change"]["unlinked"] == [{"device": "Synth", "port": "OUT", "point": "P1"}]
    assert result["create"]["links"] == [{"device": "Synth [2]", "port": "OUT", "point": "P1"}]


def test_a_new_device_takes_its_type_from_its_first_row(client: TestClient) -> None:
    body = patch_list(",,,,A,,Juno,Synth,OUT,Output,,", ",,,,B,,Juno,,IN,Input,,")
    made = imported(client, body, dry_run=True)
    assert made["create"]["devices"] == [{"name": "Juno", "type": "Synth"}]
    assert len(made["create"]["ports"]) == 2


def test_a_name_that_looks_numbered_round_trips(
    client: TestClient, db: Db, empty_studio: TestClient
) -> None:
    [point] = add_points(db, 1)
    ports = [{"label": "OUT", "type": "Output", "patchbay_id": point}]
    make_device(client, name="Mix [2]", ports=ports)
    text = exported(client)
    assert list(csv.reader(io.StringIO(text)))[1][6] == "Mix [2] [1]"
    imported(empty_studio, text.encode())
    assert [d["name"] for d in empty_studio.get("/devices").json()] == ["Mix [2]"]
    assert exported(empty_studio) == text


def test_a_new_device_number_must_follow_on(client: TestClient, db: Db) -> None:
    first, _ = two_synths(client, db)
    before = counts(db)
    response = post(client, patch_list(",,,,P9,,Synth [4],Synth,IN,Input,,"), dry_run=False)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["input"]) == (["body", 2, "device"], "Synth [4]")
    assert "3" in error["msg"]
    assert counts(db) == before
    made = imported(client, patch_list(",,,,P9,,Synth [3],Synth,IN,Input,,"))
    assert made["create"]["devices"] == [{"name": "Synth", "type": "Synth"}]
    # `Synth [1]` is `Synth`: the device already on P1.
    result = imported(client, patch_list(",,,,P1,,Synth [1],,OUT,,,"))
    assert not any((*result["create"].values(), *result["change"].values()))
    assert holder_of(db, first["ports"][0]["patchbay_id"]) == first["ports"][0]["id"]


# --- Port numbers, for many devices at once -----------------------------------------------------
def test_new_ports_go_on_from_each_devices_highest_number(client: TestClient, db: Db) -> None:
    """A port id typed in by hand on another device takes its number from the device it names
    (as `POST /devices/{id}/ports` does); a device out of numbers is a 409."""
    juno = make_device(client, name="Juno", ports=[{"label": "OUT", "type": "Output"}])
    desk = make_device(client, name="Desk", ports=[])
    db.execute(
        "INSERT INTO ports (id, device_id, label, type) VALUES (%(id)s, %(desk)s, 'x', 'Input')",
        {"id": f"dev-{juno['id']}-port-7", "desk": desk["id"]},
    )
    body = patch_list(",,,,A,,Juno,,IN,Input,,", ",,,,B,,Desk,,IN 1,Input,,")
    imported(client, body)
    ids = {d["name"]: [p["id"] for p in d["ports"]] for d in client.get("/devices").json()}
    assert ids["Juno"] == [f"dev-{juno['id']}-port-1", f"dev-{juno['id']}-port-8"]
    assert ids["Desk"][-1] == f"dev-{desk['id']}-port-1"
    db.execute(
        "UPDATE devices SET last_port_number = 2147483647 WHERE id = %(id)s", {"id": desk["id"]}
    )
    before = counts(db)
    for dry_run in (True, False):
        response = post(client, patch_list(",,,,C,,Desk,,IN 2,Input,,"), dry_run=dry_run)
        assert (response.status_code, response.json()) == (
            409,
            {"detail": "Device has given out every port number"},
        )
    assert counts(db) == before
