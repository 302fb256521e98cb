"""Patch cables: plugging the front jacks of two points together."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Connection,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)

from app.core.errors import CABLE_NOT_FOUND, JACK_PATCHED, Conflict, NotFound
from app.db import shapes
from app.db.params import given_or_kept, integers, texts
from app.db.shapes import CABLE, CABLE_ROWS, body, found, returned
from app.models import Cable, CableEnd
from app.schemas.cable import CableCreate, CableUpdate
from app.services.locks import lock_cable, lock_points, points_held

_NEW_IDS = select(func.nextval(func.pg_get_serial_sequence("cables", "id"))).select_from(
    func.generate_series(1, bindparam("n"))
)
_CABLES = (
    func.unnest(integers("ids"), texts("labels"), texts("colors"))
    .table_valued("id", "label", "color")
    .render_derived(name="given")
)
_INSERT_CABLES = insert(Cable).from_select(["id", "label", "color"], select(*_CABLES.c))
_ENDS_GIVEN = (
    func.unnest(integers("cables"), integers("ends"), integers("points"))
    .table_valued("cable", "end", "point")
    .render_derived(name="given")
)
_INSERT_ENDS = insert(CableEnd).from_select(
    ["cable_id", "end_number", "point_id"], select(*_ENDS_GIVEN.c)
)
_UNPLUG = delete(Cable).where(Cable.id == any_(integers("ids")))
_RELABEL = (
    update(Cable)
    .where(Cable.id == _CABLES.c.id)
    .values(label=_CABLES.c.label, color=_CABLES.c.color)
)
k = CABLE_ROWS.c
_UPDATE_CABLE = (
    update(CABLE_ROWS)
    .where(k.id == bindparam("cable_id"))
    .values(
        **given_or_kept(CABLE_ROWS, "label"),
        color=case(
            (bindparam("set_color", type_=Boolean), bindparam("color", type_=k.color.type)),
            else_=k.color,
        ),
    )
    .returning(returned(CABLE))
)
_ENDS = select(CableEnd.point_id).where(CableEnd.cable_id == bindparam("id"))


def list_cables(conn: Connection) -> str:
    """Every cable by id."""
    return body(conn, shapes.LIST_CABLES)


def get_cable(conn: Connection, *, cable_id: int) -> str:
    return found(conn, shapes.GET_CABLE, {"id": cable_id}, CABLE_NOT_FOUND)


@dataclass(frozen=True)
class NewCable:
    points: tuple[int, int]
    label: str
    color: str | None


def insert_cables(conn: Connection, cables: Sequence[NewCable]) -> list[int]:
    """Plug cables into jacks the caller has locked and found free; their ids, in order."""
    if not cables:
        return []
    ids = [int(n) for n in conn.execute(_NEW_IDS, {"n": len(cables)}).scalars()]
    labels = {"labels": [cable.label for cable in cables], "colors": [c.color for c in cables]}
    conn.execute(_INSERT_CABLES, {"ids": ids, **labels})
    ends = {
        "cables": [cable_id for cable_id in ids for _ in (1, 2)],
        "ends": [1, 2] * len(ids),
        "points": [point for cable in cables for point in cable.points],
    }
    conn.execute(_INSERT_ENDS, ends)
    return ids


def unplug(conn: Connection, cable_ids: Sequence[int]) -> None:
    """Remove locked cables (their ends go with them)."""
    if cable_ids:
        conn.execute(_UNPLUG, {"ids": list(cable_ids)})


def relabel(conn: Connection, cables: Sequence[tuple[int, str, str | None]]) -> None:
    """Set (id, label, color) of locked cables."""
    if cables:
        ids, labels, colors = (list(column) for column in zip(*cables, strict=True))
        conn.execute(_RELABEL, {"ids": ids, "labels": labels, "colors": colors})


def create_cable(conn: Connection, *, data: CableCreate) -> tuple[int, str]:
    """Plug a cable into two free jacks (404 unknown point, 409 a jack already holds a plug)."""
    a, b = data.points
    lock_points(conn, data.points)
    if points_held(conn, data.points, rear=False):
        raise Conflict(JACK_PATCHED)
    [cable_id] = insert_cables(conn, [NewCable((a, b), data.label, data.color)])
    return cable_id, get_cable(conn, cable_id=cable_id)


def update_cable(conn: Connection, *, cable_id: int, data: CableUpdate) -> str:
    changes = data.changes()
    params = {
        "cable_id": cable_id,
        "label": changes.get("label"),
        "set_color": "color" in changes,
        "color": changes.get("color"),
    }
    return found(conn, _UPDATE_CABLE, params, CABLE_NOT_FOUND)


def delete_cable(conn: Connection, *, cable_id: int) -> str:
    """Unplug the cable; returns it as it was."""
    ends = list(conn.execute(_ENDS, {"id": cable_id}).scalars())
    if not ends:
        raise NotFound(CABLE_NOT_FOUND)
    # Its jacks first, then the cable (the lock order); a cable's ends never change.
    lock_points(conn, ends)
    lock_cable(conn, cable_id)
    shown = get_cable(conn, cable_id=cable_id)
    unplug(conn, [cable_id])
    return shown
