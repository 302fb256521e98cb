"""Signal flow (SPEC D3): nets of points joined by cables and made normals; routes from every
output to every input of a net; conflicts where outputs meet."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.schemas.signal_flow import PortSignal, SignalFlow
from app.services import signal_flow
from tests.helpers import Db, add_points, make_device, shaped

# Which plugs keep a channel's top and bottom joined, mode by mode (SPEC D1's table).
JOINED = {
    # mode: {(top plugged, bottom plugged): joined}
    "normal": {
        (False, False): True,
        (True, False): False,
        (False, True): False,
        (True, True): False,
    },
    "half-normal": {
        (False, False): True,
        (True, False): True,
        (False, True): False,
        (True, True): False,
    },
    "half-normal-top": {
        (False, False): True,
        (True, False): False,
        (False, True): True,
        (True, True): False,
    },
    "parallel": {
        (False, False): True,
        (True, False): True,
        (False, True): True,
        (True, True): True,
    },
    "thru": {
        (False, False): False,
        (True, False): False,
        (False, True): False,
        (True, True): False,
    },
}
PLUGS = {
    "none": (False, False),
    "top": (True, False),
    "bottom": (False, True),
    "both": (True, True),
}


def flow(client: TestClient) -> dict[str, Any]:
    response = client.get("/signal-flow")
    assert response.status_code == 200
    body: dict[str, Any] = shaped(response, SignalFlow)
    return body


def bay(
    client: TestClient, name: str, channels: int, mode: str = "half-normal"
) -> list[tuple[int, int]]:
    """A bay with its points; the (top, bottom) point ids of each channel."""
    response = client.post("/bays", json={"name": name, "channels": channels, "mode": mode})
    assert response.status_code == 201, response.text
    return [(c["top_point_id"], c["bottom_point_id"]) for c in response.json()["channels"]]


def cable(client: TestClient, a: int, b: int) -> None:
    assert client.post("/cables", json={"points": [a, b]}).status_code == 201


def port(client: TestClient, name: str, kind: str, point: int | None) -> str:
    """A device with one port, labelled by its type."""
    device = make_device(
        client, name=name, ports=[{"label": kind.upper(), "type": kind, "patchbay_id": point}]
    )
    port_id: str = device["ports"][0]["id"]
    return port_id


def route(source: str, target: str, *via: int) -> dict[str, Any]:
    return {"from_port_id": source, "to_port_id": target, "via": list(via)}


@pytest.mark.parametrize("plugs", PLUGS)
@pytest.mark.parametrize("mode", JOINED)
def test_every_mode_with_every_plug_combination(
    client: TestClient, db: Db, mode: str, plugs: str
) -> None:
    """A synth's output wired to the top of a channel, a mixer's input to its bottom; patch
    cords from the channel's jacks go to jacks of a spare bay that nothing is wired to."""
    [(top, bottom)] = bay(client, "Bay A", 1, mode)
    spare_top, spare_bottom = add_points(db, 2, prefix="Spare ")
    synth = port(client, "Synth", "Output", top)
    mixer = port(client, "Mixer", "Input", bottom)
    top_plugged, bottom_plugged = PLUGS[plugs]
    if top_plugged:
        cable(client, top, spare_top)
    if bottom_plugged:
        cable(client, bottom, spare_bottom)
    expected = [route(synth, mixer, top, bottom)] if JOINED[mode][PLUGS[plugs]] else []
    assert flow(client) == {"routes": expected, "conflicts": []}


def test_a_cable_from_another_source_replaces_the_normal(client: TestClient, db: Db) -> None:
    """The README's walk-through in short: half-normalled synth -> mixer; a drum machine
    plugged into the bottom jack breaks the normal and feeds the mixer instead."""
    [(top, bottom)] = bay(client, "Bay A", 1)
    [drum_point] = add_points(db, 1, prefix="Drums ")
    synth = port(client, "Synth", "Output", top)
    mixer = port(client, "Mixer", "Input", bottom)
    drums = port(client, "TR-808", "Output", drum_point)
    assert flow(client)["routes"] == [route(synth, mixer, top, bottom)]
    cable(client, drum_point, bottom)
    assert flow(client)["routes"] == [route(drums, mixer, drum_point, bottom)]
    signal = client.get(f"/ports/{mixer}/signal")
    assert shaped(signal, PortSignal) == {
        "port_id": mixer,
        "feeds": [],
        "fed_by": [route(drums, mixer, drum_point, bottom)],
    }
    assert client.get(f"/ports/{synth}/signal").json() == {
        "port_id": synth,
        "feeds": [],
        "fed_by": [],
    }


def test_outputs_meeting_in_a_net_are_a_conflict(client: TestClient, db: Db) -> None:
    [(top, bottom)] = bay(client, "Bay A", 1, "parallel")
    [extra] = add_points(db, 1)
    first = port(client, "Synth", "Output", top)
    second = port(client, "Drums", "Output", extra)
    mixer = port(client, "Mixer", "Input", bottom)
    # Plugging the extra output into the top jack of a parallel channel joins all three.
    cable(client, extra, top)
    result = flow(client)
    assert result["conflicts"] == [
        {"port_ids": [first, second], "point_ids": sorted([top, bottom, extra])}
    ]
    assert result["routes"] == [
        route(first, mixer, top, bottom),
        route(second, mixer, extra, top, bottom),
    ]


def test_other_ports_feed_nothing_and_are_fed_by_nothing(client: TestClient) -> None:
    [(top, bottom)] = bay(client, "Bay A", 1, "normal")
    port(client, "Clock", "Other", top)
    port(client, "Mixer", "Input", bottom)
    assert flow(client) == {"routes": [], "conflicts": []}
    [(top2, bottom2)] = bay(client, "Bay B", 1, "normal")
    synth = port(client, "Synth", "Output", top2)
    other = port(client, "Thing", "Other", bottom2)
    assert flow(client)["routes"] == []
    assert client.get(f"/ports/{other}/signal").json()["fed_by"] == []
    assert client.get(f"/ports/{synth}/signal").json()["feeds"] == []


def test_a_cable_between_two_bays(client: TestClient) -> None:
    [(a_top, _)] = bay(client, "Bay A", 1)
    [(_, b_bottom)] = bay(client, "Bay B", 1)
    synth = port(client, "Synth", "Output", a_top)
    mixer = port(client, "Mixer", "Input", b_bottom)
    # Listening on A's top (half-normal: A stays joined) and breaking B's normal.
    cable(client, a_top, b_bottom)
    assert flow(client)["routes"] == [route(synth, mixer, a_top, b_bottom)]


def test_two_cables_through_a_parallel_channel(client: TestClient, db: Db) -> None:
    [(p_top, p_bottom)] = bay(client, "Mult", 1, "parallel")
    source, target = add_points(db, 2)
    synth = port(client, "Synth", "Output", source)
    mixer = port(client, "Mixer", "Input", target)
    cable(client, source, p_top)
    cable(client, p_bottom, target)
    assert flow(client)["routes"] == [route(synth, mixer, source, p_top, p_bottom, target)]


def test_points_in_no_bay(client: TestClient, db: Db) -> None:
    a, b = add_points(db, 2)
    synth = port(client, "Synth", "Output", a)
    mixer = port(client, "Mixer", "Input", b)
    assert flow(client)["routes"] == []
    cable(client, b, a)
    assert flow(client)["routes"] == [route(synth, mixer, a, b)]


def test_routes_take_a_shortest_path_and_come_in_state_order(client: TestClient, db: Db) -> None:
    """A ring of points: two ways round, the shorter one is the route."""
    channels = bay(client, "Mult", 3, "parallel")
    (t1, b1), (t2, b2), (t3, b3) = channels
    cable(client, b1, t2)
    cable(client, b2, t3)
    cable(client, b3, t1)  # closes the ring t1-b1-t2-b2-t3-b3-t1
    out_a = port(client, "A", "Output", t1)
    in_b = port(client, "B", "Input", b3)
    in_c = port(client, "C", "Input", t2)
    result = flow(client)
    assert result["routes"] == [route(out_a, in_b, t1, b3), route(out_a, in_c, t1, b1, t2)]


def test_unknown_port_signal_is_404(client: TestClient) -> None:
    response = client.get("/ports/nope/signal")
    assert (response.status_code, response.json()) == (404, {"detail": "Port not found"})


def test_signal_flow_has_the_state_etag(committing_client: TestClient) -> None:
    state = committing_client.get("/state")
    response = committing_client.get("/signal-flow")
    assert response.headers["etag"] == state.headers["etag"]
    assert response.headers["cache-control"] == "no-cache"
    again = committing_client.get(
        "/signal-flow", headers={"If-None-Match": response.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    committing_client.post("/patchbay-points", json={"name": "A1"})
    changed = committing_client.get(
        "/signal-flow", headers={"If-None-Match": response.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != response.headers["etag"]


def mixed_studio(client: TestClient, db: Db) -> dict[str, list[int]]:
    """Two nets with several outputs and inputs each (a ring through parallel channels, and a
    half-normalled channel with a cable out of its top), a port on no point, a loose net."""
    (t1, b1), (t2, b2), (t3, b3) = bay(client, "Mult", 3, "parallel")
    cable(client, b1, t2)
    cable(client, b2, t3)
    cable(client, b3, t1)
    ring = [t1, b1, t2, b2, t3, b3]
    for n, point in enumerate(ring):
        port(client, f"Ring {n}", "Output" if n % 3 == 0 else "Input", point)
    [(top, bottom)] = bay(client, "Bay A", 1)
    [spare, loose] = add_points(db, 2, prefix="Spare ")
    cable(client, top, spare)
    port(client, "Synth", "Output", top)
    port(client, "Desk", "Input", bottom)
    port(client, "Rec", "Input", spare)
    port(client, "Loose", "Input", loose)
    port(client, "Nowhere", "Output", None)
    return {"ring": sorted(ring), "bay_a": sorted([top, bottom, spare])}


def test_a_ports_signal_is_its_routes_of_the_whole_flow(client: TestClient, db: Db) -> None:
    mixed_studio(client, db)
    routes = flow(client)["routes"]
    assert len(routes) == 10
    for device in client.get("/state").json()["devices"]:
        for each in device["ports"]:
            signal = client.get(f"/ports/{each['id']}/signal")
            assert shaped(signal, PortSignal) == {
                "port_id": each["id"],
                "feeds": [r for r in routes if r["from_port_id"] == each["id"]],
                "fed_by": [r for r in routes if r["to_port_id"] == each["id"]],
            }


def test_a_ports_signal_reads_only_its_own_net(client: TestClient, db: Db) -> None:
    """Issue 20: a port's signal cost the whole studio's routes (4.7 s on a 768-point net)."""
    nets = mixed_studio(client, db)
    desk = next(d for d in client.get("/state").json()["devices"] if d["name"] == "Desk")
    _, snapshot = signal_flow.read_region(db.conn, ports=[desk["ports"][0]["id"]])
    read = json.loads(snapshot)
    assert sorted(read["region"]) == nets["bay_a"]
    assert sorted(point for _, _, point, *_ in read["ports"]) == nets["bay_a"]
    assert [(a, b) for _, a, b in read["cables"]] == [(nets["bay_a"][0], nets["bay_a"][2])]
    assert len(read["channels"]) == 1
