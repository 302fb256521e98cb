"""The whole studio in and out as one JSON document (SPEC D6).

An import replaces everything in one transaction, ids kept: it checks the document first (a
422 naming the bad item, before anything is touched), then takes the studio's tables in
EXCLUSIVE mode (reads go on; writes wait for it), deletes what is there and inserts the
document. Every id sequence moves past the ids it brings (migration 0005's triggers).
"""

import json
from typing import Any

from app.core.errors import ITEM_CABLE_TO_ITSELF, ITEM_JACK_PATCHED, Invalid
from app.db.pool import Connection
from app.db.shapes import REVISION
from app.schemas.studio import StudioDocument
from app.services.locks import lock_studio

_COUNTS = """
    SELECT (SELECT count(*) FROM bays), (SELECT count(*) FROM patchbay_points),
           (SELECT count(*) FROM devices), (SELECT count(*) FROM ports),
           (SELECT count(*) FROM cables), (SELECT count(*) FROM scenes)
"""
KINDS = ("bays", "patchbay_points", "devices", "ports", "cables", "scenes")
_EMPTY = (
    "DELETE FROM scenes",
    "DELETE FROM cables",  # and their ends
    "DELETE FROM ports",
    "DELETE FROM devices",
    "DELETE FROM bays",  # and their channels, and the points in them
    "DELETE FROM patchbay_points",
)
_FILL = (
    (
        "devices",
        "INSERT INTO devices (id, name, type, last_port_number) SELECT * FROM "
        "jsonb_to_recordset(%(rows)s::jsonb) AS r(id integer, name text, type text, last_port_number integer)",
    ),
    (
        "bays",
        "INSERT INTO bays (id, name, description) SELECT * FROM "
        "jsonb_to_recordset(%(rows)s::jsonb) AS r(id integer, name text, description text)",
    ),
    (
        "bay_channels",
        "INSERT INTO bay_channels (bay_id, number, mode) SELECT bay_id, number, "
        "mode::normalling_mode FROM jsonb_to_recordset(%(rows)s::jsonb) "
        "AS r(bay_id integer, number integer, mode text)",
    ),
    (
        "patchbay_points",
        "INSERT INTO patchbay_points (id, name, description, type, bay_id, bay_channel, bay_row) "
        "SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(id integer, name text, "
        "description text, type text, bay_id integer, bay_channel integer, bay_row text)",
    ),
    (
        # In the document's order, which is their creation order (`position`).
        "ports",
        "INSERT INTO ports (id, device_id, label, type, patchbay_id) "
        "SELECT id, device_id, label, type::port_type, patchbay_id "
        "FROM ROWS FROM (jsonb_to_recordset(%(rows)s::jsonb) AS (id text, device_id integer, "
        "label text, type text, patchbay_id integer)) WITH ORDINALITY "
        "AS r(id, device_id, label, type, patchbay_id, n) ORDER BY n",
    ),
    (
        "cables",
        "INSERT INTO cables (id, label, color) SELECT * FROM "
        "jsonb_to_recordset(%(rows)s::jsonb) AS r(id integer, label text, color text)",
    ),
    (
        "cable_ends",
        "INSERT INTO cable_ends (cable_id, end_number, point_id) SELECT * FROM "
        "jsonb_to_recordset(%(rows)s::jsonb) AS r(cable_id integer, end_number smallint, point_id integer)",
    ),
    (
        "scenes",
        "INSERT INTO scenes (id, name, description, created_at, updated_at, content) "
        "SELECT id, name, description, created_at, updated_at, content::json FROM "
        "jsonb_to_recordset(%(rows)s::jsonb) AS r(id integer, name text, description text, "
        "created_at timestamptz, updated_at timestamptz, content jsonb)",
    ),
)


def _once(values: list[Any], loc: tuple[str, ...], what: str) -> None:
    """422 naming the first item that repeats a value that must be unique."""
    seen: set[Any] = set()
    for n, value in enumerate(values):
        if value in seen:
            raise Invalid(("body", *loc[:1], n, *loc[1:]), f"{what} {value!r} appears twice", value)
        seen.add(value)


def check(doc: StudioDocument) -> None:
    """What JSON Schema cannot say about a document: ids unique, references resolved, each
    point in one slot, holding one port and one plug at most. 422 naming the item."""
    _once([bay.id for bay in doc.bays], ("bays", "id"), "bay id")
    _once([bay.name for bay in doc.bays], ("bays", "name"), "bay name")
    _once([point.id for point in doc.patchbay_points], ("patchbay_points", "id"), "point id")
    _once([device.id for device in doc.devices], ("devices", "id"), "device id")
    _once([cable.id for cable in doc.cables], ("cables", "id"), "cable id")
    _once([scene.id for scene in doc.scenes], ("scenes", "id"), "scene id")
    _once([scene.name for scene in doc.scenes], ("scenes", "name"), "scene name")
    points = {point.id for point in doc.patchbay_points}
    _check_slots(doc, points)
    _check_ports(doc, points)
    _check_cables(doc, points)


def _known(points: set[int], point: int | None, loc: tuple[Any, ...]) -> None:
    if point is not None and point not in points:
        raise Invalid(("body", *loc), "not a point of this document", point)


def _check_slots(doc: StudioDocument, points: set[int]) -> None:
    slotted: set[int] = set()
    for b, bay in enumerate(doc.bays):
        for c, channel in enumerate(bay.channels):  # numbered 1..N: StudioBay checks it
            for field in ("top_point_id", "bottom_point_id"):
                point, loc = getattr(channel, field), ("bays", b, "channels", c, field)
                _known(points, point, loc)
                if point in slotted:
                    raise Invalid(("body", *loc), "point already in a slot", point)
                if point is not None:
                    slotted.add(point)


def _check_ports(doc: StudioDocument, points: set[int]) -> None:
    ports: set[str] = set()
    held: set[int] = set()
    for d, device in enumerate(doc.devices):
        for p, port in enumerate(device.ports):
            loc = ("devices", d, "ports", p)
            if port.id in ports:
                raise Invalid(("body", *loc, "id"), "port id appears twice", port.id)
            ports.add(port.id)
            _known(points, port.patchbay_id, (*loc, "patchbay_id"))
            if port.patchbay_id in held:
                raise Invalid(
                    ("body", *loc, "patchbay_id"), "point already held by a port", port.patchbay_id
                )
            if port.patchbay_id is not None:
                held.add(port.patchbay_id)


def _check_cables(doc: StudioDocument, points: set[int]) -> None:
    plugged: set[int] = set()
    for k, cable in enumerate(doc.cables):
        if cable.points[0] == cable.points[1]:
            raise Invalid(("body", "cables", k, "points"), ITEM_CABLE_TO_ITSELF, cable.points)
        for e, point in enumerate(cable.points):
            _known(points, point, ("cables", k, "points", e))
            if point in plugged:
                raise Invalid(("body", "cables", k, "points", e), ITEM_JACK_PATCHED, point)
            plugged.add(point)


def created(doc: StudioDocument) -> dict[str, int]:
    return {
        "bays": len(doc.bays),
        "patchbay_points": len(doc.patchbay_points),
        "devices": len(doc.devices),
        "ports": sum(len(device.ports) for device in doc.devices),
        "cables": len(doc.cables),
        "scenes": len(doc.scenes),
    }


async def counts(conn: Connection) -> dict[str, int]:
    row = await (await conn.execute(_COUNTS)).fetchone()
    assert row is not None
    return dict(zip(KINDS, (int(n) for n in row), strict=True))


def _rows(doc: StudioDocument) -> dict[str, list[dict[str, Any]]]:
    slots = {
        point: (bay.id, channel.number, row)
        for bay in doc.bays
        for channel in bay.channels
        for row, point in (("top", channel.top_point_id), ("bottom", channel.bottom_point_id))
        if point is not None
    }
    no_slot = (None, None, None)
    return {
        "devices": [device.model_dump(exclude={"ports"}) for device in doc.devices],
        "bays": [bay.model_dump(include={"id", "name", "description"}) for bay in doc.bays],
        "bay_channels": [
            {"bay_id": bay.id, "number": channel.number, "mode": channel.mode.value}
            for bay in doc.bays
            for channel in bay.channels
        ],
        "patchbay_points": [
            {
                **point.model_dump(),
                **dict(
                    zip(
                        ("bay_id", "bay_channel", "bay_row"),
                        slots.get(point.id, no_slot),
                        strict=True,
                    )
                ),
            }
            for point in doc.patchbay_points
        ],
        "ports": [
            {**port.model_dump(mode="json"), "device_id": device.id}
            for device in doc.devices
            for port in device.ports
        ],
        "cables": [cable.model_dump(include={"id", "label", "color"}) for cable in doc.cables],
        "cable_ends": [
            {"cable_id": cable.id, "end_number": n, "point_id": point}
            for cable in doc.cables
            for n, point in enumerate(cable.points, start=1)
        ],
        "scenes": [
            {
                **scene.model_dump(
                    mode="json", include={"id", "name", "description", "created_at", "updated_at"}
                ),
                "content": scene.model_dump(mode="json", include={"links", "cables", "modes"}),
            }
            for scene in doc.scenes
        ],
    }


async def import_studio(conn: Connection, *, doc: StudioDocument, dry_run: bool) -> dict[str, Any]:
    """Replace the studio with the document (a dry run changes nothing); what goes and what
    comes, and the revision the import made."""
    check(doc)
    if dry_run:
        return {
            "dry_run": True,
            "revision": None,
            "delete": await counts(conn),
            "create": created(doc),
        }
    await lock_studio(conn, with_scenes=True)
    before = await counts(conn)
    for statement in _EMPTY:
        await conn.execute(statement)
    rows = _rows(doc)
    for table, statement in _FILL:
        if rows[table]:
            await conn.execute(statement, {"rows": json.dumps(rows[table])})
    # Deferred checks, and the triggers that give the import its revision, run now.
    await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    row = await (await conn.execute(REVISION)).fetchone()
    assert row is not None
    return {"dry_run": False, "revision": int(row[0]), "delete": before, "create": created(doc)}
