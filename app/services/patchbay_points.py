"""Patchbay points: the jacks of the studio's patchbay."""

from typing import Any

from app.core.errors import POINT_IN_USE, POINT_NOT_FOUND, Conflict, NotFound
from app.db.pool import Connection
from app.db.shapes import POINT
from app.schemas.patchbay_point import PointCreate, PointUpdate
from app.services.locks import lock_points, points_held

# In the order given: ids come from the sequence in insertion order. A point may go straight
# into a bay's slot (the patch list import); the API's own points start loose.
_INSERT_POINTS = """
    WITH pp AS (
        INSERT INTO patchbay_points (name, description, type, bay_id, bay_channel, bay_row)
        SELECT name, description, type, bay, channel, row
          FROM unnest(%(names)s::text[], %(descriptions)s::text[], %(types)s::text[],
                      %(bays)s::integer[], %(channels)s::integer[], %(rows)s::text[])
               WITH ORDINALITY AS given(name, description, type, bay, channel, row, n)
         ORDER BY n
        RETURNING *)
"""
_CREATED_POINT = f"{_INSERT_POINTS} SELECT pp.id, {POINT}::text FROM pp"
_CREATED_POINTS = f"{_INSERT_POINTS} SELECT json_agg({POINT} ORDER BY pp.id)::text FROM pp"
_UPDATE_POINT = f"""
    UPDATE patchbay_points pp SET name = coalesce(%(name)s, name),
           description = coalesce(%(description)s, description), type = coalesce(%(type)s, type)
     WHERE pp.id = %(id)s RETURNING {POINT}::text
"""
_DELETE_POINT = f"DELETE FROM patchbay_points pp WHERE pp.id = %(id)s RETURNING {POINT}::text"


_INSERTED_IDS = f"{_INSERT_POINTS} SELECT pp.id FROM pp ORDER BY pp.id"


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


async def insert_points(
    conn: Connection, points: list[PointCreate], slots: list[tuple[int, int, str] | None]
) -> list[int]:
    """Insert points, loose or into the (bay, channel, row) slots the caller holds; their ids,
    in order."""
    if not points:
        return []
    rows = await (await conn.execute(_INSERTED_IDS, _columns(points, slots))).fetchall()
    return [int(row[0]) for row in rows]


async def create_point(conn: Connection, *, data: PointCreate) -> tuple[int, str]:
    """Insert one point; its id and Point JSON."""
    row = await (await conn.execute(_CREATED_POINT, _columns([data]))).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


async def create_points(conn: Connection, *, points: list[PointCreate]) -> str:
    """Insert the points in the given order, all or nothing; the JSON array of them."""
    row = await (await conn.execute(_CREATED_POINTS, _columns(points))).fetchone()
    assert row is not None
    return str(row[0])


async def update_point(conn: Connection, *, point_id: int, data: PointUpdate) -> str:
    changes = data.changes()
    params = {
        "id": point_id,
        **{field: changes.get(field) for field in ("name", "description", "type")},
    }
    row = await (await conn.execute(_UPDATE_POINT, params)).fetchone()
    if row is None:
        raise NotFound(POINT_NOT_FOUND)
    return str(row[0])


async def delete_point(conn: Connection, *, point_id: int) -> str:
    """Delete a free point (409 while it holds a port or a plug); a bay slot it sat in is left
    empty."""
    await lock_points(conn, [point_id])
    if await points_held(conn, [point_id]):
        raise Conflict(POINT_IN_USE)
    deleted = await (await conn.execute(_DELETE_POINT, {"id": point_id})).fetchone()
    assert deleted is not None, "the point is locked, so it still exists"
    return str(deleted[0])
