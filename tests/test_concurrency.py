"""SPEC B2: concurrent writes from many threads and two API processes, with real commits."""

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
from sqlalchemy import Engine, text

THREADS = 24


def seed(engine: Engine, *, devices: int, ports_each: int, points: int) -> list[str]:
    """Devices, ports and points inserted directly; returns the port ids."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patchbay_points (id, name) SELECT n, 'P' || n FROM generate_series(1, :n) n"
            ),
            {"n": points},
        )
        conn.execute(
            text(
                "INSERT INTO devices (id, name, type) SELECT n, 'D' || n, 'Synth' FROM generate_series(1, :n) n"
            ),
            {"n": devices},
        )
        rows = conn.execute(
            text(
                "INSERT INTO ports (id, device_id, label, type) "
                "SELECT 'dev-' || d || '-port-' || p, d, 'L' || p, 'Input' "
                "FROM generate_series(1, :d) d, generate_series(1, :p) p ORDER BY d, p RETURNING id"
            ),
            {"d": devices, "p": ports_each},
        )
        return [row.id for row in rows]


def run_all(calls: list[tuple[str, str, str, Any]]) -> list[httpx.Response]:
    """Send every (method, base, path, json) call from a pool of threads at once ("CSV": a
    POST of a patch list)."""
    limits = httpx.Limits(max_connections=THREADS)
    clients = {base: httpx.Client(timeout=30, limits=limits) for _, base, _, _ in calls}

    def send(call: tuple[str, str, str, Any]) -> httpx.Response:
        method, base, path, body = call
        if method == "CSV":  # a patch list, as text
            headers = {"Content-Type": "text/csv"}
            return clients[base].post(base + path, content=body.encode(), headers=headers)
        return clients[base].request(method, base + path, json=body)

    with ThreadPoolExecutor(THREADS) as pool:
        responses = list(pool.map(send, calls))
    for client in clients.values():
        client.close()
    return responses


def holders(engine: Engine, point: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM ports WHERE patchbay_id = :p"), {"p": point}))


def test_simultaneous_links_onto_one_point_all_succeed_in_one_chain(
    live: list[str], engine: Engine
) -> None:
    ports = seed(engine, devices=4, ports_each=15, points=1)
    first, *others = ports
    with engine.begin() as conn:
        conn.execute(text("UPDATE ports SET patchbay_id = 1 WHERE id = :id"), {"id": first})

    calls = [
        ("POST", live[i % 2], f"/ports/{port}/link", {"patchbay_id": 1})
        for i, port in enumerate(others)
    ]
    responses = run_all(calls)

    assert [r.status_code for r in responses] == [200] * len(others)
    # Serialised, the links form one chain: each took the point from the port linked just before
    # it, starting from the port that held it at the outset.
    took_from = {r.json()["id"]: r.json()["unlinked_port_id"] for r in responses}
    assert Counter(took_from.values()).most_common(1)[0][1] == 1
    taker_of = {previous: port for port, previous in took_from.items()}
    chain = [first]
    while chain[-1] in taker_of:
        chain.append(taker_of[chain[-1]])
    assert len(chain) == len(ports)
    assert holders(engine, 1) == [chain[-1]]


def test_random_relinking_never_fails(live: list[str], engine: Engine) -> None:
    ports = seed(engine, devices=3, ports_each=10, points=6)
    rng = random.Random(7)
    calls = []
    for i in range(300):
        port = rng.choice(ports)
        kind = rng.random()
        if kind < 0.7:
            calls.append(
                ("POST", live[i % 2], f"/ports/{port}/link", {"patchbay_id": rng.randint(1, 6)})
            )
        elif kind < 0.85:
            calls.append(
                ("PUT", live[i % 2], f"/ports/{port}/patchbay", {"patchbay_id": rng.randint(1, 6)})
            )
        else:
            calls.append(("POST", live[i % 2], f"/ports/{port}/unlink", None))
    responses = run_all(calls)

    for (method, _, path, _), response in zip(calls, responses, strict=True):
        if method == "PUT":
            assert response.status_code in (200, 409), (path, response.text)
        else:
            assert response.status_code == 200, (path, response.text)
    for point in range(1, 7):
        assert len(holders(engine, point)) <= 1


def test_deletes_racing_links_give_no_500_and_no_deadlock(live: list[str], engine: Engine) -> None:
    ports = seed(engine, devices=8, ports_each=6, points=4)
    rng = random.Random(11)
    calls = []
    for i in range(200):
        if i % 25 == 0:
            calls.append(("DELETE", live[i % 2], f"/devices/{i // 25 + 1}", None))
        else:
            port = rng.choice(ports)
            calls.append(
                ("POST", live[i % 2], f"/ports/{port}/link", {"patchbay_id": rng.randint(1, 4)})
            )
    responses = run_all(calls)

    codes = Counter(r.status_code for r in responses)
    assert set(codes) <= {200, 404}, codes
    for response in responses:
        if response.status_code == 404:
            assert response.json()["detail"] == "Port not found"
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM devices")) == 0
        assert conn.scalar(text("SELECT count(*) FROM ports")) == 0


def test_devices_racing_for_one_point_get_one_201_and_409s(live: list[str], engine: Engine) -> None:
    seed(engine, devices=0, ports_each=0, points=1)
    body = {
        "name": "X",
        "type": "Synth",
        "ports": [{"label": "A", "type": "Input", "patchbay_id": 1}],
    }
    responses = run_all([("POST", live[i % 2], "/devices", body) for i in range(30)])

    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: 29}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM devices")) == 1


def test_bulk_links_racing_links_and_deletes_never_deadlock(
    live: list[str], engine: Engine
) -> None:
    ports = seed(engine, devices=4, ports_each=8, points=10)
    rng = random.Random(5)
    calls: list[tuple[str, str, str, Any]] = []
    for i in range(240):
        base, roll = live[i % 2], rng.random()
        if roll < 0.4:
            chosen = rng.sample(ports, 4)
            targets = rng.sample([*range(1, 11), None, None], 4)
            links = [{"port_id": p, "patchbay_id": t} for p, t in zip(chosen, targets, strict=True)]
            calls.append(("POST", base, "/ports/bulk-link", {"links": links}))
        elif roll < 0.85:
            calls.append(
                (
                    "POST",
                    base,
                    f"/ports/{rng.choice(ports)}/link",
                    {"patchbay_id": rng.randint(1, 10)},
                )
            )
        elif roll < 0.95:
            calls.append(("DELETE", base, f"/ports/{rng.choice(ports)}", None))
        else:
            calls.append(("DELETE", base, f"/patchbay-points/{rng.randint(1, 10)}", None))
    responses = run_all(calls)

    allowed = {
        "/ports/bulk-link": {200, 404},
        "link": {200, 404},
        "port": {200, 404},
        "point": {200, 404, 409},
    }
    for (method, _, path, _), response in zip(calls, responses, strict=True):
        kind = (
            path
            if path == "/ports/bulk-link"
            else "link"
            if path.endswith("/link")
            else "point"
            if "patchbay-points" in path
            else "port"
        )
        assert response.status_code in allowed[kind], (method, path, response.text)
    with engine.connect() as conn:
        taken = conn.scalars(
            text("SELECT patchbay_id FROM ports WHERE patchbay_id IS NOT NULL")
        ).all()
    assert len(taken) == len(set(taken))


# --- Bays and cables ----------------------------------------------------------------------------


def seed_bay(engine: Engine, *, bay_id: int, channels: int, first_point: int) -> None:
    """A bay with its points (ids from first_point, 1T, 1B, 2T, ...), inserted directly."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bays (id, name) VALUES (:b, 'Bay ' || :b)"), {"b": bay_id})
        conn.execute(
            text(
                "INSERT INTO bay_channels (bay_id, number) SELECT :b, n FROM generate_series(1, :c) n"
            ),
            {"b": bay_id, "c": channels},
        )
        conn.execute(
            text(
                "INSERT INTO patchbay_points (id, name, bay_id, bay_channel, bay_row) "
                "SELECT :first + 2 * (n - 1) + r, 'Bay ' || :b || ' ' || n || r, :b, n, "
                "CASE r WHEN 0 THEN 'top' ELSE 'bottom' END "
                "FROM generate_series(1, :c) n, generate_series(0, 1) r"
            ),
            {"b": bay_id, "c": channels, "first": first_point},
        )


def test_plugging_one_jack_at_once_gives_one_201_and_409s(live: list[str], engine: Engine) -> None:
    seed(engine, devices=0, ports_each=0, points=31)
    # Thirty cables want jack 1, each from a jack of its own.
    calls = [("POST", live[i % 2], "/cables", {"points": [1, i + 2]}) for i in range(30)]
    responses = run_all(calls)

    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: 29}, codes
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"detail": "Jack already patched"}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM cables")) == 1
        assert conn.scalar(text("SELECT count(*) FROM cable_ends WHERE point_id = 1")) == 1


def test_cables_racing_deletes_links_and_bulk_links_never_deadlock(
    live: list[str], engine: Engine
) -> None:
    """Every write that takes row locks, at once, from two processes: each answers one of its
    documented statuses, and PostgreSQL's invariants hold afterwards."""
    ports = seed(engine, devices=4, ports_each=6, points=12)  # loose points 1..12
    for bay_id in (1, 2, 3):
        seed_bay(engine, bay_id=bay_id, channels=4, first_point=100 * bay_id)
    points = [*range(1, 13), *(100 * b + n for b in (1, 2, 3) for n in range(8))]
    rng = random.Random(7)
    calls: list[tuple[str, str, str, Any]] = []
    for i in range(300):
        base, roll = live[i % 2], rng.random()
        if roll < 0.35:
            a, b = rng.sample(points, 2)
            calls.append(("POST", base, "/cables", {"points": [a, b]}))
        elif roll < 0.45:
            calls.append(("DELETE", base, f"/cables/{rng.randint(1, 60)}", None))
        elif roll < 0.65:
            path = f"/ports/{rng.choice(ports)}/link"
            calls.append(("POST", base, path, {"patchbay_id": rng.choice(points)}))
        elif roll < 0.75:
            chosen = rng.sample(ports, 3)
            targets = rng.sample(points, 3)
            links = [{"port_id": p, "patchbay_id": t} for p, t in zip(chosen, targets, strict=True)]
            calls.append(("POST", base, "/ports/bulk-link", {"links": links}))
        elif roll < 0.85:
            calls.append(("DELETE", base, f"/patchbay-points/{rng.choice(points)}", None))
        elif roll < 0.9:
            calls.append(("DELETE", base, f"/bays/{rng.randint(1, 3)}", None))
        elif roll < 0.95:
            body = {"first": 1, "last": 4, "mode": rng.choice(["normal", "thru", "parallel"])}
            calls.append(("PATCH", base, f"/bays/{rng.randint(1, 3)}/channels", body))
        else:
            n, point = rng.randint(1, 4), rng.choice(points)
            slots = {"top_point_id": point}
            calls.append(("PUT", base, f"/bays/{rng.randint(1, 3)}/channels/{n}", slots))
    responses = run_all(calls)

    for (method, _, path, _), response in zip(calls, responses, strict=True):
        assert response.status_code in (200, 201, 404, 409), (method, path, response.text)
    with engine.connect() as conn:
        plugs = conn.scalars(text("SELECT point_id FROM cable_ends")).all()
        ends = conn.execute(text("SELECT cable_id, count(*) FROM cable_ends GROUP BY cable_id"))
        taken = conn.scalars(
            text("SELECT patchbay_id FROM ports WHERE patchbay_id IS NOT NULL")
        ).all()
    assert len(plugs) == len(set(plugs))
    assert {n for _, n in ends} <= {2}
    assert len(taken) == len(set(taken))


def test_scene_applies_racing_links_and_plugs(live: list[str], engine: Engine) -> None:
    """Recalling a scene while others link and plug, from two processes: every request answers
    one of its statuses, none deadlocks, and the scene still applies exactly afterwards."""
    ports = seed(engine, devices=4, ports_each=6, points=0)
    seed_bay(engine, bay_id=1, channels=12, first_point=1)  # points 1..24
    points = list(range(1, 25))
    rng = random.Random(3)
    with httpx.Client(base_url=live[0], timeout=30) as client:
        for port, point in zip(ports, rng.sample(points, len(ports)), strict=True):
            client.post(f"/ports/{port}/link", json={"patchbay_id": point})
        for a, b in ((1, 3), (5, 7), (9, 11)):
            client.post("/cables", json={"points": [a, b], "label": f"{a}-{b}"})
        scene = client.post("/scenes", json={"name": "Tracking"}).json()
        revision = client.get(f"/scenes/{scene['id']}/diff").json()["revision"]
    calls: list[tuple[str, str, str, Any]] = []
    for i in range(160):
        base, roll = live[i % 2], rng.random()
        if roll < 0.25:
            calls.append(("POST", base, f"/scenes/{scene['id']}/apply", None))
        elif roll < 0.6:
            path = f"/ports/{rng.choice(ports)}/link"
            calls.append(("POST", base, path, {"patchbay_id": rng.choice(points)}))
        elif roll < 0.85:
            a, b = rng.sample(points, 2)
            calls.append(("POST", base, "/cables", {"points": [a, b]}))
        else:
            calls.append(("DELETE", base, f"/cables/{rng.randint(1, 40)}", None))
    responses = run_all(calls)

    for (method, _, path, _), response in zip(calls, responses, strict=True):
        allowed = {200} if path.endswith("/apply") else {200, 201, 404, 409}
        assert response.status_code in allowed, (method, path, response.text)
    assert any(path.endswith("/apply") for _, _, path, _ in calls)
    with httpx.Client(base_url=live[1], timeout=30) as client:
        stale = client.post(f"/scenes/{scene['id']}/apply", headers={"If-Match": f'W/"{revision}"'})
        assert stale.status_code == 412
        assert client.post(f"/scenes/{scene['id']}/apply").status_code == 200
        assert client.get(f"/scenes/{scene['id']}/diff").json()["steps"] == []


def test_reverts_racing_device_deletes_and_new_ports_never_deadlock(
    live: list[str], engine: Engine
) -> None:
    """A revert locks the whole patch and then its devices; a device's deletion its ports and
    then the device; adding a port its point and then the device. Racing from two processes,
    each answers one of its statuses (a deadlock would be a 503)."""
    ports = seed(engine, devices=6, ports_each=4, points=12)
    rng = random.Random(5)
    revisions = []
    with httpx.Client(base_url=live[0], timeout=30) as client:
        for n, port in enumerate(rng.sample(ports, 10)):
            assert (
                client.post(f"/ports/{port}/link", json={"patchbay_id": n + 1}).status_code == 200
            )
            revisions.append(
                int(client.get("/history", params={"limit": 1}).json()["entries"][0]["revision"])
            )
            assert client.patch(f"/devices/{n % 6 + 1}", json={"name": f"D{n}"}).status_code == 200
            revisions.append(
                int(client.get("/history", params={"limit": 1}).json()["entries"][0]["revision"])
            )
    calls: list[tuple[str, str, str, Any]] = []
    for i in range(160):
        base, roll = live[i % 2], rng.random()
        if roll < 0.35:
            calls.append(("POST", base, f"/history/{rng.choice(revisions)}/revert", None))
        elif roll < 0.45:
            calls.append(("DELETE", base, f"/devices/{rng.randint(1, 6)}", None))
        elif roll < 0.65:
            body = {"label": "New", "type": "Input", "patchbay_id": rng.randint(1, 12)}
            calls.append(("POST", base, f"/devices/{rng.randint(1, 6)}/ports", body))
        elif roll < 0.85:
            path = f"/ports/{rng.choice(ports)}/link"
            calls.append(("POST", base, path, {"patchbay_id": rng.randint(1, 12)}))
        else:
            chosen, targets = rng.sample(ports, 2), rng.sample(range(1, 13), 2)
            links = [{"port_id": p, "patchbay_id": t} for p, t in zip(chosen, targets, strict=True)]
            calls.append(("POST", base, "/ports/bulk-link", {"links": links}))
    responses = run_all(calls)

    for (method, _, path, _), response in zip(calls, responses, strict=True):
        assert response.status_code in (200, 201, 404, 409), (method, path, response.text)
    assert any(r.status_code == 200 and "/revert" in str(r.url) for r in responses)
    with engine.connect() as conn:
        taken = conn.scalars(
            text("SELECT patchbay_id FROM ports WHERE patchbay_id IS NOT NULL")
        ).all()
    assert len(taken) == len(set(taken))


def test_imports_racing_device_and_port_creation_never_deadlock(
    live: list[str], engine: Engine
) -> None:
    """Patch-list imports, which rebuild the studio, while devices, ports, points and bays are
    made (ports with points and without), renamed and deleted from two processes: every request
    answers one of its statuses (a deadlock would be a 503: an INSERT takes its table's lock
    before its parents', so no table order alone keeps an import clear of them)."""
    seed(engine, devices=4, ports_each=2, points=8)
    header = "bay,channel,row,mode,point,description,device,device type,port,port type,cable to,cable label"
    rng = random.Random(9)
    calls: list[tuple[str, str, str, Any]] = []
    for i in range(120):
        base, roll = live[i % 2], rng.random()
        if roll < 0.25:
            lines = [
                header,
                *(f",,,,P{n},,D{n % 4 + 1},Synth,CSV {i},Output,," for n in range(1, 4)),
            ]
            calls.append(("CSV", base, "/import/patch-list.csv?dry_run=false", "\r\n".join(lines)))
        elif roll < 0.45:
            ports = [{"label": "A", "type": "Input"}, {"label": "B", "type": "Output"}]
            calls.append(
                ("POST", base, "/devices", {"name": f"New {i}", "type": "Synth", "ports": ports})
            )
        elif roll < 0.65:
            body = {"label": f"X{i}", "type": "Input"}
            calls.append(("POST", base, f"/devices/{rng.randint(1, 4)}/ports", body))
        elif roll < 0.8:
            body = {"label": f"Y{i}", "type": "Input", "patchbay_id": rng.randint(1, 8)}
            calls.append(("POST", base, f"/devices/{rng.randint(1, 4)}/ports", body))
        elif roll < 0.85:
            calls.append(("PATCH", base, f"/devices/{rng.randint(1, 4)}", {"name": f"D{i}"}))
        elif roll < 0.9:
            calls.append(("POST", base, "/patchbay-points", {"name": f"Loose {i}"}))
        elif roll < 0.95:
            calls.append(("POST", base, "/bays", {"name": f"Bay {i}", "channels": 2}))
        else:
            calls.append(("DELETE", base, f"/devices/{rng.randint(5, 30)}", None))
    responses = run_all(calls)

    for (method, _, path, _), response in zip(calls, responses, strict=True):
        assert response.status_code in (200, 201, 404, 409, 422), (method, path, response.text)
    assert any(r.status_code == 200 and "patch-list" in str(r.url) for r in responses)
