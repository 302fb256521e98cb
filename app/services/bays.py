"""Bays: physical patchbay units, their normalled channels, and the points in their slots."""

from app.core.errors import (
    BAY_IN_USE,
    CHANNEL_NOT_FOUND,
    POINT_IN_A_BAY,
    Conflict,
    Invalid,
    NotFound,
    no_such_channel,
)
from app.db.pool import Connection
from app.db.shapes import GET_BAY
from app.schemas.bay import BayCreate, BayUpdate, ChannelModes, ChannelSlots
from app.services.locks import lock_bay, lock_points, points_held

_INSERT_BAY = "INSERT INTO bays (name, description) VALUES (%(name)s, %(description)s) RETURNING id"
_INSERT_CHANNELS = """
    INSERT INTO bay_channels (bay_id, number, mode)
    SELECT %(bay)s, n, %(mode)s::normalling_mode FROM generate_series(1, %(channels)s) AS n
"""
# Channel by channel, top before bottom: 1T, 1B, 2T, ... (ids follow insertion order).
_INSERT_POINTS = """
    INSERT INTO patchbay_points (name, bay_id, bay_channel, bay_row)
    SELECT %(name)s || ' ' || n || jack.suffix, %(bay)s, n, jack.row
      FROM generate_series(1, %(channels)s) AS n,
           (VALUES (1, 'top', 'T'), (2, 'bottom', 'B')) AS jack(position, row, suffix)
     ORDER BY n, jack.position
"""
_UPDATE_BAY = """
    UPDATE bays SET name = coalesce(%(name)s, name),
                    description = coalesce(%(description)s, description)
     WHERE id = %(id)s
"""
_SET_MODES = """
    UPDATE bay_channels SET mode = %(mode)s::normalling_mode
     WHERE bay_id = %(bay)s AND number BETWEEN %(first)s AND %(last)s
"""
_SET_EACH_MODE = """
    UPDATE bay_channels c SET mode = given.mode::normalling_mode
      FROM unnest(%(bays)s::integer[], %(channels)s::integer[], %(modes)s::text[])
           AS given(bay_id, number, mode)
     WHERE c.bay_id = given.bay_id AND c.number = given.number
"""
_EMPTY_SLOTS = """
    UPDATE patchbay_points SET bay_id = NULL, bay_channel = NULL, bay_row = NULL
     WHERE bay_id = %(bay)s AND bay_channel = %(channel)s
"""
_FILL_SLOT = """
    UPDATE patchbay_points SET bay_id = %(bay)s, bay_channel = %(channel)s, bay_row = %(row)s
     WHERE id = %(point)s
"""
# Its channels go with it, and the points in them (foreign keys with ON DELETE CASCADE).
_DELETE_BAY = "DELETE FROM bays WHERE id = %(id)s"


async def bay_json(conn: Connection, bay_id: int) -> str:
    row = await (await conn.execute(GET_BAY, {"id": bay_id})).fetchone()
    assert row is not None, "the bay is locked or was just made, so it exists"
    return str(row[0])


async def create_bay(conn: Connection, *, data: BayCreate) -> tuple[int, str]:
    """Create the bay and its channels, and with `create_points` a point per jack; its id and
    Bay JSON."""
    named = {"name": data.name, "description": data.description}
    row = await (await conn.execute(_INSERT_BAY, named)).fetchone()
    assert row is not None
    bay_id = int(row[0])
    params = {"bay": bay_id, "channels": data.channels, "mode": data.mode.value, "name": data.name}
    await conn.execute(_INSERT_CHANNELS, params)
    if data.create_points:
        await conn.execute(_INSERT_POINTS, params)
    return bay_id, await bay_json(conn, bay_id)


async def update_bay(conn: Connection, *, bay_id: int, data: BayUpdate) -> str:
    """Rename or describe the bay (its points keep their names)."""
    await lock_bay(conn, bay_id)
    changes = data.changes()
    params = {"id": bay_id, "name": changes.get("name"), "description": changes.get("description")}
    await conn.execute(_UPDATE_BAY, params)
    return await bay_json(conn, bay_id)


async def set_modes(conn: Connection, *, bay_id: int, data: ChannelModes) -> str:
    channels = await lock_bay(conn, bay_id)
    first, last = data.channels
    for field, number in (("first", first), ("last", last)):
        if number not in channels:
            raise Invalid(("body", field), no_such_channel(channels), number)
    params = {"bay": bay_id, "first": first, "last": last, "mode": data.mode.value}
    await conn.execute(_SET_MODES, params)
    return await bay_json(conn, bay_id)


async def set_each_mode(conn: Connection, modes: list[tuple[int, int, str]]) -> None:
    """Set (bay, channel, mode) of channels whose bays the caller has locked."""
    if modes:
        bays, channels, names = (list(column) for column in zip(*modes, strict=True))
        await conn.execute(_SET_EACH_MODE, {"bays": bays, "channels": channels, "modes": names})


async def set_slots(conn: Connection, *, bay_id: int, channel: int, data: ChannelSlots) -> str:
    """Put existing points into the channel's two slots, or empty them (None)."""
    if channel not in await lock_bay(conn, bay_id):
        raise NotFound(CHANNEL_NOT_FOUND)
    wanted = {"top": data.top_point_id, "bottom": data.bottom_point_id}
    given = [point for point in wanted.values() if point is not None]
    locked = await lock_points(conn, given, in_bay=bay_id, channel=channel)
    for point_id in given:
        slot = (locked[point_id].bay_id, locked[point_id].bay_channel)
        if slot != (None, None) and slot != (bay_id, channel):
            raise Conflict(POINT_IN_A_BAY)
    here = {
        p.bay_row: p.id for p in locked.values() if (p.bay_id, p.bay_channel) == (bay_id, channel)
    }
    now = {row: here.get(row) for row in wanted}
    if now == wanted:  # as it is: no write, so no new revision
        return await bay_json(conn, bay_id)
    # Empty both slots first: a point may move from one to the other.
    await conn.execute(_EMPTY_SLOTS, {"bay": bay_id, "channel": channel})
    for row, point in wanted.items():
        if point is not None:
            filled = {"bay": bay_id, "channel": channel, "row": row, "point": point}
            await conn.execute(_FILL_SLOT, filled)
    return await bay_json(conn, bay_id)


async def delete_bay(conn: Connection, *, bay_id: int) -> str:
    """Delete the bay and its points; 409 while one of them holds a port or a plug. Returns the
    bay as it was."""
    await lock_bay(conn, bay_id)
    points = await lock_points(conn, [], in_bay=bay_id)
    if await points_held(conn, points):
        raise Conflict(BAY_IN_USE)
    shown = await bay_json(conn, bay_id)
    await conn.execute(_DELETE_BAY, {"id": bay_id})
    return shown
