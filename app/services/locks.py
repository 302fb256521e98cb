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
from its first statement, and an import holds it alone (`app/db/session.py`). An import then
waits for the writes under way, and the writes after it wait for the import.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, any_, bindparam, exists, func, or_, select, text, update

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
from app.db.params import integers, texts
from app.db.shapes import PORT, PORT_ROWS, returned
from app.models import Bay, BayChannel, Cable, CableEnd, Device, PatchbayPoint, Port


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


_LOCK_DEVICE = select(Device.last_port_number).where(Device.id == bindparam("id")).with_for_update()
_LOCK_DEVICES = (
    select(Device.id)
    .where(Device.id == any_(integers("ids")))
    .order_by(Device.id)
    .with_for_update()
)
_CHANNEL_NUMBERS = (
    select(func.array_agg(BayChannel.number)).where(BayChannel.bay_id == Bay.id).scalar_subquery()
)
_LOCK_BAY = select(_CHANNEL_NUMBERS).where(Bay.id == bindparam("id")).with_for_update(of=Bay)
_POINT = select(
    PatchbayPoint.id, PatchbayPoint.bay_id, PatchbayPoint.bay_channel, PatchbayPoint.bay_row
)
_NAMED = PatchbayPoint.id == any_(integers("ids"))
_IN_BAY = PatchbayPoint.bay_id == bindparam("bay")
IN_CHANNEL = _IN_BAY & (PatchbayPoint.bay_channel == bindparam("channel"))
# The points named; and those in a bay, or in one channel of it.
_LOCK_POINTS = {
    (in_bay, channel): _POINT.where(
        or_(_NAMED, IN_CHANNEL) if channel else or_(_NAMED, _IN_BAY) if in_bay else _NAMED
    )
    .order_by(PatchbayPoint.id)
    .with_for_update()
    for in_bay in (False, True)
    for channel in (False, True)
}
# A point holding a port at the rear, a plug at the front.
_REAR = exists().where(Port.patchbay_id == any_(integers("ids")))
_FRONT = exists().where(CableEnd.point_id == any_(integers("ids")))
_HELD = {
    (True, True): select(_REAR | _FRONT),
    (True, False): select(_REAR),
    (False, True): select(_FRONT),
}
_LOCK_CABLE = select(Cable.id).where(Cable.id == bindparam("id")).with_for_update()
# Everything a patch is made of, level by level in the lock order.
_LOCK_PATCH = tuple(
    select(column).order_by(column).with_for_update()
    for column in (Bay.id, PatchbayPoint.id, Port.id, Cable.id)
)
# Every table of the studio, for the writes that rebuild it (the imports): reads go on, every
# other write waits. In the lock order (LOCK TABLE takes them one by one, in this order). SQL
# text: Core has no LOCK TABLE.
_STUDIO_TABLES = (
    "bays, bay_channels, patchbay_points, ports, port_electrical, cables, cable_ends, devices"
)
_LOCK_STUDIO = text(f"LOCK TABLE {_STUDIO_TABLES} IN EXCLUSIVE MODE")
_LOCK_STUDIO_AND_SCENES = text(f"LOCK TABLE {_STUDIO_TABLES}, scenes IN EXCLUSIVE MODE")
p = PORT_ROWS.c
# The ports named and whichever ports hold the points named, in id order.
_LOCK_PORTS = (
    select(p.id, p.patchbay_id, returned(PORT))
    .where(or_(p.id == any_(texts("ports")), p.patchbay_id == any_(integers("points"))))
    .order_by(p.id)
    .with_for_update()
)
_LOCK_DEVICE_PORTS = (
    select(Port.id).where(Port.device_id == bindparam("id")).order_by(Port.id).with_for_update()
)
_FREE_PORTS = (
    update(PORT_ROWS)
    .where(p.id == any_(texts("ids")))
    .values(patchbay_id=None)
    .returning(p.id, returned(PORT))
)
_TARGETS = (
    func.unnest(texts("ids"), integers("points"))
    .table_valued("id", "point")
    .render_derived(name="target")
)
_SET_POINTS = (
    update(PORT_ROWS)
    .where(p.id == _TARGETS.c.id)
    .values(patchbay_id=_TARGETS.c.point)
    .returning(p.id, returned(PORT))
)


def lock_device(conn: Connection, device_id: int) -> int:
    """Lock the device; returns the highest port number it ever gave out. 404 if unknown."""
    last = conn.execute(_LOCK_DEVICE, {"id": device_id}).scalar()
    if last is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return int(last)


def lock_devices(conn: Connection, device_ids: Iterable[int]) -> None:
    """Lock the devices that exist of these, in id order."""
    conn.execute(_LOCK_DEVICES, {"ids": sorted(set(device_ids))})


def lock_device_ports(conn: Connection, device_id: int) -> None:
    """Lock a device's ports in id order, as every other path does, before a cascade touches
    them in an order of its own (a device's deletion, which then locks the device)."""
    conn.execute(_LOCK_DEVICE_PORTS, {"id": device_id})


def lock_bay(conn: Connection, bay_id: int) -> frozenset[int]:
    """Lock the bay (and so its channels); returns their numbers (1..N, unless someone deleted
    one by hand). 404 if unknown."""
    row = conn.execute(_LOCK_BAY, {"id": bay_id}).first()
    if row is None:
        raise NotFound(BAY_NOT_FOUND)
    return frozenset(row[0] or ())


def lock_points(
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
    statement = _LOCK_POINTS[(in_bay is not None, channel is not None)]
    rows = conn.execute(statement, {"ids": wanted, "bay": in_bay, "channel": channel})
    locked = {row.id: LockedPoint(*row) for row in rows}
    if any(point_id not in locked for point_id in wanted):
        raise NotFound(POINT_NOT_FOUND)
    return locked


def points_held(
    conn: Connection, point_ids: Iterable[int], *, rear: bool = True, front: bool = True
) -> bool:
    """Does one of these (locked) points hold a port at the rear, or a plug at the front?"""
    return bool(conn.execute(_HELD[(rear, front)], {"ids": list(point_ids)}).scalar())


def claim_points(conn: Connection, point_ids: Sequence[int]) -> None:
    """Lock the points that new ports ask for: 404 if one is unknown, 409 if one is taken or
    asked for twice."""
    if len(set(point_ids)) < len(point_ids):
        raise Conflict(POINT_TAKEN)
    lock_points(conn, point_ids)
    if point_ids and points_held(conn, point_ids, front=False):
        raise Conflict(POINT_TAKEN)


def lock_cable(conn: Connection, cable_id: int) -> None:
    if conn.execute(_LOCK_CABLE, {"id": cable_id}).first() is None:
        raise NotFound(CABLE_NOT_FOUND)


def lock_ports(
    conn: Connection, port_ids: Sequence[str], *, holding: Sequence[int] = ()
) -> dict[str, LockedPort]:
    """Lock the ports, and the ports holding the given points, in id order. 404 if one of
    `port_ids` does not exist."""
    rows = conn.execute(_LOCK_PORTS, {"ports": list(port_ids), "points": list(holding)})
    locked = {row[0]: LockedPort(*row) for row in rows}
    if any(port_id not in locked for port_id in port_ids):
        raise NotFound(PORT_NOT_FOUND)
    return locked


def _shown(conn: Connection, statement: Any, params: dict[str, Any]) -> dict[str, str]:
    return {row[0]: row[1] for row in conn.execute(statement, params)}


def relink(
    conn: Connection, targets: dict[str, int | None], *, take_over: bool = True
) -> tuple[dict[str, str], list[str]]:
    """Move each port to its point (None: free it), under the lock order.

    A point held by a port that is not moving there is taken from it (`take_over`), or 409.
    Returns the Port JSON of every port named, as it is now, and the sorted ids of the other
    ports that lost their point. The caller checks that each port and point appears once.
    """
    points = sorted({point for point in targets.values() if point is not None})
    lock_points(conn, points)
    locked = lock_ports(conn, list(targets), holding=points)
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
        shown.update(_shown(conn, _FREE_PORTS, {"ids": freed}))
    filled = [port_id for port_id in moving if targets[port_id] is not None]
    if filled:
        params = {"ids": filled, "points": [targets[port_id] for port_id in filled]}
        shown.update(_shown(conn, _SET_POINTS, params))
    return {port_id: shown[port_id] for port_id in targets}, losers


def lock_patch(conn: Connection) -> None:
    """Lock every bay, point, port and cable, in the lock order: until the transaction ends,
    nothing of the patch can change (a scene's apply, which makes the whole patch a scene's)."""
    for statement in _LOCK_PATCH:
        conn.execute(statement)


def lock_studio(conn: Connection, *, with_scenes: bool = False) -> None:
    """Hold every table of the studio (and the scenes) until the transaction ends: the imports,
    which read the studio as a whole and rebuild it, in a `Database.transaction(whole_studio=
    True)` (so no other write of the API is under way: see there); this keeps out pgAdmin's."""
    conn.execute(_LOCK_STUDIO_AND_SCENES if with_scenes else _LOCK_STUDIO)
