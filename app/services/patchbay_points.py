"""Patchbay points: the jacks of the studio's patchbay."""

from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from app.core.errors import POINT_IN_USE, POINT_NOT_FOUND, Conflict
from app.db import shapes
from app.db.params import given_or_kept, integers, texts
from app.db.shapes import POINT, POINT_ROWS, body, found, returned
from app.models import PatchbayPoint
from app.schemas.patchbay_point import PointCreate, PointUpdate
from app.services.locks import lock_points, points_held

# In the order given: ids come from the sequence in insertion order. A point may go straight
# into a bay's slot (the patch list import); the API's own points start loose.
_GIVEN = (
    func.unnest(
        texts("names"),
        texts("descriptions"),
        texts("types"),
        integers("bays"),
        integers("channels"),
        texts("rows"),
    )
    .table_valued("name", "description", "type", "bay", "channel", "row", with_ordinality="n")
    .render_derived(name="given")
)
_COLUMNS = ["name", "description", "type", "bay_id", "bay_channel", "bay_row"]
_INSERTED = (
    insert(PatchbayPoint)
    .from_select(_COLUMNS, select(*list(_GIVEN.c)[:-1]).order_by(_GIVEN.c.n))
    .returning(*PatchbayPoint.__table__.c)
    .cte("pp")  # the alias the Point shape is written over
)
_INSERTED_IDS = select(_INSERTED.c.id).order_by(_INSERTED.c.id)
_CREATED_POINT = select(_INSERTED.c.id, returned(POINT))
_CREATED_POINTS = select(returned(f"json_agg({POINT} ORDER BY pp.id)")).select_from(_INSERTED)
pp = POINT_ROWS.c
_UPDATE_POINT = (
    update(POINT_ROWS)
    .where(pp.id == bindparam("point_id"))
    .values(given_or_kept(POINT_ROWS, "name", "description", "type"))
    .returning(returned(POINT))
)
_DELETE_POINT = delete(POINT_ROWS).where(pp.id == bindparam("point_id")).returning(returned(POINT))


def list_points(conn: Connection) -> str:
    """Every patchbay point, by id."""
    return body(conn, shapes.LIST_POINTS)


def get_point(conn: Connection, *, point_id: int) -> str:
    return found(conn, shapes.GET_POINT, {"id": point_id}, POINT_NOT_FOUND)


def _columns(
    points: list[PointCreate], slots: list[tuple[int, int, str] | None] | None = None
) -> dict[str, list[Any]]:
    placed = slots or [None] * len(points)
    return {
        "names": [point.name for point in points],
        "descriptions": [point.description for point in points],
        "types": [point.type for point in points],
        "bays": [slot and slot[0] for slot in placed],
        "channels": [slot and slot[1] for slot in placed],
        "rows": [slot and slot[2] for slot in placed],
    }


def insert_points(
    conn: Connection, points: list[PointCreate], slots: list[tuple[int, int, str] | None]
) -> list[int]:
    """Insert points, loose or into the (bay, channel, row) slots the caller holds; their ids,
    in order."""
    if not points:
        return []
    return [int(point) for point in conn.execute(_INSERTED_IDS, _columns(points, slots)).scalars()]


def create_point(conn: Connection, *, data: PointCreate) -> tuple[int, str]:
    """Insert one point; its id and Point JSON."""
    point_id, shown = conn.execute(_CREATED_POINT, _columns([data])).one()
    return int(point_id), str(shown)


def create_points(conn: Connection, *, points: list[PointCreate]) -> str:
    """Insert the points in the given order, all or nothing; the JSON array of them."""
    return body(conn, _CREATED_POINTS, _columns(points))


def update_point(conn: Connection, *, point_id: int, data: PointUpdate) -> str:
    changes = data.changes()
    params = {
        "point_id": point_id,
        **{field: changes.get(field) for field in ("name", "description", "type")},
    }
    return found(conn, _UPDATE_POINT, params, POINT_NOT_FOUND)


def delete_point(conn: Connection, *, point_id: int) -> str:
    """Delete a free point (409 while it holds a port or a plug); a bay slot it sat in is left
    empty."""
    lock_points(conn, [point_id])
    if points_held(conn, [point_id]):
        raise Conflict(POINT_IN_USE)
    return body(conn, _DELETE_POINT, {"point_id": point_id})
