"""History (SPEC D5): every committed change recorded by PostgreSQL, readable, and undone.

These tests commit for real (`committing_client`): entries are written at COMMIT."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from app.schemas.history import Entry, HistoryPage, RevertRefused
from app.services.history import prune
from app.services.revert import ADDED
from tests.conftest import empty_tables, settings
from tests.helpers import LogCapture, shaped

Api = TestClient


def latest(client: Api) -> dict[str, Any]:
    response = client.get("/history", params={"limit": 1})
    assert response.status_code == 200
    [entry] = shaped(response, HistoryPage)["entries"]
    return dict(entry)


def entries(client: Api, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/history", params={"limit": 500, **params})
    body: list[dict[str, Any]] = shaped(response, HistoryPage)["entries"]
    return body


def revision(client: Api) -> int:
    return int(client.get("/state").headers["etag"][3:-1])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def studio(committing_client: Api) -> dict[str, Any]:
    """Bay A (2 channels), a synth and a mixer wired to it."""
    client = committing_client
    bay = ok(client.post("/bays", json={"name": "Bay A", "channels": 2}), 201)
    (t1, b1), (t2, b2) = ((c["top_point_id"], c["bottom_point_id"]) for c in bay["channels"])
    synth = ok(
        client.post(
            "/devices",
            json={
                "name": "Juno-106",
                "type": "Synth",
                "ports": [{"label": "OUT L", "type": "Output", "patchbay_id": t1}],
            },
        ),
        201,
    )
    mixer = ok(
        client.post(
            "/devices",
            json={
                "name": "Desk",
                "type": "Mixer",
                "ports": [{"label": "IN 1", "type": "Input", "patchbay_id": b1}],
            },
        ),
        201,
    )
    return {
        "bay": bay["id"],
        "points": {"1T": t1, "1B": b1, "2T": t2, "2B": b2},
        "out": synth["ports"][0]["id"],
        "in": mixer["ports"][0]["id"],
        "synth": synth["id"],
    }


# --- Recorded by PostgreSQL ---------------------------------------------------------------------


def test_each_api_write_is_one_entry_with_its_request_id(
    committing_client: Api, studio: dict[str, Any]
) -> None:
    client, points = committing_client, studio["points"]
    response = client.post(
        f"/ports/{studio['out']}/link",
        json={"patchbay_id": points["2T"]},
        headers={"X-Request-ID": "link-1"},
    )
    assert response.status_code == 200
    entry = latest(client)
    assert entry["revision"] == revision(client)
    assert (entry["source"], entry["request_id"], entry["actor"]) == ("api", "link-1", None)
    assert entry["summary"] == "Moved Juno-106 OUT L from Bay A 1T to Bay A 2T"
    [change] = [c for c in entry["changes"] if c["op"] == "update"][-1:]
    assert change["table"] == "ports" and change["key"] == studio["out"]
    assert change["after"]["patchbay_id"] == points["2T"]
    assert entry["changes"][0]["before"]["patchbay_id"] == points["1T"]
    assert ok(client.get(f"/history/{entry['revision']}")) == entry


@pytest.mark.parametrize(
    ("request_args", "summary"),
    [
        (("POST", "/patchbay-points", {"name": "Loose 1"}), "Added point Loose 1"),
        (("POST", "/devices", {"name": "TR-808", "type": "Drums"}), "Added device TR-808"),
        (
            ("POST", "/devices/{synth}/ports", {"label": "OUT R", "type": "output"}),
            "Added port Juno-106 OUT R",
        ),
        (("PATCH", "/devices/{synth}", {"name": "Juno-60"}), "Renamed device Juno-106 to Juno-60"),
        (("DELETE", "/ports/{out}", None), "Removed port Juno-106 OUT L"),
        (("POST", "/ports/{out}/unlink", None), "Unlinked Juno-106 OUT L from Bay A 1T"),
        (
            ("PUT", "/ports/{out}/patchbay", {"patchbay_id": None}),
            "Unlinked Juno-106 OUT L from Bay A 1T",
        ),
        (("DELETE", "/devices/{synth}", None), "Removed device Juno-106 with 1 port"),
        (("PATCH", "/bays/{bay}", {"name": "Drums"}), "Renamed bay Bay A to Drums"),
        (
            ("PATCH", "/bays/{bay}/channels", {"first": 1, "last": 2, "mode": "thru"}),
            "Set Bay A channels 1-2 to thru",
        ),
        (
            ("PUT", "/bays/{bay}/channels/2", {"bottom_point_id": None}),
            # A missing key is null: both slots are emptied.
            "Took Bay A 2B out of Bay A 2B; Took Bay A 2T out of Bay A 2T",
        ),
        (
            ("POST", "/cables", {"points": ["2T", "2B"]}),
            "Plugged a cable between Bay A 2T and Bay A 2B",
        ),
        (
            ("POST", "/bays", {"name": "Bay B", "channels": 3}),
            "Added bay Bay B (3 channels and 6 points)",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]} {value[1]}",
)
def test_each_kind_of_write_is_recorded(
    committing_client: Api, studio: dict[str, Any], request_args: tuple[str, str, Any], summary: str
) -> None:
    method, path, body = request_args
    path = path.format(**studio)
    if isinstance(body, dict) and "points" in body:
        body = {"points": [studio["points"][p] for p in body["points"]]}
    before = revision(committing_client)
    assert committing_client.request(method, path, json=body).status_code in (200, 201)
    entry = latest(committing_client)
    assert entry["revision"] == before + 1
    assert entry["summary"] == summary
    assert entry["source"] == "api"


def test_sql_typed_in_pgadmin_is_recorded(
    committing_client: Api, engine: Engine, studio: dict[str, Any]
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE devices SET name = 'Juno (pgAdmin)' WHERE id = :id"),
            {"id": studio["synth"]},
        )
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('Typed 1'), ('Typed 2')"))
    entry = latest(committing_client)
    assert (entry["source"], entry["request_id"], entry["actor"]) == ("sql", None, None)
    assert (
        entry["summary"]
        == "Renamed device Juno-106 to Juno (pgAdmin); Added point Typed 1; Added point Typed 2"
    )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cable_ends"))
        conn.execute(text("TRUNCATE cables CASCADE"))
    assert latest(committing_client)["source"] == "sql"


def test_sql_after_set_constraints_immediate_is_recorded(
    committing_client: Api, engine: Engine, studio: dict[str, Any]
) -> None:
    """With the deferred triggers made immediate (as some pgAdmin users do), the revision is
    still bumped after the changes are recorded: one entry, no change left without one."""
    with engine.begin() as conn:
        conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('Immediate')"))
    entry = latest(committing_client)
    assert entry["revision"] == revision(committing_client)
    assert entry["summary"] == "Added point Immediate"
    with engine.connect() as conn:
        orphans = conn.scalar(
            text(
                "SELECT count(*) FROM history_changes c WHERE NOT EXISTS "
                "(SELECT 1 FROM history_entries e WHERE e.id = c.entry_id)"
            )
        )
    assert orphans == 0


def test_what_changes_nothing_bumps_nothing(
    committing_client: Api, engine: Engine, studio: dict[str, Any]
) -> None:
    """An UPDATE that leaves its rows as they were, an empty PATCH, a TRUNCATE of an empty
    table: no revision, no entry (every revision has its entry)."""
    client = committing_client
    before, count = revision(client), len(entries(client))
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET name = name"))
        conn.execute(text("TRUNCATE cables CASCADE"))  # the studio has no cables
    ok(client.patch(f"/devices/{studio['synth']}", json={}))
    ok(client.patch(f"/bays/{studio['bay']}", json={"name": "Bay A"}))
    ok(client.patch(f"/ports/{studio['out']}", json={"label": "OUT L"}))
    points = studio["points"]
    slots = {"top_point_id": points["1T"], "bottom_point_id": points["1B"]}
    ok(client.put(f"/bays/{studio['bay']}/channels/1", json=slots))
    ok(client.patch(f"/bays/{studio['bay']}/channels", json={"first": 1, "mode": "half-normal"}))
    assert (revision(client), len(entries(client))) == (before, count)
    ok(client.patch(f"/devices/{studio['synth']}", json={"name": "Juno-60"}))
    assert latest(client)["revision"] == revision(client) == before + 1


def test_a_rolled_back_change_leaves_no_entry(
    committing_client: Api, engine: Engine, studio: dict[str, Any]
) -> None:
    count = len(entries(committing_client))
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('never')"))
        conn.rollback()
    refused = committing_client.post(
        "/devices",
        json={
            "name": "X",
            "type": "Y",
            "ports": [{"label": "A", "type": "Input", "patchbay_id": 999}],
        },
    )
    assert refused.status_code == 404
    assert len(entries(committing_client)) == count


def test_summaries_name_things_deleted_since(
    committing_client: Api, studio: dict[str, Any]
) -> None:
    client = committing_client
    ok(client.post(f"/ports/{studio['out']}/link", json={"patchbay_id": studio["points"]["2T"]}))
    linked = latest(client)
    ok(client.delete(f"/devices/{studio['synth']}"))
    ok(client.delete(f"/ports/{studio['in']}"))
    ok(client.delete(f"/bays/{studio['bay']}"))
    assert ok(client.get(f"/history/{linked['revision']}"))["summary"] == (
        "Moved Juno-106 OUT L from Bay A 1T to Bay A 2T"
    )
    assert latest(client)["summary"] == "Removed bay Bay A (2 channels and 4 points)"


def test_paging(committing_client: Api, studio: dict[str, Any]) -> None:
    every = entries(committing_client)
    revisions = [entry["revision"] for entry in every]
    assert revisions == sorted(revisions, reverse=True)
    first = ok(committing_client.get("/history", params={"limit": 2}))
    assert [e["revision"] for e in first["entries"]] == revisions[:2]
    assert first["next_before"] == revisions[1]
    second = ok(
        committing_client.get("/history", params={"limit": 2, "before": first["next_before"]})
    )
    assert [e["revision"] for e in second["entries"]] == revisions[2:4]
    rest = ok(committing_client.get("/history", params={"limit": 500, "before": revisions[2]}))
    assert rest["next_before"] is None
    assert [e["revision"] for e in rest["entries"]] == revisions[3:]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"limit": "x"}, {"before": 0}, {"before": 2**63}]
)
def test_bad_paging_is_422(committing_client: Api, params: dict[str, Any]) -> None:
    assert committing_client.get("/history", params=params).status_code == 422


def test_unknown_entry_is_404(committing_client: Api) -> None:
    for response in (
        committing_client.get("/history/999999"),
        committing_client.post("/history/999999/revert"),
    ):
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "History entry not found"},
        )
    assert committing_client.get("/history/0").status_code == 422


# --- Revert -------------------------------------------------------------------------------------


def state(client: Api) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/state").json()
    return body


def revert(client: Api, entry: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/history/{entry['revision']}/revert")
    assert response.status_code == 200, response.text
    reverted: dict[str, Any] = shaped(response, Entry)
    assert reverted["summary"].startswith(f"Revert of revision {entry['revision']}: ")
    assert reverted == latest(client)
    return reverted


@pytest.mark.parametrize(
    "write",
    [
        "link",
        "take-over",
        "bulk-link",
        "delete-device",
        "cable",
        "mode",
        "scene-apply",
        "delete-bay",
    ],
)
def test_revert_puts_back_what_a_write_changed(
    committing_client: Api, studio: dict[str, Any], write: str
) -> None:
    client, points = committing_client, studio["points"]
    before = state(client)
    if write == "link":
        ok(client.post(f"/ports/{studio['out']}/link", json={"patchbay_id": points["2T"]}))
    elif write == "take-over":
        ok(client.post(f"/ports/{studio['out']}/link", json={"patchbay_id": points["1B"]}))
    elif write == "bulk-link":
        links = [
            {"port_id": studio["out"], "patchbay_id": points["1B"]},
            {"port_id": studio["in"], "patchbay_id": points["1T"]},
        ]
        ok(client.post("/ports/bulk-link", json={"links": links}))
    elif write == "delete-device":
        ok(client.delete(f"/devices/{studio['synth']}"))
    elif write == "cable":
        ok(
            client.post("/cables", json={"points": [points["2T"], points["2B"]], "color": "red"}),
            201,
        )
    elif write == "mode":
        ok(client.patch(f"/bays/{studio['bay']}/channels", json={"first": 1, "mode": "parallel"}))
    elif write == "delete-bay":
        ok(client.delete(f"/ports/{studio['out']}"))
        ok(client.delete(f"/ports/{studio['in']}"))
        before = state(client)
        ok(client.delete(f"/bays/{studio['bay']}"))
    else:
        scene = ok(client.post("/scenes", json={"name": "Other"}), 201)
        ok(client.post(f"/ports/{studio['out']}/unlink"))
        ok(client.post("/cables", json={"points": [points["2T"], points["2B"]]}), 201)
        before = state(client)
        ok(client.post(f"/scenes/{scene['id']}/apply"))
    assert state(client) != before
    revert(client, latest(client))
    assert state(client) == before


def test_a_reverted_device_comes_back_with_its_ids_and_points(
    committing_client: Api, studio: dict[str, Any]
) -> None:
    client = committing_client
    device = ok(client.get(f"/devices/{studio['synth']}"))
    ok(client.delete(f"/devices/{studio['synth']}"))
    revert(client, latest(client))
    assert ok(client.get(f"/devices/{studio['synth']}")) == device
    # Its ports are numbered on from where they were.
    added = ok(
        client.post(f"/devices/{studio['synth']}/ports", json={"label": "X", "type": "Other"}), 201
    )
    assert added["id"] == f"dev-{studio['synth']}-port-2"


def test_a_later_change_conflicts(committing_client: Api, studio: dict[str, Any]) -> None:
    client, points = committing_client, studio["points"]
    ok(client.post(f"/ports/{studio['out']}/link", json={"patchbay_id": points["2T"]}))
    moved = latest(client)
    ok(client.patch(f"/ports/{studio['out']}", json={"label": "OUT LEFT"}))
    before = state(client)
    response = client.post(f"/history/{moved['revision']}/revert")
    assert response.status_code == 409
    body = response.json()
    assert body["detail"] == "Later changes conflict with this revert"
    [conflict] = body["conflicts"]
    assert (conflict["table"], conflict["key"]) == ("ports", studio["out"])
    assert conflict["now"]["label"] == "OUT LEFT"
    assert state(client) == before


def test_a_bay_with_a_point_added_since_is_not_reverted_away(
    committing_client: Api, engine: Engine
) -> None:
    """Undoing a bay's creation would delete, with the bay, a point put into it later: 409,
    naming that point, and nothing changes."""
    client = committing_client
    bay = ok(
        client.post("/bays", json={"name": "Bay N", "channels": 1, "create_points": False}), 201
    )
    made = latest(client)
    point = ok(client.post("/patchbay-points", json={"name": "Later"}), 201)
    ok(client.put(f"/bays/{bay['id']}/channels/1", json={"top_point_id": point["id"]}))
    before = state(client)
    response = client.post(f"/history/{made['revision']}/revert")
    assert response.status_code == 409, response.text
    [conflict] = response.json()["conflicts"]
    assert (conflict["table"], conflict["key"], conflict["expected"]) == (
        "patchbay_points",
        point["id"],
        None,
    )
    assert conflict["now"]["name"] == "Later"
    assert state(client) == before


def test_a_device_with_a_port_added_since_is_not_reverted_away(committing_client: Api) -> None:
    client = committing_client
    device = ok(client.post("/devices", json={"name": "New", "type": "Synth", "ports": []}), 201)
    made = latest(client)
    ok(client.post(f"/devices/{device['id']}/ports", json={"label": "A", "type": "Input"}), 201)
    response = client.post(f"/history/{made['revision']}/revert")
    assert response.status_code == 409, response.text
    # The new port would go with the device (its port number alone would not stand in the way).
    [conflict] = response.json()["conflicts"]
    assert (conflict["table"], conflict["reason"]) == ("ports", ADDED)
    assert conflict["key"] == f"dev-{device['id']}-port-1"
    assert ok(client.get(f"/devices/{device['id']}"))["ports"]


def test_a_reverted_port_addition_never_gives_its_id_again(
    committing_client: Api, studio: dict[str, Any]
) -> None:
    client, url = committing_client, f"/devices/{studio['synth']}/ports"
    added = ok(client.post(url, json={"label": "X", "type": "Other"}), 201)
    adding = latest(client)
    # A port added since changes the device's highest number, which a revert keeps anyway:
    # no conflict.
    later = ok(client.post(url, json={"label": "Y", "type": "Other"}), 201)
    revert(client, adding)
    again = ok(client.post(url, json={"label": "Z", "type": "Other"}), 201)
    prefix = f"dev-{studio['synth']}-port-"
    assert (added["id"], later["id"], again["id"]) == (prefix + "2", prefix + "3", prefix + "4")
    ports = ok(client.get(f"/devices/{studio['synth']}"))["ports"]
    assert [port["id"] for port in ports] == [prefix + "1", prefix + "3", prefix + "4"]


def test_a_point_taken_since_conflicts(committing_client: Api, studio: dict[str, Any]) -> None:
    client, points = committing_client, studio["points"]
    ok(client.post(f"/ports/{studio['out']}/link", json={"patchbay_id": points["2T"]}))
    moved = latest(client)
    # Another port takes the point OUT L would go back to; OUT L itself is untouched.
    ok(client.post(f"/ports/{studio['in']}/link", json={"patchbay_id": points["1T"]}))
    before = state(client)
    response = client.post(f"/history/{moved['revision']}/revert")
    assert response.status_code == 409, response.text
    body = shaped(response, RevertRefused)
    assert body["detail"] == "Later changes conflict with this revert"
    [conflict] = body["conflicts"]
    assert conflict["table"] == "ports" and conflict["reason"].startswith("a later change")
    assert state(client) == before


def test_reverting_a_revert_redoes_it(committing_client: Api, studio: dict[str, Any]) -> None:
    client = committing_client
    ok(client.post(f"/ports/{studio['out']}/link", json={"patchbay_id": studio["points"]["2T"]}))
    linked = state(client)
    undone = revert(client, latest(client))
    redone = revert(client, undone)
    assert redone["summary"].startswith(f"Revert of revision {undone['revision']}: ")
    assert state(client) == linked


def test_named_keys_are_recorded_as_actors_and_never_shown(
    database_url: str, engine: Engine
) -> None:
    empty_tables(engine)
    app: FastAPI = create_app(settings(database_url, api_keys={"alice": "alice-s3cret"}))
    log = LogCapture()
    try:
        with TestClient(app) as client:
            headers = {"X-API-Key": "alice-s3cret"}
            assert (
                client.post("/patchbay-points", json={"name": "A1"}, headers=headers).status_code
                == 201
            )
            page = client.get("/history", headers=headers)
        [entry] = page.json()["entries"]
        assert entry["actor"] == "alice"
        assert "alice-s3cret" not in page.text
        assert "alice-s3cret" not in log.text()
    finally:
        empty_tables(engine)


def test_concurrent_writes_each_get_their_own_entry(live: list[str], engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patchbay_points (id, name) SELECT n, 'P' || n FROM generate_series(1, 20) n"
            )
        )
    sent: list[str] = []

    def create(base: str, n: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            request_id = f"write-{n}"
            response = client.post(
                "/patchbay-points", json={"name": f"N{n}"}, headers={"X-Request-ID": request_id}
            )
            assert response.status_code == 201
            sent.append(request_id)

    threads = [threading.Thread(target=create, args=(live[n % 2], n)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.revision, e.request_id, c.after->>'name' FROM history_entries e "
                "JOIN history_changes c ON c.entry_id = e.id WHERE e.source = 'api'"
            )
        ).all()
        current = conn.scalar(text("SELECT revision FROM state_revision"))
    assert sorted(request_id for _, request_id, _ in rows) == sorted(sent)
    # One entry per request, each with its own revision, the last being the current one.
    assert len({revision for revision, _, _ in rows}) == 20
    assert max(revision for revision, _, _ in rows) == current
    assert all(name == f"N{request_id.split('-')[1]}" for _, request_id, name in rows)


# --- Retention ----------------------------------------------------------------------------------


@pytest.fixture
def aged(committing_client: Api, engine: Engine) -> Iterator[list[int]]:
    """Three entries, two of them made to look 100 days old."""
    for name in ("old 1", "old 2", "new"):
        ok(committing_client.post("/patchbay-points", json={"name": name}), 201)
    revisions = [e["revision"] for e in entries(committing_client)]
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE history_entries SET at = now() - interval '100 days' WHERE revision <> :r"
            ),
            {"r": max(revisions)},
        )
    yield revisions


def test_old_entries_are_pruned(committing_client: Api, engine: Engine, aged: list[int]) -> None:
    app = committing_client.app
    removed = prune(app.state.database, days=90)  # type: ignore[union-attr]
    assert removed == 2
    assert [e["revision"] for e in entries(committing_client)] == [max(aged)]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM history_changes")) == 1
    # Within the retention, nothing goes.
    assert prune(app.state.database, days=90) == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("request_args", "summary"),
    [
        (
            ("PATCH", "/ports/{out}", {"label": "OUT LEFT"}),
            "Renamed port Juno-106 OUT L to OUT LEFT",
        ),
        (
            ("PATCH", "/ports/{out}", {"type": "Other"}),
            "Changed the type of port Juno-106 OUT L to Other",
        ),
        (
            ("PATCH", "/devices/{synth}", {"name": "Juno-60", "type": "Keys"}),
            "Renamed device Juno-106 to Juno-60; Changed the type of device Juno-60 to Keys",
        ),
        (("PATCH", "/patchbay-points/{1T}", {"name": "A1"}), "Renamed point Bay A 1T to A1"),
        (("PATCH", "/patchbay-points/{2T}", {"description": "spare"}), "Changed point Bay A 2T"),
        (("DELETE", "/patchbay-points/{loose}", None), "Removed point Loose"),
        (
            ("PATCH", "/cables/{cable}", {"label": "+4 dBu", "color": "red"}),
            'Changed the cable between Bay A 2T and Bay A 2B: label to "+4 dBu" and color to "red"',
        ),
        (("DELETE", "/cables/{cable}", None), "Unplugged the cable between Bay A 2T and Bay A 2B"),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]} {value[1]} {value[2]}",
)
def test_each_kind_of_change_reads_as_it_was_and_has_its_writes_revision(
    committing_client: Api, studio: dict[str, Any], request_args: tuple[str, str, Any], summary: str
) -> None:
    """Renames, type changes, points and cables: each summary names things as they were, and
    the entry's revision is the one in the ETag right after its write."""
    client, points = committing_client, studio["points"]
    cable = ok(client.post("/cables", json={"points": [points["2T"], points["2B"]]}), 201)
    loose = ok(client.post("/patchbay-points", json={"name": "Loose"}), 201)
    method, path, body = request_args
    path = path.format(cable=cable["id"], loose=loose["id"], **studio, **points)
    assert client.request(method, path, json=body).status_code == 200
    etag = client.get("/state").headers["etag"]
    entry = latest(client)
    assert f'W/"{entry["revision"]}"' == etag
    assert entry["summary"] == summary


def test_the_app_prunes_by_history_retention_days(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HISTORY_RETENTION_DAYS reaches the background task the app starts with: entries older
    than it go, newer ones stay, while requests are served."""
    import app.services.history as history

    empty_tables(engine)
    monkeypatch.setattr(history, "PRUNE_FIRST_AFTER_SECONDS", 0.2)
    app = create_app(settings(database_url, history_retention_days=10))
    with TestClient(app) as client:
        for name in ("twenty days old", "five days old"):
            assert client.post("/patchbay-points", json={"name": name}).status_code == 201
        with engine.begin() as conn:
            for name, days in (("twenty days old", 20), ("five days old", 5)):
                conn.execute(
                    text(
                        "UPDATE history_entries e SET at = now() - make_interval(days => :d) "
                        "FROM history_changes c WHERE c.entry_id = e.id "
                        "AND c.after->>'name' = :name"
                    ),
                    {"d": days, "name": name},
                )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = [e["summary"] for e in entries(client)]
            if "Added point twenty days old" not in left:
                break
            time.sleep(0.1)
        assert "Added point twenty days old" not in left
        assert "Added point five days old" in left
    empty_tables(engine)
