"""The JSON import changes only what differs (SPEC D6, G): rows of the document that exist as
they are stay untouched, swaps of unique values go through, an identical re-import changes
nothing, and the import's history entry holds exactly its changes, scenes included.

These tests commit (`committing_client`): creation times, revisions and history entries are
only told apart across transactions."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.schemas.history import Entry
from app.schemas.studio import ImportResult, StudioDocument
from tests.helpers import STUDIO_TABLES, shaped

KINDS = ("bays", "patchbay_points", "devices", "ports", "cables", "scenes", "electrical")
NOTHING = dict.fromkeys(KINDS, 0)
Document = dict[str, Any]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def export(client: TestClient) -> Document:
    document: Document = shaped(client.get("/export"), StudioDocument)
    return document


def imported(client: TestClient, document: Document, *, dry_run: bool = False) -> Any:
    response = client.post("/import", params={"dry_run": str(dry_run).lower()}, json=document)
    return shaped(response, ImportResult) if response.status_code == 200 else ok(response)


def without_time(document: Document) -> Document:
    return {key: value for key, value in document.items() if key != "exported_at"}


def rows(engine: Engine) -> dict[str, list[Any]]:
    """Every row of the studio as PostgreSQL holds it (creation times, port positions)."""
    with engine.connect() as conn:
        return {
            table: list(conn.execute(text(f"SELECT to_jsonb(t) FROM {table} t ORDER BY 1::text")))
            for table in STUDIO_TABLES
        }


def entries(client: TestClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get("/history", params={"limit": 500}))["entries"]
    return found


def revision(client: TestClient) -> int:
    return int(client.get("/state").headers["etag"][3:-1])


@pytest.fixture
def studio(committing_client: TestClient) -> Document:
    """Bays A and B (two channels each), a loose point, two devices with linked ports, two
    cables and two scenes; its export."""
    client = committing_client
    bays = [
        ok(client.post("/bays", json={"name": f"Bay {name}", "channels": 2}), 201) for name in "AB"
    ]
    jacks = [
        channel[row]
        for bay in bays
        for channel in bay["channels"]
        for row in ("top_point_id", "bottom_point_id")
    ]
    ok(client.post("/patchbay-points", json={"name": "Loose"}), 201)
    for name, (first, second) in (("Juno-106", jacks[0:2]), ("Desk", jacks[2:4])):
        ports = [
            {"label": "OUT", "type": "Output", "patchbay_id": first},
            {"label": "IN", "type": "Input", "patchbay_id": second},
        ]
        ok(client.post("/devices", json={"name": name, "type": "Synth", "ports": ports}), 201)
    ok(client.post("/cables", json={"points": [jacks[4], jacks[5]], "label": "one"}), 201)
    ok(client.post("/cables", json={"points": [jacks[6], jacks[7]], "label": "two"}), 201)
    for name in ("Tracking", "Mixing"):
        ok(client.post("/scenes", json={"name": name}), 201)
    return export(client)


def test_an_identical_import_changes_nothing(
    committing_client: TestClient, engine: Engine, studio: Document
) -> None:
    """Each row keeps its creation time and each port its place, so every earlier history
    entry stays revertable; no revision, no history entry."""
    client = committing_client
    before, at, written = rows(engine), revision(client), entries(client)
    for dry_run in (True, False):
        result = imported(client, studio, dry_run=dry_run)
        assert (result["create"], result["update"], result["delete"]) == (NOTHING,) * 3
    assert result["revision"] == at == revision(client)
    assert rows(engine) == before
    assert entries(client) == written
    assert without_time(export(client)) == without_time(studio)


def _swap(items: list[Any], key: str) -> Callable[[Document], None]:
    def swap(document: Document) -> None:
        first, second = (items_of(document, items)[n] for n in (0, 1))
        first[key], second[key] = second[key], first[key]

    return swap


def items_of(document: Document, path: list[Any]) -> Any:
    found: Any = document
    for part in path:
        found = found[part]
    return found


SWAPS: dict[str, tuple[Callable[[Document], None], str]] = {
    "two cables' points": (_swap(["cables"], "points"), "cables"),
    "two bays' names": (_swap(["bays"], "name"), "bays"),
    "two ports' points": (_swap(["devices", 0, "ports"], "patchbay_id"), "ports"),
    "two scenes' names": (_swap(["scenes"], "name"), "scenes"),
}


def _swap_slots(document: Document) -> None:
    a, b = (bay["channels"][0] for bay in document["bays"])
    a["top_point_id"], b["top_point_id"] = b["top_point_id"], a["top_point_id"]


SWAPS["two points' slots"] = (_swap_slots, "patchbay_points")


@pytest.mark.parametrize("swap", SWAPS)
def test_swapped_unique_values_import(
    committing_client: TestClient, engine: Engine, studio: Document, swap: str
) -> None:
    """Cable ends, slots, bay and scene names are unique when each statement ends: each table
    changes in one statement; links, unique row by row, are freed first."""
    change, kind = SWAPS[swap]
    document = json.loads(json.dumps(studio))
    change(document)
    before = rows(engine)
    for dry_run in (True, False):
        result = imported(committing_client, document, dry_run=dry_run)
        assert result["update"] == {**NOTHING, kind: 2}, result
        assert (result["create"], result["delete"]) == (NOTHING, NOTHING)
    assert without_time(export(committing_client)) == without_time(document)
    after = rows(engine)
    # Only the swapped rows changed (a point's slot is a column of the point; a cable's points
    # are its two ends).
    table, changed = ("cable_ends", 4) if kind == "cables" else (kind, 2)
    assert sum(row not in before[table] for row in after[table]) == changed
    assert all(after[other] == before[other] for other in STUDIO_TABLES if other != table)


def test_an_import_changes_only_what_differs(
    committing_client: TestClient, engine: Engine, studio: Document
) -> None:
    """Its counts say what changes, its history entry holds those rows and no others, and its
    summary names them (an identical import's "Changed the description of bay B" came from
    every row deleted and inserted again: a new creation time read as a change)."""
    client = committing_client
    document = json.loads(json.dumps(studio))
    document["bays"][0]["name"] = "Bay Z"
    document["bays"][1]["channels"][1]["mode"] = "thru"
    document["patchbay_points"][-1]["description"] = "by the door"
    document["devices"][1]["ports"][1]["label"] = "IN 2"
    document["cables"][0]["color"] = "red"
    document["scenes"][1]["description"] = "Tuesday"
    document["devices"][0]["ports"].pop()
    new = {"id": 99, "name": "New", "description": "", "type": "standard"}
    document["patchbay_points"].append(new)
    before = rows(engine)
    dry = imported(client, document, dry_run=True)
    done = imported(client, document)
    expected = {
        "delete": {**NOTHING, "ports": 1},
        "create": {**NOTHING, "patchbay_points": 1},
        "update": {**NOTHING, "bays": 2, "patchbay_points": 1, "ports": 1, "cables": 1},
    }
    expected["update"]["scenes"] = 1
    assert {key: dry[key] for key in expected} == {key: done[key] for key in expected} == expected
    assert without_time(export(client)) == without_time(document)
    [entry, *_] = entries(client)
    assert entry["revision"] == done["revision"]
    changed = sorted((c["table"], c["op"], json.dumps(c["key"])) for c in entry["changes"])
    assert changed == sorted(
        [
            ("bays", "update", json.dumps(studio["bays"][0]["id"])),
            (
                "bay_channels",
                "update",
                json.dumps({"bay_id": studio["bays"][1]["id"], "number": 2}),
            ),
            ("patchbay_points", "update", json.dumps(studio["patchbay_points"][-1]["id"])),
            ("patchbay_points", "insert", "99"),
            ("ports", "update", json.dumps(studio["devices"][1]["ports"][1]["id"])),
            ("ports", "delete", json.dumps(studio["devices"][0]["ports"][1]["id"])),
            ("cables", "update", json.dumps(studio["cables"][0]["id"])),
            ("scenes", "update", json.dumps(studio["scenes"][1]["id"])),
        ]
    )
    assert "description of bay" not in entry["summary"]
    # What the document holds as it was kept its creation time.
    after = rows(engine)
    assert after["devices"] == before["devices"]
    assert after["cable_ends"] == before["cable_ends"]


def test_the_summary_of_a_rename_names_only_the_rename(
    committing_client: TestClient, studio: Document
) -> None:
    document = json.loads(json.dumps(studio))
    document["bays"][0]["name"] = "Bay Z"
    imported(committing_client, document)
    entry = shaped(committing_client.get(f"/history/{revision(committing_client)}"), Entry)
    assert entry["summary"] == "Renamed bay Bay A to Bay Z"
    assert [(c["table"], c["op"]) for c in entry["changes"]] == [("bays", "update")]


def test_an_import_records_its_scene_changes(
    committing_client: TestClient, studio: Document
) -> None:
    """Scenes the import deletes, changes or adds are in its history entry, so that reverting
    it can bring them back; without scene changes there are none in it."""
    client = committing_client
    document = json.loads(json.dumps(studio))
    tracking, mixing = document["scenes"]
    mixing["description"] = "Tuesday"
    document["scenes"] = [
        mixing,
        {**tracking, "id": 77, "name": "Overdubs", "links": [], "cables": [], "modes": []},
    ]
    done = imported(client, document)
    assert (done["create"]["scenes"], done["update"]["scenes"], done["delete"]["scenes"]) == (
        1,
        1,
        1,
    )
    [entry, *_] = entries(client)
    assert entry["revision"] == done["revision"] == revision(client)
    scenes = {(c["op"], c["key"]): c for c in entry["changes"] if c["table"] == "scenes"}
    assert set(scenes) == {("delete", tracking["id"]), ("update", mixing["id"]), ("insert", 77)}
    assert scenes[("delete", tracking["id"])]["before"]["name"] == "Tracking"
    assert scenes[("update", mixing["id"])]["after"]["description"] == "Tuesday"
    assert scenes[("insert", 77)]["after"]["content"] == {"links": [], "cables": [], "modes": []}
    # Its content alone.
    document["scenes"][0]["links"] = []
    assert imported(client, document)["update"] == {**NOTHING, "scenes": 1}
    assert export(client)["scenes"][0]["links"] == []
    # A scene saved through its own endpoints is still no change of the studio.
    at = revision(client)
    ok(client.post("/scenes", json={"name": "Later"}), 201)
    assert revision(client) == at


def test_moves_out_of_what_goes(committing_client: TestClient, studio: Document) -> None:
    """What the document keeps is moved out of what it deletes before that goes: a point out
    of a deleted bay into a new bay of the same name, a plug out of a deleted point into a new
    one, a port to a new device while its old device goes."""
    client = committing_client
    document = json.loads(json.dumps(studio))
    bay_b = document["bays"][1]
    kept = bay_b["channels"][0]["top_point_id"]  # plugged: the first cable's first end
    gone = bay_b["channels"][0]["bottom_point_id"]  # plugged: the first cable's second end
    new_bay = {
        "id": 50,
        "name": bay_b["name"],
        "description": "the new one",
        "channels": [
            {"number": 1, "mode": "parallel", "top_point_id": kept, "bottom_point_id": 60},
        ],
    }
    document["bays"] = [document["bays"][0], new_bay]
    points = document["patchbay_points"]
    document["patchbay_points"] = [p for p in points if p["id"] != gone]
    document["patchbay_points"].append(
        {"id": 60, "name": "B 1B (new)", "description": "", "type": "standard"}
    )
    dropped = {c["top_point_id"] for c in bay_b["channels"][1:]}
    dropped |= {c["bottom_point_id"] for c in bay_b["channels"][1:]}
    document["patchbay_points"] = [p for p in document["patchbay_points"] if p["id"] not in dropped]
    document["cables"] = [{**document["cables"][0], "points": [kept, 60]}]
    juno, desk = document["devices"]
    document["devices"] = [
        juno,
        {
            "id": 40,
            "name": "Desk II",
            "type": "Mixer",
            "last_port_number": 9,
            "ports": desk["ports"],
        },
    ]
    done = imported(client, document)
    assert done["delete"] == {**NOTHING, "bays": 1, "patchbay_points": 3, "devices": 1, "cables": 1}
    assert done["create"] == {**NOTHING, "bays": 1, "patchbay_points": 1, "devices": 1}
    assert done["update"]["ports"] == 2 and done["update"]["cables"] == 1
    assert without_time(export(client)) == without_time(document)


def test_new_ports_follow_the_ports_a_device_has(
    committing_client: TestClient, engine: Engine, studio: Document
) -> None:
    """A port keeps its place among its device's ports; new ones come after them, in the
    document's order."""
    client = committing_client
    document = json.loads(json.dumps(studio))
    ports = document["devices"][0]["ports"]
    new = [
        {"id": f"new-{n}", "label": f"N{n}", "type": "Other", "patchbay_id": None} for n in (2, 1)
    ]
    ports[1:1] = new
    before = rows(engine)["ports"]
    imported(client, document)
    listed = [port["id"] for port in export(client)["devices"][0]["ports"]]
    assert listed == [ports[0]["id"], ports[3]["id"], "new-2", "new-1"]
    assert all(row in rows(engine)["ports"] for row in before)


def test_a_dry_run_draws_no_ids(
    committing_client: TestClient, engine: Engine, studio: Document
) -> None:
    """SPEC G: a dry run consumes no ids (nor ports' places)."""
    sequences = text("SELECT sequencename, last_value FROM pg_sequences ORDER BY 1")
    document = json.loads(json.dumps(studio))
    document["devices"].append(
        {
            "id": 70,
            "name": "New",
            "type": "FX",
            "ports": [{"id": "fx-1", "label": "IN", "type": "Input", "patchbay_id": None}],
        }
    )
    document["patchbay_points"].append({"id": 71, "name": "New"})
    with engine.connect() as conn:
        before = list(conn.execute(sequences))
    assert imported(committing_client, document, dry_run=True)["create"]["ports"] == 1
    with engine.connect() as conn:
        assert list(conn.execute(sequences)) == before
    assert without_time(export(committing_client)) == without_time(studio)
