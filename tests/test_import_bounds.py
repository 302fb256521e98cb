"""The JSON import's bounds (SPEC G) and what it takes as a body: a studio of 20,000 points
imports; an import past a bound is a 413 naming it, decided as the document is read, before
the studio is locked; a body that is not a document is FastAPI's 422; the document is declared
in OpenAPI with standard keywords only."""

import json
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.core.echo import MAX_ERRORS
from app.core.errors import too_many
from app.db.session import STUDIO_LOCK
from app.schemas import studio as bounds
from app.schemas.common import INT32_MAX
from tests.helpers import JSON, Db, count

TIME = "2026-11-01T10:00:00+00:00"
MIB = 2**20


def document(**lists: Any) -> dict[str, Any]:
    return {"format": "pepper-studio", "version": 1, **lists}


def post(client: TestClient, body: bytes, *, dry_run: bool = True) -> Any:
    params = {"dry_run": str(dry_run).lower()}
    return client.post("/import", params=params, content=body, headers=JSON)


def big_studio(*, bays: int, channels: int, devices: int, ports: int, cables: int) -> Any:
    """A studio of `2 * bays * channels` points in bays, a port on every other point after the
    cables' (`devices` devices of `ports` ports), cables on the first points, and one scene
    holding it all; its document."""
    points, slots = [], []
    for bay in range(1, bays + 1):
        numbered = []
        for number in range(1, channels + 1):
            top, bottom = len(points) + 1, len(points) + 2
            points += [
                {"id": top, "name": f"Bay {bay} {number}T", "description": "", "type": "standard"},
                {
                    "id": bottom,
                    "name": f"Bay {bay} {number}B",
                    "description": "",
                    "type": "standard",
                },
            ]
            numbered.append(
                {
                    "number": number,
                    "mode": "half-normal",
                    "top_point_id": top,
                    "bottom_point_id": bottom,
                }
            )
        slots.append({"id": bay, "name": f"Bay {bay}", "description": "", "channels": numbered})
    wired = iter(range(2 * cables + 1, len(points) + 1))
    made = [
        {
            "id": d,
            "name": f"Device {d}",
            "type": "Synth",
            "last_port_number": ports,
            "ports": [
                {
                    "id": f"dev-{d}-port-{p}",
                    "label": f"OUT {p}",
                    "type": "Output",
                    "patchbay_id": next(wired, None),
                }
                for p in range(1, ports + 1)
            ],
        }
        for d in range(1, devices + 1)
    ]
    plugged = [
        {"id": k, "points": [2 * k - 1, 2 * k], "label": "", "color": None}
        for k in range(1, cables + 1)
    ]
    scene = {
        "id": 1,
        "name": "All of it",
        "description": "",
        "created_at": TIME,
        "updated_at": TIME,
        "links": [
            {"port_id": p["id"], "patchbay_id": p["patchbay_id"]} for d in made for p in d["ports"]
        ],
        "cables": [{"points": c["points"], "label": "", "color": None} for c in plugged],
        "modes": [
            {"bay_id": b["id"], "channel": c["number"], "mode": c["mode"]}
            for b in slots
            for c in b["channels"]
        ],
    }
    return document(
        bays=slots, patchbay_points=points, devices=made, cables=plugged, scenes=[scene]
    )


def test_a_studio_of_20000_points_imports(client: TestClient, db: Db) -> None:
    """SPEC G: at least 20,000 points within 16 MiB, with their devices, ports, cables and a
    scene of it all."""
    body = json.dumps(
        big_studio(bays=209, channels=48, devices=1254, ports=16, cables=5000)
    ).encode()
    assert len(body) < 16 * MIB
    response = post(client, body, dry_run=False)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["create"] == {
        "bays": 209,
        "patchbay_points": 20064,
        "devices": 1254,
        "ports": 20064,
        "cables": 5000,
        "scenes": 1,
        "electrical": 0,
    }
    assert count(db, "patchbay_points") == 20064 and count(db, "cable_ends") == 10000


ONE = {"number": 1, "mode": "thru", "top_point_id": None, "bottom_point_id": None}
EMPTY_SCENE = {"created_at": TIME, "updated_at": TIME, "links": [], "cables": [], "modes": []}


def _points(n: int) -> dict[str, Any]:
    return document(patchbay_points=[{"id": i, "name": "p"} for i in range(1, n + 1)])


def _ports(n: int) -> dict[str, Any]:
    # Two devices: the bound is on all their ports together.
    port = {"label": "l", "type": "Other", "patchbay_id": None}
    first = [{**port, "id": f"a{i}"} for i in range(n // 2)]
    second = [{**port, "id": f"b{i}"} for i in range(n - n // 2)]
    devices = [
        {"id": i, "name": "d", "type": "t", "ports": ports}
        for i, ports in ((1, first), (2, second))
    ]
    return document(devices=devices)


def _channels(n: int) -> dict[str, Any]:
    channel = {"mode": "thru", "top_point_id": None, "bottom_point_id": None}
    per_bay = [{**channel, "number": c} for c in range(1, 97)]
    return document(
        bays=[{"id": b, "name": f"B{b}", "channels": per_bay} for b in range(1, n // 96 + 2)]
    )


def _scene_items(n: int) -> dict[str, Any]:
    scene = {"description": "", "created_at": TIME, "updated_at": TIME, "cables": [], "modes": []}
    links = [{"port_id": f"p{i}", "patchbay_id": None} for i in range(n)]
    per_scene = 50_000
    scenes = [
        {**scene, "id": s + 1, "name": f"S{s}", "links": links[s * per_scene : (s + 1) * per_scene]}
        for s in range(0, n // per_scene + 1)
    ]
    return document(scenes=scenes)


PAST: dict[str, tuple[Any, str, int]] = {
    "points": (_points, "patchbay points", bounds.MAX_POINTS),
    "ports": (_ports, "ports", bounds.MAX_PORTS),
    "channels": (_channels, "channels", bounds.MAX_CHANNELS),
    "bays": (
        lambda n: document(
            bays=[{"id": i, "name": f"B{i}", "channels": [ONE]} for i in range(1, n + 1)]
        ),
        "bays",
        bounds.MAX_BAYS,
    ),
    "devices": (
        lambda n: document(devices=[{"id": i, "name": "d", "type": "t"} for i in range(1, n + 1)]),
        "devices",
        bounds.MAX_DEVICES,
    ),
    "cables": (
        lambda n: document(cables=[{"id": i, "points": [1, 2]} for i in range(1, n + 1)]),
        "cables",
        bounds.MAX_CABLES,
    ),
    "scenes": (
        lambda n: document(
            scenes=[{**EMPTY_SCENE, "id": i, "name": f"S{i}"} for i in range(1, n + 1)]
        ),
        "scenes",
        bounds.MAX_SCENES,
    ),
    "scene items": (_scene_items, "scene links, cables and modes", bounds.MAX_SCENE_ITEMS),
}


@pytest.mark.parametrize("kind", PAST)
def test_an_import_past_a_bound_is_413_naming_it(client: TestClient, db: Db, kind: str) -> None:
    """Counted as the document is read: the first item past the bound stops it (and the rest
    is not read)."""
    build, what, bound = PAST[kind]
    body = json.dumps(build(bound + 1)).encode()
    assert len(body) < 16 * MIB
    for dry_run in (True, False):
        response = post(client, body, dry_run=dry_run)
        assert (response.status_code, response.json()) == (413, {"detail": too_many(what, bound)})
    assert count(db, "patchbay_points") == count(db, "devices") == count(db, "scenes") == 0


HEAD = b'{"format": "pepper-studio", "version": 1, '
# A body, and the type and `loc` of the first error of its 422.
NOT_A_DOCUMENT: dict[str, tuple[bytes, str, list[Any]]] = {
    "empty": (b"", "json_invalid", ["body", 0]),
    "cut short": (HEAD, "json_invalid", ["body", len(HEAD)]),
    "a list": (b"[]", "model_type", ["body"]),
    "a string": (b'"studio"', "model_type", ["body"]),
    "not UTF-8": (HEAD + b'"x": "\xc3\x28"}', "json_invalid", ["body", len(HEAD) + 6]),
    "two documents": (HEAD[:-2] + b"} {}", "json_invalid", ["body", len(HEAD)]),
    "a trailing comma": (HEAD + b"}", "json_invalid", ["body", len(HEAD)]),
    "nested too deeply": (HEAD + b'"bays": ' + b"[" * 100_000, "json_invalid", ["body", 0]),
    "a number of 5,000 digits": (
        HEAD + b'"cables": [{"id": ' + b"9" * 5000 + b"}]}",
        "json_invalid",
        ["body", 0],
    ),
    "a list without objects, 0.9 MB long": (
        HEAD + b'"cables": [' + b"1," * 450_000 + b"1]}",
        "value_error",
        ["body"],
    ),
    "an item of a thousand objects": (
        HEAD + b'"bays": [{"id": 1, "name": [' + b"{}, " * 1000 + b"{}]}]}",
        "json_invalid",
        ["body", len(HEAD) + 9],
    ),
    "a list twice": (HEAD + b'"bays": [], "bays": []}', "value_error", ["body", "bays"]),
    "ports twice": (
        HEAD + b'"devices": [{"id": 1, "name": "d", "type": "t", "ports": [], "ports": []}]}',
        "value_error",
        ["body", "devices", 0, "ports"],
    ),
    "NaN for an id": (
        HEAD + b'"patchbay_points": [{"id": NaN, "name": "p"}]}',
        "finite_number",
        ["body", "patchbay_points", 0, "id"],
    ),
    "a bay that is a number": (HEAD + b'"bays": [7]}', "model_type", ["body", "bays", 0]),
    "bays that are an object": (HEAD + b'"bays": {}}', "list_type", ["body", "bays"]),
    "scenes that are a string": (HEAD + b'"scenes": "all"}', "list_type", ["body", "scenes"]),
}


@pytest.mark.parametrize("case", NOT_A_DOCUMENT)
def test_a_body_that_is_not_a_document_is_422(client: TestClient, db: Db, case: str) -> None:
    """FastAPI's own 422 list shape, `loc` pointing into the body (a character offset when it
    is not JSON), clipped; nothing changes, and the server keeps serving."""
    body, kind, loc = NOT_A_DOCUMENT[case]
    response = post(client, body, dry_run=False)
    assert response.status_code == 422, response.text[:300]
    [first, *_] = response.json()["detail"]
    assert (first["type"], first["loc"]) == (kind, loc), first
    assert len(response.content) < 4096
    assert client.get("/health").status_code == 200
    assert count(db, "bays") == 0


def test_a_document_of_many_bad_items_names_the_first_ones(client: TestClient) -> None:
    """Reading stops once there are enough errors to answer (MAX_ERRORS shown, and a line
    saying there are more)."""
    points = [{"id": n, "name": 5} for n in range(1, 5001)]
    response = post(client, json.dumps(document(patchbay_points=points)).encode())
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(detail) == MAX_ERRORS + 1 and detail[-1]["type"] == "too_many_errors"
    assert [error["loc"] for error in detail[:2]] == [
        ["body", "patchbay_points", 0, "name"],
        ["body", "patchbay_points", 1, "name"],
    ]


def test_a_document_in_utf_16_imports_as_json_loads_would(client: TestClient) -> None:
    body = json.dumps(document()).encode("utf-16")
    assert post(client, body).status_code == 200


def test_a_document_with_another_content_type_is_415(client: TestClient) -> None:
    for headers in ({"Content-Type": "text/plain"}, {}):
        response = client.post("/import", content=json.dumps(document()), headers=headers)
        assert (response.status_code, response.json()) == (
            415,
            {"detail": "Content-Type must be application/json"},
        )


def test_a_refused_import_does_not_wait_for_the_studio(
    committing_client: TestClient, engine: Engine
) -> None:
    """Bounds and the document's checks are decided before the import takes the studio: with
    a write under way (its hold on the studio held here), refusals come at once; the import
    itself waits for the write."""
    held, release = threading.Event(), threading.Event()

    def write_under_way() -> None:
        with engine.begin() as conn:
            conn.execute(select(func.pg_advisory_xact_lock_shared(STUDIO_LOCK)))
            held.set()
            release.wait(30)

    writer = threading.Thread(target=write_under_way)
    writer.start()
    try:
        held.wait(10)
        too_many_points = json.dumps(_points(bounds.MAX_POINTS + 1)).encode()
        assert post(committing_client, too_many_points).status_code == 413
        bad = document(cables=[{"id": 1, "points": [1, 2]}])
        assert post(committing_client, json.dumps(bad).encode()).status_code == 422
    finally:
        release.set()
        writer.join()
    assert post(committing_client, json.dumps(document()).encode()).status_code == 200


def _schema_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _schema_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _schema_keys(item)}
    return set()


def test_the_document_is_declared_in_openapi(client: TestClient) -> None:
    """Swagger shows the body of POST /import with its example, and its ids as integers from 1
    to 2^31-1 in standard keywords only."""
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/import"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StudioDocument"
    }
    schemas = spec["components"]["schemas"]
    assert schemas["StudioDocument"]["examples"][0]["format"] == "pepper-studio"
    assert (
        schemas["StudioDocument"]["properties"]["patchbay_points"]["maxItems"] == bounds.MAX_POINTS
    )
    studio = {name: schema for name, schema in schemas.items() if name.startswith("Studio")}
    assert not _schema_keys(studio) & {"ge", "le", "gt", "lt"}
    for name, field in (("StudioPoint", "id"), ("StudioDevice", "id"), ("StudioCable", "id")):
        assert schemas[name]["properties"][field] == {
            "type": "integer",
            "minimum": 1,
            "maximum": INT32_MAX,
            "title": "Id",
        }
    assert set(schemas["ImportResult"]["required"]) >= {"delete", "create", "update"}
