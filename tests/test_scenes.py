"""Scenes (SPEC D4): save the patch, the patch sheet, recall it in one step."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.schemas.scene import Applied, PatchSheet, SceneRead, SceneSummary
from tests.helpers import Db, add_points, make_device, shaped

NOTHING_MISSING = {"ports": [], "points": [], "bays": []}


@pytest.fixture
def studio(client: TestClient, db: Db) -> dict[str, Any]:
    """Bay A (4 channels, points 1T..4B), two loose points, a synth with two outputs and a
    mixer with one input, some linked, one cable."""
    bay = client.post("/bays", json={"name": "Bay A", "channels": 4}).json()
    jacks = {
        f"{n}{row}": channel[f"{'top' if row == 'T' else 'bottom'}_point_id"]
        for n, channel in enumerate(bay["channels"], start=1)
        for row in "TB"
    }
    loose = add_points(db, 2, prefix="Loose ")
    synth = make_device(
        client,
        name="Juno",
        ports=[
            {"label": "OUT L", "type": "Output", "patchbay_id": jacks["1T"]},
            {"label": "OUT R", "type": "Output", "patchbay_id": jacks["2T"]},
        ],
    )
    mixer = make_device(
        client, name="Desk", ports=[{"label": "IN 1", "type": "Input", "patchbay_id": jacks["1B"]}]
    )
    cable = client.post(
        "/cables", json={"points": [jacks["3T"], jacks["4B"]], "label": "FX"}
    ).json()
    return {
        "bay": bay["id"],
        "jacks": jacks,
        "loose": loose,
        "out_l": synth["ports"][0]["id"],
        "out_r": synth["ports"][1]["id"],
        "in_1": mixer["ports"][0]["id"],
        "cable": cable["id"],
    }


def save(client: TestClient, name: str = "Tracking") -> dict[str, Any]:
    response = client.post("/scenes", json={"name": name})
    assert response.status_code == 201, response.text
    scene: dict[str, Any] = shaped(response, SceneRead)
    return scene


def sheet(client: TestClient, scene: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/scenes/{scene['id']}/diff")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = shaped(response, PatchSheet)
    return body


def actions(client: TestClient, scene: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The sheet's steps without their sentences."""
    return [
        tuple(value for key, value in step.items() if key != "text")
        for step in sheet(client, scene)["steps"]
    ]


def apply(client: TestClient, scene: dict[str, Any], **params: Any) -> Any:
    return client.post(f"/scenes/{scene['id']}/apply", params=params)


def test_a_scene_holds_the_whole_patch(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    jacks = studio["jacks"]
    assert scene["name"] == "Tracking" and scene["description"] == ""
    assert scene["links"] == [
        {"port_id": studio["out_l"], "patchbay_id": jacks["1T"]},
        {"port_id": studio["out_r"], "patchbay_id": jacks["2T"]},
        {"port_id": studio["in_1"], "patchbay_id": jacks["1B"]},
    ]
    assert scene["cables"] == [{"points": [jacks["3T"], jacks["4B"]], "label": "FX", "color": None}]
    assert scene["modes"] == [
        {"bay_id": studio["bay"], "channel": n, "mode": "half-normal"} for n in (1, 2, 3, 4)
    ]
    assert client.get(f"/scenes/{scene['id']}").json() == scene
    listed = client.get("/scenes")
    assert shaped(listed, list[SceneSummary]) == [
        {
            **{
                key: scene[key] for key in ("id", "name", "description", "created_at", "updated_at")
            },
            "counts": {"links": 3, "cables": 1, "modes": 4},
        }
    ]
    # The studio as it is matches it.
    assert sheet(client, scene) == {
        "revision": sheet(client, scene)["revision"],
        "steps": [],
        "missing": NOTHING_MISSING,
        "findings": [],
    }


def test_recapture_rename_and_delete(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    client.post(f"/ports/{studio['out_r']}/unlink")
    again = client.post(f"/scenes/{scene['id']}/capture")
    assert again.status_code == 200
    captured = shaped(again, SceneRead)
    assert captured["links"][1] == {"port_id": studio["out_r"], "patchbay_id": None}
    assert captured["created_at"] == scene["created_at"]
    assert captured["updated_at"] >= scene["updated_at"]
    renamed = client.patch(f"/scenes/{scene['id']}", json={"name": "Mixing", "description": "Tue"})
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Mixing", "Tue")
    save(client, "Other")
    taken = client.patch(f"/scenes/{scene['id']}", json={"name": "Other"})
    assert (taken.status_code, taken.json()) == (409, {"detail": "Scene name already used"})
    duplicate = client.post("/scenes", json={"name": "Other"})
    assert (duplicate.status_code, duplicate.json()) == (409, {"detail": "Scene name already used"})
    deleted = client.delete(f"/scenes/{scene['id']}")
    assert deleted.status_code == 200 and deleted.json()["name"] == "Mixing"
    assert [s["name"] for s in client.get("/scenes").json()] == ["Other"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/capture"),
        ("GET", "/diff"),
        ("POST", "/apply"),
    ],
)
def test_unknown_scene_is_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(
        method, f"/scenes/999999{path}", json={} if method == "PATCH" else None
    )
    assert (response.status_code, response.json()) == (404, {"detail": "Scene not found"})


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "A", "description": "d" * 2001},
        {"name": "A", "links": []},
    ],
)
def test_bad_scenes_are_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/scenes", json=body).status_code == 422
    assert client.get("/scenes").json() == []


def test_scenes_change_no_revision(committing_client: TestClient) -> None:
    etag = committing_client.get("/state").headers["etag"]
    scene = committing_client.post("/scenes", json={"name": "A"}).json()
    committing_client.post(f"/scenes/{scene['id']}/capture")
    committing_client.patch(f"/scenes/{scene['id']}", json={"name": "B"})
    committing_client.delete(f"/scenes/{scene['id']}")
    assert committing_client.get("/state", headers={"If-None-Match": etag}).status_code == 304


# --- The patch sheet, step by step ------------------------------------------------------------


def test_unplug_a_cable_the_scene_does_not_have(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    a, b = studio["loose"]
    extra = client.post("/cables", json={"points": [a, b]}).json()
    [step] = sheet(client, scene)["steps"]
    assert step == {
        "action": "unplug",
        "cable_id": extra["id"],
        "points": [a, b],
        "text": "Unplug the cable between Loose 1 and Loose 2",
    }


def test_plug_a_cable_the_scene_has(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    jacks = studio["jacks"]
    client.delete(f"/cables/{studio['cable']}")
    [step] = sheet(client, scene)["steps"]
    assert step == {
        "action": "plug",
        "points": [jacks["3T"], jacks["4B"]],
        "label": "FX",
        "color": None,
        "text": 'Plug a cable between Bay A 3T and Bay A 4B ("FX")',
    }


def test_a_cable_matches_in_either_order(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    jacks = studio["jacks"]
    client.delete(f"/cables/{studio['cable']}")
    client.post("/cables", json={"points": [jacks["4B"], jacks["3T"]], "label": "FX"})
    assert sheet(client, scene)["steps"] == []


def test_relabel_when_only_label_or_color_differ(
    client: TestClient, studio: dict[str, Any]
) -> None:
    scene = save(client)
    client.patch(f"/cables/{studio['cable']}", json={"label": "Reverb", "color": "blue"})
    [step] = sheet(client, scene)["steps"]
    assert step == {
        "action": "relabel",
        "cable_id": studio["cable"],
        "label": "FX",
        "color": None,
        "text": 'Relabel the cable between Bay A 3T and Bay A 4B ("FX")',
    }


def test_unlink_and_link(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    jacks, out_l, out_r = studio["jacks"], studio["out_l"], studio["out_r"]
    # OUT R takes 1T from OUT L; OUT L goes nowhere.
    client.post(f"/ports/{out_r}/link", json={"patchbay_id": jacks["1T"]})
    assert sheet(client, scene)["steps"] == [
        {
            "action": "unlink",
            "port_id": out_r,
            "patchbay_id": jacks["1T"],
            "text": "Unlink Juno OUT R from Bay A 1T",
        },
        {
            "action": "link",
            "port_id": out_l,
            "patchbay_id": jacks["1T"],
            "text": "Link Juno OUT L to Bay A 1T",
        },
        {
            "action": "link",
            "port_id": out_r,
            "patchbay_id": jacks["2T"],
            "text": "Link Juno OUT R to Bay A 2T",
        },
    ]


def test_a_port_made_since_is_unlinked_from_a_point_the_scene_gives_away(
    client: TestClient, studio: dict[str, Any]
) -> None:
    jacks = studio["jacks"]
    client.post(f"/ports/{studio['out_r']}/unlink")
    scene = save(client)
    # A new device takes 2T, which the scene leaves free: it stays.
    newer = make_device(
        client, name="TR-8", ports=[{"label": "MIX", "type": "Output", "patchbay_id": jacks["2T"]}]
    )
    assert sheet(client, scene)["steps"] == []
    # It takes 1T, which the scene gives to OUT L: it is unlinked first.
    client.post(f"/ports/{newer['ports'][0]['id']}/link", json={"patchbay_id": jacks["1T"]})
    assert actions(client, scene) == [
        ("unlink", newer["ports"][0]["id"], jacks["1T"]),
        ("link", studio["out_l"], jacks["1T"]),
    ]


def test_set_mode(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    client.patch(f"/bays/{studio['bay']}/channels", json={"first": 2, "last": 3, "mode": "thru"})
    assert sheet(client, scene)["steps"] == [
        {
            "action": "set-mode",
            "bay_id": studio["bay"],
            "channel": n,
            "mode": "half-normal",
            "text": f"Set Bay A channel {n} to half-normal",
        }
        for n in (2, 3)
    ]


def test_every_kind_of_step_in_the_order_a_person_works(
    client: TestClient, studio: dict[str, Any]
) -> None:
    jacks, (a, b) = studio["jacks"], studio["loose"]
    scene = save(client)
    client.delete(f"/cables/{studio['cable']}")  # -> plug
    extra = client.post("/cables", json={"points": [a, b]}).json()  # -> unplug
    client.post(
        f"/ports/{studio['in_1']}/link", json={"patchbay_id": jacks["4T"]}
    )  # -> unlink, link
    client.patch(
        f"/bays/{studio['bay']}/channels", json={"first": 1, "mode": "normal"}
    )  # -> set-mode
    assert actions(client, scene) == [
        ("unplug", extra["id"], [a, b]),
        ("unlink", studio["in_1"], jacks["4T"]),
        ("set-mode", studio["bay"], 1, "half-normal"),
        ("link", studio["in_1"], jacks["1B"]),
        ("plug", [jacks["3T"], jacks["4B"]], "FX", None),
    ]
    # The same studio and scene give the same sheet.
    assert sheet(client, scene)["steps"] == sheet(client, scene)["steps"]
    response = apply(client, scene)
    assert response.status_code == 200
    applied = shaped(response, Applied)
    assert [step["action"] for step in applied["steps"]] == [
        "unplug",
        "unlink",
        "set-mode",
        "link",
        "plug",
    ]
    assert sheet(client, scene)["steps"] == []


def test_missing_items_get_no_step(client: TestClient, db: Db, studio: dict[str, Any]) -> None:
    jacks = studio["jacks"]
    scene = save(client)
    client.delete(f"/cables/{studio['cable']}")
    client.delete(f"/ports/{studio['out_r']}")  # a port the scene names
    client.post(f"/ports/{studio['in_1']}/unlink")
    client.delete(f"/patchbay-points/{jacks['1B']}")  # the point IN 1 should go back to
    client.delete(f"/patchbay-points/{jacks['3T']}")  # one end of the scene's cable
    other = client.post("/bays", json={"name": "Bay B", "channels": 1}).json()
    client.post("/scenes", json={"name": "with bay B"})
    with_b = client.get("/scenes").json()[1]
    client.delete(f"/bays/{other['id']}")
    body = sheet(client, scene)
    assert body["steps"] == []
    assert body["missing"] == {
        "ports": [studio["out_r"]],
        "points": sorted([jacks["1B"], jacks["3T"]]),
        "bays": [],
    }
    assert sheet(client, with_b)["missing"]["bays"] == [other["id"]]
    refused = apply(client, scene)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "Scene refers to missing items"
    skipped = apply(client, scene, skip_missing="true")
    assert skipped.status_code == 200
    assert skipped.json()["steps"] == []


def test_apply_with_if_match(client: TestClient, studio: dict[str, Any]) -> None:
    scene = save(client)
    client.post(f"/ports/{studio['out_l']}/unlink")
    revision = sheet(client, scene)["revision"]
    headers = {"If-Match": f'W/"{revision}"'}
    # Someone changed something since the sheet was read (checked before anything else).
    stale = client.post(f"/scenes/{scene['id']}/apply", headers={"If-Match": f'W/"{revision - 1}"'})
    assert (stale.status_code, stale.json()) == (412, {"detail": "State changed since the diff"})
    assert client.get(f"/ports/{studio['out_l']}").json()["patchbay_id"] is None
    for header in ("garbage", '"0"'):
        assert (
            client.post(f"/scenes/{scene['id']}/apply", headers={"If-Match": header}).status_code
            == 412
        )
    done = client.post(f"/scenes/{scene['id']}/apply", headers=headers)
    assert done.status_code == 200, done.text
    assert client.get(f"/ports/{studio['out_l']}").json()["patchbay_id"] == studio["jacks"]["1T"]
    # Without If-Match it applies whatever the revision.
    client.post(f"/ports/{studio['out_l']}/unlink")
    assert apply(client, scene).status_code == 200
    assert sheet(client, scene)["steps"] == []


def test_apply_is_one_revision_and_one_event(committing_client: TestClient, engine: Engine) -> None:
    client = committing_client
    bay = client.post("/bays", json={"name": "Bay A", "channels": 4}).json()
    point_ids = [c["top_point_id"] for c in bay["channels"]]
    device = client.post(
        "/devices",
        json={
            "name": "Juno",
            "type": "Synth",
            "ports": [
                {"label": f"O{n}", "type": "Output", "patchbay_id": p}
                for n, p in enumerate(point_ids)
            ],
        },
    ).json()
    scene = client.post("/scenes", json={"name": "A"}).json()
    for port in device["ports"]:
        client.post(f"/ports/{port['id']}/unlink")
    client.patch(f"/bays/{bay['id']}/channels", json={"first": 1, "last": 4, "mode": "thru"})
    before = client.get(f"/scenes/{scene['id']}/diff").json()
    assert len(before["steps"]) == 8
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN pepper_state")
        applied = client.post(
            f"/scenes/{scene['id']}/apply", headers={"If-Match": f'W/"{before["revision"]}"'}
        ).json()
        # Every NOTIFY of the apply's transaction, and a second for any that came after.
        heard = [n.payload for n in listener.notifies(timeout=1.0)]
    assert applied["revision"] == before["revision"] + 1
    assert heard == [str(applied["revision"])]
    assert client.get("/state").headers["etag"] == f'W/"{applied["revision"]}"'


@contextmanager
def refusing_new_cables(engine: Engine) -> Iterator[None]:
    """A trigger that refuses new cables, so that an apply fails after its first steps."""
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                CREATE FUNCTION test_no_new_cables() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'no new cables' USING ERRCODE = 'raise_exception'; END $$;
                CREATE TRIGGER test_no_new_cables BEFORE INSERT ON cables
                    FOR EACH ROW EXECUTE FUNCTION test_no_new_cables();
                """
            )
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_no_new_cables ON cables"))
            conn.execute(text("DROP FUNCTION test_no_new_cables()"))


def test_an_apply_that_fails_half_way_changes_nothing(
    committing_client: TestClient, engine: Engine
) -> None:
    client = committing_client
    bay = client.post("/bays", json={"name": "Bay A", "channels": 2}).json()
    (t1, b1), (t2, b2) = ((c["top_point_id"], c["bottom_point_id"]) for c in bay["channels"])
    device = client.post(
        "/devices",
        json={
            "name": "Juno",
            "type": "Synth",
            "ports": [{"label": "OUT", "type": "Output", "patchbay_id": t1}],
        },
    ).json()
    client.post("/cables", json={"points": [b1, t2]})
    scene = client.post("/scenes", json={"name": "A"}).json()
    client.delete("/cables/1")
    client.post("/cables", json={"points": [b2, t2]})
    client.post(f"/ports/{device['ports'][0]['id']}/link", json={"patchbay_id": b1})
    client.patch(f"/bays/{bay['id']}/channels", json={"first": 1, "mode": "thru"})
    state = client.get("/state")
    sheet_before = client.get(f"/scenes/{scene['id']}/diff").json()
    # Unplug, unlink, set-mode and link run; the plug step fails.
    with refusing_new_cables(engine):
        failed = client.post(f"/scenes/{scene['id']}/apply")
    assert failed.status_code == 500
    after = client.get("/state")
    assert (after.headers["etag"], after.json()) == (state.headers["etag"], state.json())
    assert client.get(f"/scenes/{scene['id']}/diff").json() == sheet_before


# --- Patch safety (SPEC E3) --------------------------------------------------------------------
@pytest.fixture
def risky_scene(client: TestClient, db: Db) -> dict[str, Any]:
    """A scene with a ribbon mic patched into a phantom-powered input, and the studio without
    that cable."""
    bay = client.post("/bays", json={"name": "Bay A", "channels": 2, "mode": "thru"}).json()
    top, bottom = bay["channels"][0]["top_point_id"], bay["channels"][1]["bottom_point_id"]
    ribbon = make_device(
        client, name="Ribbon mic", ports=[{"label": "OUT", "type": "Output", "patchbay_id": top}]
    )["ports"][0]["id"]
    preamp = make_device(
        client, name="Desk", ports=[{"label": "MIC 3", "type": "Input", "patchbay_id": bottom}]
    )["ports"][0]["id"]
    client.patch(f"/ports/{ribbon}/electrical", json={"phantom_safe": False})
    client.patch(f"/ports/{preamp}/electrical", json={"phantom": True})
    cable = client.post("/cables", json={"points": [top, bottom]}).json()
    scene = save(client, "Ribbon on the preamp")
    client.delete(f"/cables/{cable['id']}")
    danger = {
        "check": "phantom",
        "severity": "danger",
        "port_ids": [ribbon, preamp],
        "point_ids": sorted([top, bottom]),
        "text": "+48 V from Desk MIC 3 reaches Ribbon mic OUT through Bay A 1T",
    }
    return {"scene": scene, "danger": danger, "cable": cable}


def test_the_diff_shows_the_findings_after_the_apply(
    client: TestClient, risky_scene: dict[str, Any]
) -> None:
    body = sheet(client, risky_scene["scene"])
    assert [step["action"] for step in body["steps"]] == ["plug"]
    assert body["findings"] == [risky_scene["danger"]]
    assert client.get("/checks").json()["findings"] == []


def test_an_apply_that_would_put_equipment_at_risk_is_refused(
    client: TestClient, db: Db, risky_scene: dict[str, Any]
) -> None:
    state = client.get("/state").json()
    refused = apply(client, risky_scene["scene"])
    assert (refused.status_code, refused.json()) == (
        409,
        {"detail": "Scene would put equipment at risk", "findings": [risky_scene["danger"]]},
    )
    assert client.get("/state").json() == state
    accepted = apply(client, risky_scene["scene"], accept_risk="true")
    assert accepted.status_code == 200, accepted.text
    assert client.get("/cables").json()[0]["points"] == risky_scene["cable"]["points"]
    assert client.get("/checks").json()["findings"] == [risky_scene["danger"]]


def test_a_danger_there_already_does_not_refuse_the_apply(
    client: TestClient, risky_scene: dict[str, Any]
) -> None:
    client.post("/cables", json={"points": risky_scene["cable"]["points"], "label": "again"})
    # The scene's sheet only relabels the cable: the danger is there before and after.
    assert sheet(client, risky_scene["scene"])["findings"] == [risky_scene["danger"]]
    assert apply(client, risky_scene["scene"]).status_code == 200


def test_a_port_the_scene_links_back_is_judged_where_it_goes(
    client: TestClient, risky_scene: dict[str, Any]
) -> None:
    """The ribbon mic unplugged from the bay at the rear instead: the scene links it back."""
    ribbon = risky_scene["danger"]["port_ids"][0]
    client.post("/cables", json={"points": risky_scene["cable"]["points"]})
    client.post(f"/ports/{ribbon}/unlink")
    assert client.get("/checks").json()["findings"] == []
    body = sheet(client, risky_scene["scene"])
    assert [step["action"] for step in body["steps"]] == ["link"]
    assert body["findings"] == [risky_scene["danger"]]
    assert apply(client, risky_scene["scene"]).status_code == 409
