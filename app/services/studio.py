"""The whole studio in and out as one JSON document (SPEC D6).

An import replaces everything in one transaction, ids kept: it checks the document first (a
422 naming the bad item, before anything is touched), then takes the studio's tables in
EXCLUSIVE mode (reads go on; writes wait for it), deletes what is there and inserts the
document. Every id sequence moves past the ids it brings (migration 0005's triggers).
"""

from typing import Any

from sqlalchemy import Connection, Insert, delete, func, insert, select

from app.core.errors import ITEM_CABLE_TO_ITSELF, ITEM_JACK_PATCHED, Invalid
from app.db import shapes
from app.db.params import json_rows
from app.db.shapes import IMMEDIATE, REVISION, body
from app.models import Bay, BayChannel, Cable, CableEnd, Device, PatchbayPoint, Port, Scene
from app.schemas.studio import StudioDocument
from app.services.locks import lock_studio

KINDS = ("bays", "patchbay_points", "devices", "ports", "cables", "scenes")
_COUNTS = select(
    *(
        select(func.count()).select_from(model).scalar_subquery()
        for model in (Bay, PatchbayPoint, Device, Port, Cable, Scene)
    )
)
# Children before parents; cables take their ends, bays their channels and the points in them.
_EMPTY = tuple(delete(model) for model in (Scene, Cable, Port, Device, Bay, PatchbayPoint))


def _insert_rows(model: Any, columns: list[str], *, ordered: bool = False) -> Insert:
    """INSERT of the document's rows of a table, in one statement; `ordered` rows go in in
    the order of their `n`."""
    rows = json_rows(model.__table__, columns, ordered=ordered)
    chosen = select(*(rows.c[name] for name in columns))
    return insert(model).from_select(columns, chosen.order_by(rows.c.n) if ordered else chosen)


# Parents first.
_FILL = (
    ("devices", _insert_rows(Device, ["id", "name", "type", "last_port_number"])),
    ("bays", _insert_rows(Bay, ["id", "name", "description"])),
    ("bay_channels", _insert_rows(BayChannel, ["bay_id", "number", "mode"])),
    (
        "patchbay_points",
        _insert_rows(
            PatchbayPoint,
            ["id", "name", "description", "type", "bay_id", "bay_channel", "bay_row"],
        ),
    ),
    # In the document's order, which is their creation order (`position`).
    (
        "ports",
        _insert_rows(Port, ["id", "device_id", "label", "type", "patchbay_id"], ordered=True),
    ),
    ("cables", _insert_rows(Cable, ["id", "label", "color"])),
    ("cable_ends", _insert_rows(CableEnd, ["cable_id", "end_number", "point_id"])),
    (
        "scenes",
        _insert_rows(Scene, ["id", "name", "description", "created_at", "updated_at", "content"]),
    ),
)


def export(conn: Connection) -> str:
    """The whole studio as one document, read in one snapshot."""
    return body(conn, shapes.EXPORT)


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


def counts(conn: Connection) -> dict[str, int]:
    row = conn.execute(_COUNTS).one()
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
            {**port.model_dump(mode="json"), "device_id": device.id, "n": n}
            for n, (device, port) in enumerate(
                (device, port) for device in doc.devices for port in device.ports
            )
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


def import_studio(conn: Connection, *, doc: StudioDocument, dry_run: bool) -> dict[str, Any]:
    """Replace the studio with the document (a dry run changes nothing); what goes and what
    comes, and the revision the import made."""
    check(doc)
    if dry_run:
        return {"dry_run": True, "revision": None, "delete": counts(conn), "create": created(doc)}
    lock_studio(conn, with_scenes=True)
    before = counts(conn)
    for emptied in _EMPTY:
        conn.execute(emptied)
    rows = _rows(doc)
    for table, filled in _FILL:
        if rows[table]:
            conn.execute(filled, {"rows": rows[table]})
    # Deferred checks, and the triggers that give the import its revision, run now.
    conn.execute(IMMEDIATE)
    revision = int(conn.execute(REVISION).scalar_one())
    return {"dry_run": False, "revision": revision, "delete": before, "create": created(doc)}
