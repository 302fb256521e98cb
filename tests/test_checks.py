"""Patch safety (SPEC E2, E3): the six checks on the nets of D3, GET /checks and its ETag, and
the preview of steps before they are taken."""

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.schemas.checks import Checks, Preview
from tests.helpers import Db, add_points, count, make_device, shaped

WAYS = ("normal", "cable", "parallel")
_names = itertools.count(1)


def joined_points(client: TestClient, db: Db, way: str) -> tuple[int, int, list[int]]:
    """Two points joined through a made normal, a cable or a parallel channel (with a cable
    into each jack): the first, the second, and their whole net."""
    if way == "cable":
        a, b = add_points(db, 2, prefix=f"Loose {next(_names)}.")
        assert client.post("/cables", json={"points": [a, b]}).status_code == 201
        return a, b, sorted([a, b])
    mode = "half-normal" if way == "normal" else "parallel"
    bay = client.post("/bays", json={"name": f"Bay {next(_names)}", "channels": 1, "mode": mode})
    channel = bay.json()["channels"][0]
    top, bottom = channel["top_point_id"], channel["bottom_point_id"]
    if way == "normal":
        return top, bottom, [top, bottom]
    a, b = add_points(db, 2, prefix=f"Loose {next(_names)}.")
    for cable in ([a, top], [bottom, b]):
        assert client.post("/cables", json={"points": cable}).status_code == 201
    return a, b, sorted([a, top, bottom, b])


def port(client: TestClient, device: str, label: str, kind: str, point: int | None) -> str:
    body = make_device(
        client, name=device, ports=[{"label": label, "type": kind, "patchbay_id": point}]
    )
    port_id: str = body["ports"][0]["id"]
    return port_id


def say(client: TestClient, port_id: str, **values: Any) -> None:
    response = client.patch(f"/ports/{port_id}/electrical", json=values)
    assert response.status_code == 200, response.text


def findings(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/checks")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = shaped(response, Checks)
    return body["findings"]


def name_of(db: Db, point: int) -> str:
    name: str = db.scalar("SELECT name FROM patchbay_points WHERE id = %(p)s", {"p": point})
    return name


@pytest.mark.parametrize("way", WAYS)
def test_phantom_power_reaching_a_ribbon_mic(client: TestClient, db: Db, way: str) -> None:
    mic_point, desk_point, net = joined_points(client, db, way)
    ribbon = port(client, "Ribbon mic", "OUT", "Output", mic_point)
    preamp = port(client, "Desk", "MIC 3", "Input", desk_point)
    say(client, ribbon, level="mic", phantom_safe=False)
    assert findings(client) == []
    say(client, preamp, level="mic", phantom=True)
    assert findings(client) == [
        {
            "check": "phantom",
            "severity": "danger",
            "port_ids": [ribbon, preamp],
            "point_ids": net,
            "text": f"+48 V from Desk MIC 3 reaches Ribbon mic OUT through {name_of(db, mic_point)}",
        }
    ]


@pytest.mark.parametrize("way", WAYS)
def test_a_speaker_output_into_a_line_input(client: TestClient, db: Db, way: str) -> None:
    amp_point, desk_point, net = joined_points(client, db, way)
    amp = port(client, "Amp", "SPEAKER L", "Output", amp_point)
    desk = port(client, "Desk", "CH 1", "Input", desk_point)
    say(client, amp, level="speaker")
    assert findings(client) == []  # the input's level is unknown
    say(client, desk, level="speaker")
    assert findings(client) == []  # a speaker input (a dummy load) takes it
    say(client, desk, level="line")
    assert findings(client) == [
        {
            "check": "speaker",
            "severity": "danger",
            "port_ids": [amp, desk],
            "point_ids": net,
            "text": f"Speaker output Amp SPEAKER L feeds Desk CH 1 (line level) through "
            f"{name_of(db, desk_point)}",
        }
    ]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("source", "target", "wrong"),
    [
        ("line", "mic", True),
        ("instrument", "mic", True),
        ("headphone", "mic", True),
        ("mic", "line", True),
        ("mic", "mic", False),
        ("line", "line", False),
        ("digital", "mic", False),
        ("mic", "instrument", False),
        (None, "mic", False),
        ("line", None, False),
    ],
)
def test_levels_that_do_not_match(
    client: TestClient, db: Db, way: str, source: str | None, target: str | None, wrong: bool
) -> None:
    out_point, in_point, net = joined_points(client, db, way)
    synth = port(client, "Synth", "OUT", "Output", out_point)
    desk = port(client, "Desk", "IN", "Input", in_point)
    say(client, synth, level=source)
    say(client, desk, level=target)
    expected = [
        {
            "check": "level",
            "severity": "warning",
            "port_ids": [synth, desk],
            "point_ids": net,
            "text": f"Synth OUT ({source} level) feeds {target} input Desk IN through "
            f"{name_of(db, in_point)}",
        }
    ]
    assert findings(client) == (expected if wrong else [])


@pytest.mark.parametrize("way", WAYS)
def test_an_output_into_its_own_device(client: TestClient, db: Db, way: str) -> None:
    out_point, in_point, net = joined_points(client, db, way)
    device = make_device(
        client,
        name="Desk",
        ports=[
            {"label": "CH 1", "type": "Input", "patchbay_id": in_point},
            {"label": "AUX 1", "type": "Output", "patchbay_id": out_point},
        ],
    )
    channel, aux = (p["id"] for p in device["ports"])
    assert findings(client) == [
        {
            "check": "feedback",
            "severity": "warning",
            "port_ids": [aux, channel],
            "point_ids": net,
            "text": f"Desk AUX 1 feeds Desk CH 1, an input of its own device, through "
            f"{name_of(db, in_point)}",
        }
    ]


@pytest.mark.parametrize("way", WAYS)
def test_two_outputs_in_one_net(client: TestClient, db: Db, way: str) -> None:
    first_point, second_point, net = joined_points(client, db, way)
    synth = port(client, "Synth", "OUT", "Output", first_point)
    drums = port(client, "TR-8", "MIX", "Output", second_point)
    assert findings(client) == [
        {
            "check": "conflict",
            "severity": "warning",
            "port_ids": [synth, drums],
            "point_ids": net,
            "text": f"Synth OUT and TR-8 MIX drive one net ({name_of(db, first_point)} and "
            f"{name_of(db, second_point)})",
        }
    ]


@pytest.mark.parametrize(
    ("mode", "plugged", "silenced"),
    [
        ("normal", "top", True),
        ("normal", "bottom", True),
        ("half-normal", "bottom", True),
        ("half-normal", "top", False),
        ("half-normal-top", "top", True),
        ("half-normal-top", "bottom", False),
        ("parallel", "top", False),
        ("parallel", "bottom", False),
        ("thru", "bottom", False),
    ],
)
def test_an_input_the_house_normal_feeds_left_silent(
    client: TestClient, db: Db, mode: str, plugged: str, silenced: bool
) -> None:
    """A synth on the top of a channel feeds the desk on its bottom through the normal; a patch
    cord into one of the jacks from a spare jack breaks it, or does not."""
    bay = client.post("/bays", json={"name": "Bay A", "channels": 1, "mode": mode}).json()
    top, bottom = bay["channels"][0]["top_point_id"], bay["channels"][0]["bottom_point_id"]
    port(client, "Synth", "OUT L", "Output", top)
    desk = port(client, "Desk", "CH 1", "Input", bottom)
    assert findings(client) == []
    [spare] = add_points(db, 1, prefix="Spare ")
    client.post("/cables", json={"points": [top if plugged == "top" else bottom, spare]})
    net = sorted([bottom, spare]) if plugged == "bottom" else [bottom]
    expected = {
        "check": "silenced",
        "severity": "notice",
        "port_ids": [desk],
        "point_ids": net,
        "text": "Nothing feeds Desk CH 1: its house normal from Synth OUT L (Bay A 1T) is broken",
    }
    assert findings(client) == ([expected] if silenced else [])


def test_a_cable_that_feeds_the_input_from_elsewhere_is_not_silence(
    client: TestClient, db: Db
) -> None:
    bay = client.post("/bays", json={"name": "Bay A", "channels": 1}).json()
    top, bottom = bay["channels"][0]["top_point_id"], bay["channels"][0]["bottom_point_id"]
    port(client, "Synth", "OUT L", "Output", top)
    port(client, "Desk", "CH 1", "Input", bottom)
    [drums_point] = add_points(db, 1, prefix="Drums ")
    port(client, "TR-8", "MIX", "Output", drums_point)
    client.post("/cables", json={"points": [drums_point, bottom]})
    assert findings(client) == []


def test_findings_come_by_severity_then_check_then_port(client: TestClient, db: Db) -> None:
    """One net for each kind of finding; two phantom nets, whose ports came in the other order
    than their points."""
    early = port(client, "Ribbon B", "OUT", "Output", None)  # first in /state order
    nets = [joined_points(client, db, "cable") for _ in range(4)]
    parallel = joined_points(client, db, "parallel")
    ribbon = port(client, "Ribbon A", "OUT", "Output", nets[0][0])
    preamp = port(client, "Pre A", "IN", "Input", nets[0][1])
    client.post(f"/ports/{early}/link", json={"patchbay_id": nets[1][0]})
    late_preamp = port(client, "Pre B", "IN", "Input", nets[1][1])
    for fragile, powered in ((ribbon, preamp), (early, late_preamp)):
        say(client, fragile, phantom_safe=False)
        say(client, powered, phantom=True)
    amp = port(client, "Amp", "SPK", "Output", nets[2][0])
    monitor_in = port(client, "Desk", "LINE 2", "Input", nets[2][1])
    say(client, amp, level="speaker")
    say(client, monitor_in, level="line")
    desk = make_device(
        client,
        name="Mixer",
        ports=[
            {"label": "CH 1", "type": "Input", "patchbay_id": nets[3][1]},
            {"label": "AUX", "type": "Output", "patchbay_id": nets[3][0]},
        ],
    )
    synth = port(client, "Synth", "OUT", "Output", parallel[0])
    drums = port(client, "Drums", "OUT", "Output", parallel[2][1])
    mic_in = port(client, "Desk", "MIC 1", "Input", parallel[1])
    say(client, synth, level="line")
    say(client, mic_in, level="mic")
    bay = client.post("/bays", json={"name": "House", "channels": 1}).json()["channels"][0]
    port(client, "Keys", "OUT", "Output", bay["top_point_id"])
    quiet = port(client, "Desk", "CH 9", "Input", bay["bottom_point_id"])
    [spare] = add_points(db, 1, prefix="Spare ")
    client.post("/cables", json={"points": [bay["bottom_point_id"], spare]})
    got = [(f["severity"], f["check"], f["port_ids"]) for f in findings(client)]
    channel, aux = (p["id"] for p in desk["ports"])
    assert got == [
        ("danger", "phantom", [early, late_preamp]),
        ("danger", "phantom", [ribbon, preamp]),
        ("danger", "speaker", [amp, monitor_in]),
        ("warning", "conflict", [synth, drums]),
        ("warning", "feedback", [aux, channel]),
        ("warning", "level", [synth, mic_in]),
        ("notice", "silenced", [quiet]),
    ]


def test_checks_have_the_state_etag(committing_client: TestClient) -> None:
    client = committing_client
    state = client.get("/state")
    response = client.get("/checks")
    assert response.headers["etag"] == state.headers["etag"]
    assert response.headers["cache-control"] == "no-cache"
    assert response.json() == {"revision": int(state.headers["etag"][3:-1]), "findings": []}
    again = client.get("/checks", headers={"If-None-Match": response.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    client.post("/patchbay-points", json={"name": "A1"})
    changed = client.get("/checks", headers={"If-None-Match": response.headers["etag"]})
    assert changed.status_code == 200
    assert changed.headers["etag"] != response.headers["etag"]
    assert changed.json()["revision"] == int(changed.headers["etag"][3:-1])


# --- POST /checks/preview ----------------------------------------------------------------------
def try_steps(client: TestClient, *steps: dict[str, Any]) -> Any:
    return client.post("/checks/preview", json={"steps": list(steps)})


def previewed(client: TestClient, *steps: dict[str, Any]) -> dict[str, Any]:
    response = try_steps(client, *steps)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = shaped(response, Preview)
    return body


@pytest.fixture
def ribbon_session(client: TestClient, db: Db) -> dict[str, Any]:
    """The README's story: a ribbon mic on Bay A 1T, a phantom-powered preamp on Bay A 2B,
    nothing joining them yet (thru channels); a spare jack."""
    bay = client.post("/bays", json={"name": "Bay A", "channels": 2, "mode": "thru"}).json()
    (t1, b1), (t2, b2) = ((c["top_point_id"], c["bottom_point_id"]) for c in bay["channels"])
    ribbon = port(client, "Ribbon mic", "OUT", "Output", t1)
    preamp = port(client, "Desk", "MIC 3", "Input", b2)
    say(client, ribbon, level="mic", phantom_safe=False)
    say(client, preamp, level="mic", phantom=True)
    [spare] = add_points(db, 1, prefix="Spare ")
    return {
        "bay": bay["id"],
        "t1": t1,
        "b1": b1,
        "t2": t2,
        "b2": b2,
        "spare": spare,
        "ribbon": ribbon,
        "preamp": preamp,
    }


def test_plugging_the_ribbon_mic_into_a_powered_input_is_new_danger(
    client: TestClient, db: Db, ribbon_session: dict[str, Any]
) -> None:
    s = ribbon_session
    state = client.get("/state").json()
    body = previewed(client, {"action": "plug", "points": [s["t1"], s["b2"]]})
    danger = {
        "check": "phantom",
        "severity": "danger",
        "port_ids": [s["ribbon"], s["preamp"]],
        "point_ids": sorted([s["t1"], s["b2"]]),
        "text": "+48 V from Desk MIC 3 reaches Ribbon mic OUT through Bay A 1T",
    }
    assert body == {"revision": body["revision"], "findings": [danger], "new": [danger]}
    # Nothing changed.
    assert client.get("/state").json() == state
    assert count(db, "cables") == 0
    assert findings(client) == []


def test_a_step_that_ends_a_finding(client: TestClient, ribbon_session: dict[str, Any]) -> None:
    s = ribbon_session
    cable = client.post("/cables", json={"points": [s["t1"], s["b2"]]}).json()
    now = client.get("/checks").json()
    assert [f["check"] for f in now["findings"]] == ["phantom"]
    unplug = {"action": "unplug", "cable_id": cable["id"], "points": cable["points"]}
    assert previewed(client, unplug) == {"revision": now["revision"], "findings": [], "new": []}
    # A finding there already is not new.
    relink = {"action": "link", "port_id": s["preamp"], "patchbay_id": s["b2"]}
    same = previewed(client, relink)
    assert ([f["check"] for f in same["findings"]], same["new"]) == (["phantom"], [])


def test_links_and_modes_are_tried_too(client: TestClient, ribbon_session: dict[str, Any]) -> None:
    s = ribbon_session
    # The preamp moved onto the bottom of the ribbon's channel, then the channel normalled.
    steps = [
        {"action": "unlink", "port_id": s["preamp"], "patchbay_id": s["b2"], "text": "Unlink"},
        {"action": "link", "port_id": s["preamp"], "patchbay_id": s["b1"]},
        {"action": "set-mode", "bay_id": s["bay"], "channel": 1, "mode": "normal"},
    ]
    body = previewed(client, *steps)
    assert [(f["check"], f["point_ids"]) for f in body["new"]] == [
        ("phantom", sorted([s["t1"], s["b1"]]))
    ]
    # Up to the link only: the channel is thru, nothing joins them.
    assert previewed(client, *steps[:2])["findings"] == []


def test_a_link_takes_the_point_over(client: TestClient, ribbon_session: dict[str, Any]) -> None:
    """Linking the preamp onto the ribbon mic's jack unlinks the mic, as POST .../link would."""
    s = ribbon_session
    body = previewed(client, {"action": "link", "port_id": s["preamp"], "patchbay_id": s["t1"]})
    assert body["findings"] == []
    back = {"action": "link", "port_id": s["ribbon"], "patchbay_id": s["b1"]}
    normal = {"action": "set-mode", "bay_id": s["bay"], "channel": 1, "mode": "parallel"}
    steps = [{"action": "link", "port_id": s["preamp"], "patchbay_id": s["t1"]}, back, normal]
    assert [f["port_ids"] for f in previewed(client, *steps)["new"]] == [[s["ribbon"], s["preamp"]]]


def test_an_unplug_then_a_plug_into_the_same_jack(
    client: TestClient, ribbon_session: dict[str, Any]
) -> None:
    s = ribbon_session
    cable = client.post("/cables", json={"points": [s["t1"], s["spare"]]}).json()
    plug = {"action": "plug", "points": [s["t1"], s["b2"]], "label": "oops", "color": "red"}
    refused = try_steps(client, plug)
    assert (refused.status_code, refused.json()) == (409, {"detail": "Jack already patched"})
    unplug = {"action": "unplug", "cable_id": cable["id"], "points": cable["points"]}
    assert [f["check"] for f in previewed(client, unplug, plug)["new"]] == ["phantom"]
    twice = try_steps(client, unplug, unplug)
    assert (twice.status_code, twice.json()) == (404, {"detail": "Cable not found"})


@pytest.mark.parametrize("checked_first", [True, False])
def test_the_findings_are_the_whole_studios_and_new_the_steps_own(
    client: TestClient, db: Db, ribbon_session: dict[str, Any], checked_first: bool
) -> None:
    """A conflict elsewhere stays in `findings` (the studio as the steps would leave it), and
    only what the steps bring is `new`: whether the studio's findings at this revision were
    judged already (a GET /checks first) or the preview judges the whole studio itself."""
    s = ribbon_session
    a, b, _ = joined_points(client, db, "cable")
    port(client, "Synth", "OUT", "Output", a)
    port(client, "Drums", "OUT", "Output", b)
    if checked_first:
        assert [f["check"] for f in findings(client)] == ["conflict"]
    body = previewed(client, {"action": "plug", "points": [s["t1"], s["b2"]]})
    assert [f["check"] for f in body["findings"]] == ["phantom", "conflict"]
    assert [f["check"] for f in body["new"]] == ["phantom"]
    assert (
        body["findings"]
        == previewed(client, {"action": "plug", "points": [s["t1"], s["b2"]]})["findings"]
    )


@pytest.mark.parametrize(
    ("step", "detail"),
    [
        ({"action": "unplug", "cable_id": 999999, "points": [1, 2]}, "Cable not found"),
        ({"action": "unlink", "port_id": "dev-0-port-9", "patchbay_id": 1}, "Port not found"),
        ({"action": "link", "port_id": "dev-0-port-9", "patchbay_id": "t1"}, "Port not found"),
        (
            {"action": "link", "port_id": "ribbon", "patchbay_id": 999999},
            "Patchbay point not found",
        ),
        ({"action": "plug", "points": ["t1", 999999]}, "Patchbay point not found"),
        ({"action": "set-mode", "bay_id": 999999, "channel": 1, "mode": "thru"}, "Bay not found"),
    ],
)
def test_a_step_naming_something_unknown_is_404(
    client: TestClient, ribbon_session: dict[str, Any], step: dict[str, Any], detail: str
) -> None:
    def known(value: Any) -> Any:
        return ribbon_session.get(value, value) if isinstance(value, str) else value

    concrete = {
        key: [known(v) for v in value] if isinstance(value, list) else known(value)
        for key, value in step.items()
        if key != "action"
    }
    response = try_steps(client, {"action": step["action"], **concrete})
    assert (response.status_code, response.json()) == (404, {"detail": detail})


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [{"action": "dance"}],
        [{"action": "plug", "points": [1, 1]}],
        [{"action": "plug", "points": [1]}],
        [{"action": "plug", "points": [1, 2], "colour": "red"}],
        [{"action": "link", "port_id": "dev-1-port-1"}],
        [{"action": "set-mode", "bay_id": 1, "channel": 1, "mode": "sideways"}],
        [{"action": "plug", "points": [1, 2**31]}],
        [{"action": "unplug", "cable_id": 1, "points": [1, 2]}] * 501,
    ],
)
def test_bad_steps_are_422(client: TestClient, steps: list[Any]) -> None:
    assert try_steps(client, *steps).status_code == 422


def test_a_channel_the_bay_does_not_have_is_422(
    client: TestClient, ribbon_session: dict[str, Any]
) -> None:
    s = ribbon_session
    plug = {"action": "plug", "points": [s["t1"], s["spare"]]}
    step = {"action": "set-mode", "bay_id": s["bay"], "channel": 3, "mode": "thru"}
    response = try_steps(client, plug, step)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (
        ["body", "steps", 1, "channel"],
        "the bay has channels 1 to 2",
    )


def test_a_preview_answers_for_the_studio_as_it_is_now(committing_client: TestClient) -> None:
    """The studio's findings are judged once per revision: a preview after a change (by
    anyone) is judged on the patch as it is then, never on findings of an older revision."""
    client = committing_client
    assert client.post("/bays", json={"name": "Bay A", "channels": 3}).status_code == 201
    for name, label, kind, point in [
        ("Synth", "OUT", "Output", 1),  # 1T and 1B are normalled: one net, two outputs
        ("Drums", "OUT", "Output", 2),
        ("Ribbon", "OUT", "Output", 5),
        ("Desk", "MIC 1", "Input", 4),
    ]:
        ports = [{"label": label, "type": kind, "patchbay_id": point}]
        made = client.post("/devices", json={"name": name, "type": "Gear", "ports": ports})
        assert made.status_code == 201, made.text
    values = {"dev-3-port-1": {"phantom_safe": False}, "dev-4-port-1": {"phantom": True}}
    for port_id, body in values.items():
        assert client.patch(f"/ports/{port_id}/electrical", json=body).status_code == 200
    plug = {"steps": [{"action": "plug", "points": [5, 4]}]}

    def checks_of(body: dict[str, Any], key: str) -> list[str]:
        return [finding["check"] for finding in body[key]]

    for _ in range(2):  # judged by the preview itself, then as GET /checks left it
        body = client.post("/checks/preview", json=plug).json()
        assert checks_of(body, "findings") == ["phantom", "conflict"]
        assert checks_of(body, "new") == ["phantom"]
        assert [f["check"] for f in client.get("/checks").json()["findings"]] == ["conflict"]
    assert client.post("/ports/dev-2-port-1/unlink").status_code == 200
    body = client.post("/checks/preview", json=plug).json()
    assert checks_of(body, "findings") == ["phantom"]
    assert client.get("/checks").json()["findings"] == []
    assert checks_of(client.post("/checks/preview", json=plug).json(), "findings") == ["phantom"]
