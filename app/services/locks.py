"""The write primitives every service builds on, and the one lock order they follow.

Lock order. A write locks every row it will change, or whose state it decides on, before it
writes anything, in this order:

    bays (by id) -> patchbay points (by id) -> ports (by id) -> cables (by id) -> devices (by id)

and the `state_revision` row last of all, at COMMIT (its triggers are deferred). A request that
skips a level keeps the order of the rest. Devices come last because PostgreSQL itself takes a
key-share lock on a port's device after the port's own (when a transaction updates a port row
twice, its foreign key is checked again): deleting a device locks its ports and then the device,
adding a port locks its point and then the device, a revert locks the whole patch and then the
devices. So two requests that want the same rows queue on the first of them instead of waiting
on each other, in any number of API processes; PostgreSQL's `lock_timeout` bounds every wait
anyway (503, never a hang).

Every change of what a point holds (a port at the rear, a plug at the front, a slot in a bay)
first locks that point: the point's row lock serialises everyone who wants it.

The imports rebuild the whole studio. No table order can keep them clear of the other writes,
because an INSERT takes its own table's lock before its parents' (PostgreSQL's foreign key
check): so every write transaction of the API holds the studio's advisory lock in shared mode
from its first statement, and an import holds it alone (`app/db/pool.py`). An import then
waits for the writes under way, and the writes after it wait for the import.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.rows import class_row

from app.core.errors import (
    BAY_NOT_FOUND,
    CABLE_NOT_FOUND,
    DEVICE_NOT_FOUND,
    POINT_NOT_FOUND,
    POINT_TAKEN,
    PORT_NOT_FOUND,
    Conflict,
    NotFound,
)
from app.db.pool import Connection
from app.db.shapes import PORT


@dataclass(frozen=True, slots=True)
class LockedPoint:
    id: int
    bay_id: int | None
    bay_channel: int | None
    bay_row: str | None


@dataclass(frozen=True, slots=True)
class LockedPort:
    id: str
    patchbay_id: int | None
    json: str  # the Port shape as locked


_LOCK_DEVICE = "SELECT last_port_number FROM devices WHERE id = %(id)s FOR UPDATE"
_LOCK_DEVICES = "SELECT id FROM devices WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE"
_LOCK_BAY = """
    SELECT array(SELECT number FROM bay_channels c WHERE c.bay_id = b.id) FROM bays b
     WHERE b.id = %(id)s FOR UPDATE OF b
"""
# The points named, and those in a bay (or in one channel of it).
_LOCK_POINTS = """
    SELECT id, bay_id, bay_channel, bay_row FROM patchbay_points
     WHERE id = ANY(%(ids)s)
        OR bay_id = %(bay)s AND (%(channel)s::integer IS NULL OR bay_channel = %(channel)s)
     ORDER BY id FOR UPDATE
"""
# A point holding a port at the rear or a plug at the front is in use.
# Does one of the points hold a port (at the rear), a plug (at the front)?
_HELD = """
    SELECT %(rear)s AND EXISTS (SELECT 1 FROM ports WHERE patchbay_id = ANY(%(ids)s))
        OR %(front)s AND EXISTS (SELECT 1 FROM cable_ends WHERE point_id = ANY(%(ids)s))
"""
_LOCK_CABLE = "SELECT id FROM cables WHERE id = %(id)s FOR UPDATE"
# Everything a patch is made of, level by level in the lock order.
_LOCK_PATCH = (
    "SELECT id FROM bays ORDER BY id FOR UPDATE",
    "SELECT id FROM patchbay_points ORDER BY id FOR UPDATE",
    "SELECT id FROM ports ORDER BY id FOR UPDATE",
    "SELECT id FROM cables ORDER BY id FOR UPDATE",
)
# Every table of the studio, for the writes that rebuild it (the imports): reads go on, every
# other write waits. Tables in the lock order (LOCK TABLE takes them one by one, in this order).
_STUDIO_TABLES = "bays, bay_channels, patchbay_points, ports, cables, cable_ends, devices"
# The ports named and whichever ports hold the points named, in id order.
_LOCK_PORTS = f"""
    SELECT p.id, p.patchbay_id, {PORT}::text AS json FROM ports p
     WHERE p.id = ANY(%(ports)s) OR p.patchbay_id = ANY(%(points)s)
     ORDER BY p.id FOR UPDATE
"""
_LOCK_DEVICE_PORTS = "SELECT id FROM ports WHERE device_id = %(id)s ORDER BY id FOR UPDATE"
_FREE_PORTS = f"""
    UPDATE ports p SET patchbay_id = NULL WHERE p.id = ANY(%(ids)s) RETURNING p.id, {PORT}::text
"""
_SET_POINTS = f"""
    UPDATE ports p SET patchbay_id = target.point
      FROM unnest(%(ids)s::text[], %(points)s::integer[]) AS target(id, point)
     WHERE p.id = target.id
    RETURNING p.id, {PORT}::text
"""


async def lock_device(conn: Connection, device_id: int) -> int:
    """Lock the device; returns the highest port number it ever gave out. 404 if unknown."""
    cursor = await conn.execute(_LOCK_DEVICE, {"id": device_id})
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return int(row[0])


async def lock_devices(conn: Connection, device_ids: Iterable[int]) -> None:
    """Lock the devices that exist of these, in id order."""
    await conn.execute(_LOCK_DEVICES, {"ids": sorted(set(device_ids))})


async def lock_device_ports(conn: Connection, device_id: int) -> None:
    """Lock a device's ports in id order, as every other path does, before a cascade touches
    them in an order of its own (a device's deletion, which then locks the device)."""
    await conn.execute(_LOCK_DEVICE_PORTS, {"id": device_id})


async def lock_bay(conn: Connection, bay_id: int) -> frozenset[int]:
    """Lock the bay (and so its channels); returns their numbers (1..N, unless someone deleted
    one by hand). 404 if unknown."""
    row = await (await conn.execute(_LOCK_BAY, {"id": bay_id})).fetchone()
    if row is None:
        raise NotFound(BAY_NOT_FOUND)
    return frozenset(row[0])


async def lock_points(
    conn: Connection,
    point_ids: Iterable[int],
    *,
    in_bay: int | None = None,
    channel: int | None = None,
) -> dict[int, LockedPoint]:
    """Lock the points, and those in a bay (or one of its channels), in id order; 404 if one of
    `point_ids` does not exist."""
    wanted = sorted(set(point_ids))
    if not wanted and in_bay is None:
        return {}
    cursor = conn.cursor(row_factory=class_row(LockedPoint))
    await cursor.execute(_LOCK_POINTS, {"ids": wanted, "bay": in_bay, "channel": channel})
    locked = {point.id: point for point in await cursor.fetchall()}
    if any(point_id not in locked for point_id in wanted):
        raise NotFound(POINT_NOT_FOUND)
    return locked


async def points_held(
    conn: Connection, point_ids: Iterable[int], *, rear: bool = True, front: bool = True
) -> bool:
    """Does one of these (locked) points hold a port at the rear, or a plug at the front?"""
    params = {"ids": list(point_ids), "rear": rear, "front": front}
    row = await (await conn.execute(_HELD, params)).fetchone()
    return bool(row and row[0])


async def claim_points(conn: Connection, point_ids: Sequence[int]) -> None:
    """Lock the points that new ports ask for: 404 if one is unknown, 409 if one is taken or
    asked for twice."""
    if len(set(point_ids)) < len(point_ids):
        raise Conflict(POINT_TAKEN)
    await lock_points(conn, point_ids)
    if point_ids and await points_held(conn, point_ids, front=False):
        raise Conflict(POINT_TAKEN)


async def lock_cable(conn: Connection, cable_id: int) -> None:
    row = await (await conn.execute(_LOCK_CABLE, {"id": cable_id})).fetchone()
    if row is None:
        raise NotFound(CABLE_NOT_FOUND)


async def lock_ports(
    conn: Connection, port_ids: Sequence[str], *, holding: Sequence[int] = ()
) -> dict[str, LockedPort]:
    """Lock the ports, and the ports holding the given points, in id order. 404 if one of
    `port_ids` does not exist."""
    cursor = conn.cursor(row_factory=class_row(LockedPort))
    await cursor.execute(_LOCK_PORTS, {"ports": list(port_ids), "points": list(holding)})
    locked = {row.id: row for row in await cursor.fetchall()}
    if any(port_id not in locked for port_id in port_ids):
        raise NotFound(PORT_NOT_FOUND)
    return locked


async def _rows(conn: Connection, query: str, params: dict[str, Any]) -> dict[str, str]:
    cursor = await conn.execute(query, params)
    return {row[0]: row[1] for row in await cursor.fetchall()}


async def relink(
    conn: Connection, targets: dict[str, int | None], *, take_over: bool = True
) -> tuple[dict[str, str], list[str]]:
    """Move each port to its point (None: free it), under the lock order.

    A point held by a port that is not moving there is taken from it (`take_over`), or 409.
    Returns the Port JSON of every port named, as it is now, and the sorted ids of the other
    ports that lost their point. The caller checks that each port and point appears once.
    """
    points = sorted({point for point in targets.values() if point is not None})
    await lock_points(conn, points)
    locked = await lock_ports(conn, list(targets), holding=points)
    losers = sorted(port_id for port_id in locked if port_id not in targets)
    if losers and not take_over:
        raise Conflict(POINT_TAKEN)
    moving = [port_id for port_id in targets if locked[port_id].patchbay_id != targets[port_id]]
    shown = {port_id: locked[port_id].json for port_id in targets}
    # Free the losers and the ports that are unlinked. The unique constraint is checked row by
    # row, so a point must be empty before a port moves in: free first a moving port whose
    # point another moving port takes (a swap). No other: a row updated twice in one
    # transaction makes PostgreSQL check its foreign key again, which takes a key-share lock on
    # its device (see delete_device).
    wanted = {targets[port_id] for port_id in moving}
    freed = losers + [p for p in moving if targets[p] is None or locked[p].patchbay_id in wanted]
    if freed:
        shown.update(await _rows(conn, _FREE_PORTS, {"ids": freed}))
    filled = [port_id for port_id in moving if targets[port_id] is not None]
    if filled:
        params = {"ids": filled, "points": [targets[port_id] for port_id in filled]}
        shown.update(await _rows(conn, _SET_POINTS, params))
    return {port_id: shown[port_id] for port_id in targets}, losers


async def lock_patch(conn: Connection) -> None:
    """Lock every bay, point, port and cable, in the lock order: until the transaction ends,
    nothing of the patch can change (a scene's apply, which makes the whole patch a scene's)."""
    for statement in _LOCK_PATCH:
        await conn.execute(statement)


async def lock_studio(conn: Connection, *, with_scenes: bool = False) -> None:
    """Hold every table of the studio (and the scenes) until the transaction ends: the imports,
    which read the studio as a whole and rebuild it, in a `Database.transaction(whole_studio=
    True)` (so no other write of the API is under way: see there); this keeps out pgAdmin's."""
    tables = _STUDIO_TABLES + (", scenes" if with_scenes else "")
    await conn.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
