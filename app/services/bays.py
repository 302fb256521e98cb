"""Bays: physical patchbay units, their normalled channels, and the points in their slots."""

from collections.abc import Sequence

from sqlalchemy import (
    Connection,
    Integer,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
    values,
)
from sqlalchemy.sql import column

from app.core.errors import (
    BAY_IN_USE,
    BAY_NOT_FOUND,
    CHANNEL_NOT_FOUND,
    POINT_IN_A_BAY,
    Conflict,
    Invalid,
    NotFound,
    no_such_channel,
)
from app.db import shapes
from app.db.params import given_or_kept, integers, texts
from app.db.shapes import body, found
from app.models import Bay, BayChannel, PatchbayPoint
from app.schemas.bay import BayCreate, BayUpdate, ChannelModes, ChannelSlots
from app.services.locks import IN_CHANNEL, lock_bay, lock_points, points_held

_MODE = BayChannel.mode.type
# Bays and channels in one statement each, whatever their number (the patch list import makes
# hundreds), in the order given: ids come from the sequence, in insertion order.
_BAYS = (
    func.unnest(texts("names"), texts("descriptions"))
    .table_valued("name", "description", with_ordinality="n")
    .render_derived(name="given")
)
_INSERT_BAYS = (
    insert(Bay)
    .from_select(
        ["name", "description"], select(_BAYS.c.name, _BAYS.c.description).order_by(_BAYS.c.n)
    )
    .returning(Bay.id)
)
_CHANNELS = (
    func.unnest(integers("bays"), integers("numbers"), texts("modes"))
    .table_valued("bay", "number", "mode")
    .render_derived(name="given")
)
_INSERT_CHANNELS = insert(BayChannel).from_select(
    ["bay_id", "number", "mode"],
    select(_CHANNELS.c.bay, _CHANNELS.c.number, cast(_CHANNELS.c.mode, BayChannel.mode.type)),
)
_NUMBERS = (
    func.generate_series(1, bindparam("channels", type_=Integer))
    .table_valued("n")
    .render_derived(name="numbers")
)
# Channel by channel, top before bottom: 1T, 1B, 2T, ... (ids follow insertion order).
_JACKS = values(
    column("position", Integer), column("row", Text), column("suffix", Text), name="jack"
).data([(1, "top", "T"), (2, "bottom", "B")])
_INSERT_POINTS = insert(PatchbayPoint).from_select(
    ["name", "bay_id", "bay_channel", "bay_row"],
    select(
        bindparam("name", type_=Text) + literal(" ") + cast(_NUMBERS.c.n, Text) + _JACKS.c.suffix,
        bindparam("bay", type_=Integer),
        _NUMBERS.c.n,
        _JACKS.c.row,
    )
    .select_from(_NUMBERS.join(_JACKS, true()))
    .order_by(_NUMBERS.c.n, _JACKS.c.position),
)
_UPDATE_BAY = (
    update(Bay)
    .where(Bay.id == bindparam("bay_id"))
    .values(given_or_kept(Bay.__table__, "name", "description"))
)
_SET_MODES = (
    update(BayChannel)
    .where(
        BayChannel.bay_id == bindparam("bay"),
        BayChannel.number.between(bindparam("first"), bindparam("last")),
    )
    .values(mode=bindparam("mode", type_=_MODE))
)
_MODES = (
    func.unnest(integers("bays"), integers("channels"), texts("modes"))
    .table_valued("bay_id", "number", "mode")
    .render_derived(name="given")
)
_SET_EACH_MODE = (
    update(BayChannel)
    .where(BayChannel.bay_id == _MODES.c.bay_id, BayChannel.number == _MODES.c.number)
    .values(mode=cast(_MODES.c.mode, _MODE))
)
_EMPTY_SLOTS = (
    update(PatchbayPoint).where(IN_CHANNEL).values(bay_id=None, bay_channel=None, bay_row=None)
)
_FILL_SLOT = (
    update(PatchbayPoint)
    .where(PatchbayPoint.id == bindparam("point"))
    .values(bay_id=bindparam("bay"), bay_channel=bindparam("channel"), bay_row=bindparam("row"))
)
# Its channels go with it, and the points in them (foreign keys with ON DELETE CASCADE).
_DELETE_BAY = delete(Bay).where(Bay.id == bindparam("id"))


def list_bays(conn: Connection) -> str:
    """Every bay by id, each with its channels by number."""
    return body(conn, shapes.LIST_BAYS)


def get_bay(conn: Connection, *, bay_id: int) -> str:
    return found(conn, shapes.GET_BAY, {"id": bay_id}, BAY_NOT_FOUND)


def insert_bays(conn: Connection, bays: Sequence[tuple[str, str]]) -> list[int]:
    """Insert bays (name, description); their ids, in order."""
    if not bays:
        return []
    names, descriptions = (list(column) for column in zip(*bays, strict=True))
    params = {"names": names, "descriptions": descriptions}
    return sorted(conn.execute(_INSERT_BAYS, params).scalars())


def insert_channels(conn: Connection, channels: Sequence[tuple[int, int, str]]) -> None:
    """Insert channels (bay, number, mode)."""
    if channels:
        bays, numbers, modes = (list(column) for column in zip(*channels, strict=True))
        conn.execute(_INSERT_CHANNELS, {"bays": bays, "numbers": numbers, "modes": modes})


def create_bay(conn: Connection, *, data: BayCreate) -> tuple[int, str]:
    """Create the bay and its channels, and with `create_points` a point per jack; its id and
    Bay JSON."""
    [bay_id] = insert_bays(conn, [(data.name, data.description)])
    insert_channels(conn, [(bay_id, n, data.mode) for n in range(1, data.channels + 1)])
    if data.create_points:
        params = {"bay": bay_id, "channels": data.channels, "name": data.name}
        conn.execute(_INSERT_POINTS, params)
    return bay_id, get_bay(conn, bay_id=bay_id)


def update_bay(conn: Connection, *, bay_id: int, data: BayUpdate) -> str:
    """Rename or describe the bay (its points keep their names)."""
    lock_bay(conn, bay_id)
    changes = data.changes()
    named = {"name": changes.get("name"), "description": changes.get("description")}
    conn.execute(_UPDATE_BAY, {"bay_id": bay_id, **named})
    return get_bay(conn, bay_id=bay_id)


def set_modes(conn: Connection, *, bay_id: int, data: ChannelModes) -> str:
    channels = lock_bay(conn, bay_id)
    first, last = data.channels
    for field, number in (("first", first), ("last", last)):
        if number not in channels:
            raise Invalid(("body", field), no_such_channel(channels), number)
    conn.execute(_SET_MODES, {"bay": bay_id, "first": first, "last": last, "mode": data.mode})
    return get_bay(conn, bay_id=bay_id)


def set_each_mode(conn: Connection, modes: list[tuple[int, int, str]]) -> None:
    """Set (bay, channel, mode) of channels whose bays the caller has locked."""
    if modes:
        bays, channels, names = (list(column) for column in zip(*modes, strict=True))
        conn.execute(_SET_EACH_MODE, {"bays": bays, "channels": channels, "modes": names})


def set_slots(conn: Connection, *, bay_id: int, channel: int, data: ChannelSlots) -> str:
    """Put existing points into the channel's two slots, or empty them (None)."""
    if channel not in lock_bay(conn, bay_id):
        raise NotFound(CHANNEL_NOT_FOUND)
    wanted = {"top": data.top_point_id, "bottom": data.bottom_point_id}
    given = [point for point in wanted.values() if point is not None]
    locked = lock_points(conn, given, in_bay=bay_id, channel=channel)
    for point_id in given:
        slot = (locked[point_id].bay_id, locked[point_id].bay_channel)
        if slot != (None, None) and slot != (bay_id, channel):
            raise Conflict(POINT_IN_A_BAY)
    here = {
        p.bay_row: p.id for p in locked.values() if (p.bay_id, p.bay_channel) == (bay_id, channel)
    }
    now = {row: here.get(row) for row in wanted}
    if now == wanted:  # as it is: no write, so no new revision
        return get_bay(conn, bay_id=bay_id)
    # Empty both slots first: a point may move from one to the other.
    conn.execute(_EMPTY_SLOTS, {"bay": bay_id, "channel": channel})
    for row, point in wanted.items():
        if point is not None:
            filled = {"bay": bay_id, "channel": channel, "row": row, "point": point}
            conn.execute(_FILL_SLOT, filled)
    return get_bay(conn, bay_id=bay_id)


def delete_bay(conn: Connection, *, bay_id: int) -> str:
    """Delete the bay and its points; 409 while one of them holds a port or a plug. Returns the
    bay as it was."""
    lock_bay(conn, bay_id)
    points = lock_points(conn, [], in_bay=bay_id)
    if points_held(conn, points):
        raise Conflict(BAY_IN_USE)
    shown = get_bay(conn, bay_id=bay_id)
    conn.execute(_DELETE_BAY, {"id": bay_id})
    return shown
