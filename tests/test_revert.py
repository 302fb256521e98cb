"""Reverts that do exactly what they say (SPEC D5, G): keys changed in pgAdmin come back, swaps
and take-overs of unique values are undone, the scenes an import replaced come back.

These tests commit for real (`committing_client`): entries are written at COMMIT."""

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.schemas.history import Entry, HistoryPage
from app.services.revert import UNKNOWN
from tests.helpers import shaped

Api = TestClient


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def latest(client: Api) -> dict[str, Any]:
    [entry] = shaped(client.get("/history", params={"limit": 1}), HistoryPage)["entries"]
    return dict(entry)


def sql(engine: Engine, *statements: str) -> None:
    """Statements typed into pgAdmin, committed as one transaction."""
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def revert(client: Api, entry: dict[str, Any]) -> dict[str, Any]:
    reverted: dict[str, Any] = shaped(client.post(f"/history/{entry['revision']}/revert"), Entry)
    assert reverted["summary"].startswith(f"Revert of revision {entry['revision']}: ")
    return reverted


def studio(client: Api) -> dict[str, Any]:
    """The whole studio as `GET /export` writes it, less the time of the export."""
    document: dict[str, Any] = ok(client.get("/export"))
    del document["exported_at"]
    return document


@pytest.fixture
def wired(committing_client: Api) -> dict[str, Any]:
    """Bay A (3 channels) and Bay B (1), a synth's two outputs on 1T and 2T, cables 1B-2B and
    3T-3B."""
    client = committing_client
    bay = ok(client.post("/bays", json={"name": "Bay A", "channels": 3}), 201)
    points = {
        f"{c['number']}{row[0].upper()}": c[f"{row}_point_id"]
        for c in bay["channels"]
        for row in ("top", "bottom")
    }
    other = ok(client.post("/bays", json={"name": "Bay B", "channels": 1}), 201)
    ports = [
        {"label": "OUT L", "type": "Output", "patchbay_id": points["1T"]},
        {"label": "OUT R", "type": "Output", "patchbay_id": points["2T"]},
    ]
    synth = ok(client.post("/devices", json={"name": "Juno", "type": "Synth", "ports": ports}), 201)
    cables = [
        ok(client.post("/cables", json={"points": [points[a], points[b]]}), 201)["id"]
        for a, b in (("1B", "2B"), ("3T", "3B"))
    ]
    return {
        "bays": [bay["id"], other["id"]],
        "points": points,
        "ports": [port["id"] for port in synth["ports"]],
        "cables": cables,
    }


# --- Keys changed in pgAdmin (finding 1) --------------------------------------------------------


def changed_and_reverted_twice(client: Api, engine: Engine, statement: str, summary: str) -> None:
    """The key change typed in pgAdmin, its revert (which gives the key back) and the revert of
    that (which changes it again): each leaves the studio as it was before it."""
    before = studio(client)
    sql(engine, statement)
    changed = studio(client)
    entry = latest(client)
    assert entry["summary"] == summary
    undone = revert(client, entry)
    assert studio(client) == before
    revert(client, undone)
    assert studio(client) == changed


def test_a_point_whose_id_was_changed_gets_it_back_and_keeps_its_slot(
    committing_client: Api, engine: Engine, wired: dict[str, Any]
) -> None:
    client, point = committing_client, wired["points"]["3T"]
    ok(client.delete(f"/cables/{wired['cables'][1]}"))  # a point with a plug keeps its id
    changed_and_reverted_twice(
        client,
        engine,
        f"UPDATE patchbay_points SET id = 500 WHERE id = {point}",
        f"Changed the id of point Bay A 3T from {point} to 500",
    )
    channel = ok(client.get(f"/bays/{wired['bays'][0]}"))["channels"][2]
    assert channel["top_point_id"] == 500
    assert latest(client)["summary"].endswith(
        f"Changed the id of point Bay A 3T from {point} to 500"
    )


def test_a_port_whose_id_was_changed_gets_it_back_with_its_link(
    committing_client: Api, engine: Engine, wired: dict[str, Any]
) -> None:
    client, port = committing_client, wired["ports"][0]
    changed_and_reverted_twice(
        client,
        engine,
        f"UPDATE ports SET id = 'juno-out' WHERE id = '{port}'",
        f"Changed the id of port Juno OUT L from {port} to juno-out",
    )
    assert ok(client.get("/ports/juno-out"))["patchbay_id"] == wired["points"]["1T"]


def test_a_key_taken_again_since_refuses_the_revert_and_changes_nothing(
    committing_client: Api, engine: Engine, wired: dict[str, Any]
) -> None:
    """The point's old id was given to a new point since: 409, nothing changes."""
    client, point = committing_client, wired["points"]["3T"]
    ok(client.delete(f"/cables/{wired['cables'][1]}"))
    sql(engine, f"UPDATE patchbay_points SET id = 500 WHERE id = {point}")
    moved = latest(client)
    sql(engine, f"INSERT INTO patchbay_points (id, name) VALUES ({point}, 'Newcomer')")
    before = studio(client)
    response = client.post(f"/history/{moved['revision']}/revert")
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == "Later changes conflict with this revert"
    assert studio(client) == before


# --- Swaps and take-overs of unique values (finding 2) ------------------------------------------


def _swap_cables(doc: dict[str, Any]) -> None:
    first, second = doc["cables"]
    first["points"][0], second["points"][0] = second["points"][0], first["points"][0]


def _swap_bay_names(doc: dict[str, Any]) -> None:
    first, second = doc["bays"]
    first["name"], second["name"] = second["name"], first["name"]


def _swap_ports(doc: dict[str, Any]) -> None:
    first, second = doc["devices"][0]["ports"]
    first["patchbay_id"], second["patchbay_id"] = second["patchbay_id"], first["patchbay_id"]


def _swap_slots(doc: dict[str, Any]) -> None:
    first, second = doc["bays"][0]["channels"][:2]
    first["top_point_id"], second["top_point_id"] = second["top_point_id"], first["top_point_id"]


def _cable_onto_a_removed_ones_point(doc: dict[str, Any]) -> None:
    first, second = doc["cables"]
    second["points"][0] = first["points"][0]
    doc["cables"] = [second]


def _bay_renamed_as_a_removed_one(doc: dict[str, Any]) -> None:
    first, second = doc["bays"]
    doc["patchbay_points"] = [p for p in doc["patchbay_points"] if p["id"] not in _points_in(first)]
    second["name"] = first["name"]
    doc["bays"] = [second]
    doc["devices"], doc["cables"] = [], []


def _points_in(bay: dict[str, Any]) -> set[int]:
    return {c[row] for c in bay["channels"] for row in ("top_point_id", "bottom_point_id")}


def _port_onto_a_removed_ones_point(doc: dict[str, Any]) -> None:
    first, second = doc["devices"][0]["ports"]
    second["patchbay_id"] = first["patchbay_id"]
    doc["devices"][0]["ports"] = [second]


def _point_into_a_removed_ones_slot(doc: dict[str, Any]) -> None:
    first, second = doc["bays"][0]["channels"][2:3] + doc["bays"][1]["channels"][:1]
    gone = first["top_point_id"]
    first["top_point_id"], second["top_point_id"] = second["top_point_id"], None
    doc["patchbay_points"] = [p for p in doc["patchbay_points"] if p["id"] != gone]
    doc["cables"] = [c for c in doc["cables"] if gone not in c["points"]]


IMPORTED = {
    "cables' points swapped": _swap_cables,
    "bay names swapped": _swap_bay_names,
    "ports' points swapped": _swap_ports,
    "points' slots swapped": _swap_slots,
    "a cable plugged where a removed one was": _cable_onto_a_removed_ones_point,
    "a bay named as a removed one": _bay_renamed_as_a_removed_one,
    "a port linked where a removed one was": _port_onto_a_removed_ones_point,
    "a point put where a removed one was": _point_into_a_removed_ones_slot,
}


@pytest.mark.parametrize("edit", IMPORTED.values(), ids=IMPORTED.keys())
def test_reverting_an_import_that_swapped_or_took_over_unique_values(
    committing_client: Api, wired: dict[str, Any], edit: Any
) -> None:
    client = committing_client
    before = studio(client)
    document = {**copy.deepcopy(before), "exported_at": "2026-12-03T10:00:00Z"}
    edit(document)
    ok(client.post("/import", params={"dry_run": "false"}, json=document))
    imported = studio(client)
    assert imported != before
    entry = latest(client)
    # No phrase of an import's summary is left empty (a cable's new created_at is no change).
    assert ": ;" not in entry["summary"] and not entry["summary"].endswith(": ")
    undone = revert(client, entry)
    assert studio(client) == before
    revert(client, undone)
    assert studio(client) == imported


def _sql_edits(w: dict[str, Any]) -> dict[str, list[str]]:
    p, (first, second), (bay_a, bay_b) = w["points"], w["cables"], w["bays"]
    return {
        "cables' points swapped": [
            f"UPDATE cable_ends SET point_id = CASE point_id WHEN {p['1B']} THEN {p['3T']} "
            f"ELSE {p['1B']} END WHERE point_id IN ({p['1B']}, {p['3T']})"
        ],
        "bay names swapped": [
            "UPDATE bays SET name = CASE name WHEN 'Bay A' THEN 'Bay B' ELSE 'Bay A' END"
        ],
        "ports' points swapped": [
            f"UPDATE ports SET patchbay_id = NULL WHERE id = '{w['ports'][0]}'",
            f"UPDATE ports SET patchbay_id = {p['1T']} WHERE id = '{w['ports'][1]}'",
            f"UPDATE ports SET patchbay_id = {p['2T']} WHERE id = '{w['ports'][0]}'",
        ],
        "points' slots swapped": [
            f"UPDATE patchbay_points SET bay_channel = 3 - bay_channel "
            f"WHERE id IN ({p['1T']}, {p['2T']})"
        ],
        "a cable plugged where a removed one was": [
            f"DELETE FROM cables WHERE id = {first}",
            f"UPDATE cable_ends SET point_id = {p['1B']} "
            f"WHERE cable_id = {second} AND end_number = 1",
        ],
        "a bay named as a removed one": [
            "DELETE FROM ports",
            "DELETE FROM cables",
            f"DELETE FROM bays WHERE id = {bay_a}",
            f"UPDATE bays SET name = 'Bay A' WHERE id = {bay_b}",
        ],
        "a port linked where a removed one was": [
            f"DELETE FROM ports WHERE id = '{w['ports'][0]}'",
            f"UPDATE ports SET patchbay_id = {p['1T']} WHERE id = '{w['ports'][1]}'",
        ],
        "a point put where a removed one was": [
            f"DELETE FROM cables WHERE id = {second}",
            f"DELETE FROM patchbay_points WHERE id = {p['3T']}",
            f"UPDATE patchbay_points SET bay_channel = 3 WHERE id = {p['2T']}",
        ],
    }


@pytest.mark.parametrize("kind", IMPORTED.keys())
def test_reverting_sql_that_swapped_or_took_over_unique_values(
    committing_client: Api, engine: Engine, wired: dict[str, Any], kind: str
) -> None:
    client = committing_client
    before = studio(client)
    sql(engine, *_sql_edits(wired)[kind])
    edited = studio(client)
    assert edited != before
    undone = revert(client, latest(client))
    assert studio(client) == before
    revert(client, undone)
    assert studio(client) == edited


# --- Scenes (finding 3) -------------------------------------------------------------------------


def scenes(client: Api) -> list[dict[str, Any]]:
    listed = ok(client.get("/scenes"))
    return [ok(client.get(f"/scenes/{scene['id']}")) for scene in listed]


def test_a_revert_brings_back_the_scenes_an_import_replaced(
    committing_client: Api, engine: Engine, wired: dict[str, Any]
) -> None:
    """What an import does to the scenes, in its transaction (pepper.record_scenes set): one
    scene deleted, one renamed, one made; and the studio changed. The revert undoes all of it
    and is recorded, so that reverting the revert redoes it."""
    client = committing_client
    mix, drums = (ok(client.post("/scenes", json={"name": n}), 201) for n in ("Mix", "Drums"))
    ok(client.post(f"/ports/{wired['ports'][0]}/unlink"))
    before, kept = studio(client), scenes(client)
    sql(
        engine,
        "SELECT set_config('pepper.record_scenes', 'on', true)",
        f"DELETE FROM scenes WHERE id = {mix['id']}",
        f"UPDATE scenes SET name = 'Drums (old)' WHERE id = {drums['id']}",
        "INSERT INTO scenes (name, content) "
        """VALUES ('Vocals', '{"links": [], "cables": [], "modes": []}')""",
        "INSERT INTO patchbay_points (name) VALUES ('Imported')",
    )
    entry = latest(client)
    assert entry["summary"] == (
        "Added point Imported; Added scene Vocals; Removed scene Mix; and 1 more change"
    )
    assert {c["table"] for c in entry["changes"]} == {"patchbay_points", "scenes"}
    replaced = scenes(client)
    undone = revert(client, entry)
    assert (studio(client), scenes(client)) == (before, kept)
    # The revert's own scene changes are recorded too.
    assert undone["summary"].endswith(
        "Removed point Imported; Added scene Mix; Removed scene Vocals; and 1 more change"
    )
    redone = revert(client, undone)
    assert scenes(client) == replaced
    assert redone["change_count"] == entry["change_count"]


def test_scene_changes_read_well(committing_client: Api, engine: Engine) -> None:
    client = committing_client
    scene = ok(client.post("/scenes", json={"name": "Mix"}), 201)
    for statement, summary in (
        (
            f"UPDATE scenes SET name = 'Mix 2' WHERE id = {scene['id']}",
            "Renamed scene Mix to Mix 2",
        ),
        (f"UPDATE scenes SET description = 'x' WHERE id = {scene['id']}", "Changed scene Mix 2"),
        (
            f'UPDATE scenes SET content = \'{{"links": [], "cables": [], "modes": []}}\', '
            f"updated_at = now() WHERE id = {scene['id']}",
            "Changed scene Mix 2",
        ),
        (f"DELETE FROM scenes WHERE id = {scene['id']}", "Removed scene Mix 2"),
    ):
        sql(engine, "SELECT set_config('pepper.record_scenes', 'on', true)", statement)
        assert latest(client)["summary"] == summary


def test_an_entry_of_a_table_the_revert_does_not_know_is_refused(
    committing_client: Api, engine: Engine
) -> None:
    """Rows of a table added to the studio later, and not yet known to the revert: 409,
    nothing changes (never a 200 for a change it did not make)."""
    client, revision = committing_client, 10**12
    sql(
        engine,
        "INSERT INTO history_entries (id, revision, at, source, names) "
        f"VALUES (nextval('history_entry_seq'), {revision}, now(), 'sql', '{{}}')",
        "INSERT INTO history_changes (entry_id, table_name, key, op, before, after) "
        """VALUES (currval('history_entry_seq'), 'mystery', '1', 'update', """
        """'{"id": 1, "x": 1}', '{"id": 1, "x": 2}')""",
    )
    assert ok(client.get(f"/history/{revision}"))["summary"] == "Changed 1 mystery row"
    response = client.post(f"/history/{revision}/revert")
    assert response.status_code == 409, response.text
    [conflict] = response.json()["conflicts"]
    assert (conflict["table"], conflict["reason"]) == ("mystery", UNKNOWN)
    assert latest(client)["revision"] == revision
