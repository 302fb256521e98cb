"""Reverting a history entry (SPEC D5): undo its net change to each row it touched, in one
transaction. It locks the whole patch (`locks.lock_patch`) and then the devices involved and
the rows it compares, checks that every such row is still as the entry left it (409 with the
rows that are not), then restores them: keys changed by hand first, then each table's earlier
images in one statement, so that rows can swap or take over unique values back. The triggers
record the revert as an entry of its own, which can be reverted in turn.
"""

import json
from typing import Any

import sqlalchemy.exc
from sqlalchemy import (
    Connection,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as upsert

from app.core.errors import (
    HISTORY_NOT_FOUND,
    NOTHING_TO_REVERT,
    REVERT_CONFLICT,
    Conflict,
    NotFound,
    violated,
)
from app.db.base import Base
from app.db.params import json_rows
from app.db.session import RECORD_SCENES
from app.db.shapes import IMMEDIATE, REVISION
from app.models import HistoryChange
from app.services.history import ENTRY_ID, read_entry
from app.services.locks import lock_devices, lock_patch
from app.services.summaries import KEYS, ONLY_GROW, Change, net, row_key

# What deleting a row takes with it (ON DELETE CASCADE): parent -> (child, its foreign key).
_CASCADES = {
    "bays": ("patchbay_points", "bay_id"),
    "devices": ("ports", "device_id"),
    "ports": ("port_electrical", "port_id"),
    "cables": ("cable_ends", "cable_id"),
}
CHANGED = "changed since the entry"
ADDED = "added since the entry, and would go with what the revert deletes"
BLOCKED = "a later change stands in the way: "
UNKNOWN = "a table that a revert does not know"
# Cleared in the rows an entry changed before any row is restored: a link is unique row by
# row (the earlier service's constraint), and a point keeps no slot in a channel that the
# revert deletes (the channel would take the point with it).
_FREED_FIRST = {
    "ports": ("patchbay_id",),
    "patchbay_points": ("bay_id", "bay_channel", "bay_row"),
}
_FULL = (
    select(
        HistoryChange.table_name.label("table"),
        HistoryChange.key,
        HistoryChange.op,
        HistoryChange.before,
        HistoryChange.after,
    )
    .where(HistoryChange.entry_id == bindparam("id"))
    .order_by(HistoryChange.id)
)
_REVERTS = select(func.set_config("pepper.reverts", bindparam("revision"), True))


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _unnested(arrays: dict[str, tuple[Any, list[Any]]]) -> tuple[Any, dict[str, list[Any]]]:
    """Rows made of parallel arrays, each one bound parameter of its type, known as `k`; and
    the parameters."""
    rows = (
        func.unnest(*(bindparam(name, type_=ARRAY(kind)) for name, (kind, _) in arrays.items()))
        .table_valued(*arrays)
        .render_derived(name="k")
    )
    return rows, {name: values for name, (_, values) in arrays.items()}


def _current(conn: Connection, table: str, keys: list[str]) -> dict[str, Any]:
    """The rows of `table` with these keys, as they are now (as JSON images), locked."""
    t, columns = _table(table), KEYS[table]
    values = [json.loads(key) for key in keys]
    wanted, params = _unnested(
        {c: (t.c[c].type, [value[i] for value in values]) for i, c in enumerate(columns)}
    )
    query = (
        select(func.to_jsonb(t.table_valued()))
        .where(*(t.c[column] == wanted.c[column] for column in columns))
        .with_for_update(of=t)
    )
    return {row_key(table, image): image for image in conn.execute(query, params).scalars()}


def _compared(table: str, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A row as a revert compares it: without what a revert keeps anyway."""
    if image is None or table not in ONLY_GROW:
        return image
    return {column: value for column, value in image.items() if column != ONLY_GROW[table]}


def _conflict(table: str, key: Any, expected: Any, now: Any, reason: str) -> dict[str, Any]:
    """One item of a 409's `conflicts` (the RevertConflict schema)."""
    return {"table": table, "key": key, "expected": expected, "now": now, "reason": reason}


def _changed_since(conn: Connection, changes: list[Change]) -> list[dict[str, Any]]:
    """The rows that are no longer as the entry left them (locked, so they stay so)."""
    conflicts = []
    for table in KEYS:
        touched = [change for change in changes if change["table"] == table]
        if not touched:
            continue
        keys = [row_key(table, change["after"] or change["before"]) for change in touched]
        current = _current(conn, table, keys)
        for key, change in zip(keys, touched, strict=True):
            if _compared(table, current.get(key)) != _compared(table, change["after"]):
                conflicts.append(
                    _conflict(table, change["key"], change["after"], current.get(key), CHANGED)
                )
    return conflicts


def _added_since(conn: Connection, changes: list[Change]) -> list[dict[str, Any]]:
    """The rows added since that deleting what the entry made would delete with it."""
    conflicts = []
    for parent, (child, column) in _CASCADES.items():
        made = [c["after"]["id"] for c in changes if c["table"] == parent and c["op"] == "insert"]
        if not made:
            continue
        ours = {row_key(child, c["after"] or c["before"]) for c in changes if c["table"] == child}
        t = _table(child)
        ids = bindparam("ids", type_=ARRAY(t.c[column].type))
        query = select(func.to_jsonb(t.table_valued())).where(t.c[column] == any_(ids))
        for row in conn.execute(query, {"ids": made}).scalars():
            if row_key(child, row) not in ours:
                values = [row[c] for c in KEYS[child]]
                named = (
                    values[0] if len(values) == 1 else dict(zip(KEYS[child], values, strict=True))
                )
                conflicts.append(_conflict(child, named, None, row, ADDED))
    return conflicts


def _conflicts(conn: Connection, changes: list[Change]) -> list[dict[str, Any]]:
    """What stands in the way of the revert: rows of tables it does not know, rows changed
    since, rows added since."""
    unknown = sorted({change["table"] for change in changes} - set(KEYS))
    return [
        *(_conflict(table, None, None, None, UNKNOWN) for table in unknown),
        *_changed_since(conn, changes),
        *_added_since(conn, changes),
    ]


def _matching(t: Table, rows: Any) -> Any:
    return and_(*(t.c[column] == rows.c[column] for column in KEYS[t.name]))


def _restore_keys(conn: Connection, table: str, moved: list[tuple[Any, Any]]) -> None:
    """Give rows whose key the entry changed (in pgAdmin) their earlier key back."""
    t, columns = _table(table), KEYS[table]
    sides = {"was": [before for before, _ in moved], "now": [after for _, after in moved]}
    pairs, params = _unnested(
        {
            f"{side}_{column}": (t.c[column].type, [image[column] for image in images])
            for side, images in sides.items()
            for column in columns
        }
    )
    restored = (
        update(t)
        .where(*(t.c[column] == pairs.c[f"now_{column}"] for column in columns))
        .values({column: pairs.c[f"was_{column}"] for column in columns})
    )
    conn.execute(restored, params)


def _restore_rows(conn: Connection, table: str, earlier: list[dict[str, Any]]) -> None:
    """Give each row its earlier image back, in one statement: the rows the entry deleted come
    back with their keys, the rows it changed take their values back (but a device keeps the
    highest port number it gave out, so that no port id is ever given out twice)."""
    t, rows = _table(table), json_rows(_table(table))
    statement = upsert(t).from_select([c.name for c in t.c], select(*rows.c))
    values = {
        c.name: func.greatest(t.c[c.name], statement.excluded[c.name])
        if ONLY_GROW.get(table) == c.name
        else statement.excluded[c.name]
        for c in t.c
        if c.name not in KEYS[table]
    }
    conn.execute(
        statement.on_conflict_do_update(index_elements=list(KEYS[table]), set_=values),
        {"rows": earlier},
    )


def _restore(conn: Connection, changes: list[Change]) -> None:
    def of(table: str, *ops: str) -> list[Change]:
        return [c for c in changes if c["table"] == table and c["op"] in ops]

    for table, columns in _FREED_FIRST.items():
        if changed := [c["after"] for c in of(table, "update")]:
            t, rows = _table(table), json_rows(_table(table))
            cleared = update(t).where(_matching(t, rows)).values(dict.fromkeys(columns))
            conn.execute(cleared, {"rows": changed})
    # Rows the entry made go, children first.
    for table in reversed(KEYS):
        if made := [c["after"] for c in of(table, "insert")]:
            t, rows = _table(table), json_rows(_table(table))
            conn.execute(delete(t).where(_matching(t, rows)), {"rows": made})
    for table in KEYS:
        moved = [
            (c["before"], c["after"])
            for c in of(table, "update")
            if row_key(table, c["before"]) != row_key(table, c["after"])
        ]
        if moved:
            _restore_keys(conn, table, moved)
    # Parents first.
    for table in KEYS:
        if earlier := [c["before"] for c in of(table, "delete", "update")]:
            _restore_rows(conn, table, earlier)


def _changes(conn: Connection, revision: int) -> list[Change]:
    """Every change of the entry, in the order they were made."""
    entry_id = conn.execute(ENTRY_ID, {"revision": revision}).scalar()
    if entry_id is None:
        raise NotFound(HISTORY_NOT_FOUND)
    return [dict(row) for row in conn.execute(_FULL, {"id": entry_id}).mappings()]


def revert(conn: Connection, *, revision: int) -> str:
    """Undo the entry in this transaction; the revert's own entry (`shown` shapes it)."""
    changes = net(_changes(conn, revision))
    if not changes:
        raise Conflict(NOTHING_TO_REVERT)
    conn.execute(_REVERTS, {"revision": str(revision)})
    if any(change["table"] == "scenes" for change in changes):
        conn.execute(RECORD_SCENES)
    images = [(c["table"], image) for c in changes for image in (c["before"], c["after"]) if image]
    devices = {image["id"] for table, image in images if table == "devices"}
    devices |= {image["device_id"] for table, image in images if table == "ports"}
    lock_patch(conn)
    lock_devices(conn, devices)
    conflicts = _conflicts(conn, changes)
    if conflicts:
        raise Conflict(REVERT_CONFLICT, conflicts=conflicts)
    try:
        _restore(conn, changes)
        # Checks deferred to the commit, and the triggers that write the entry, run now.
        conn.execute(IMMEDIATE)
    except sqlalchemy.exc.IntegrityError as exc:
        # A later change elsewhere stands in the way (a point taken by another port since).
        constraint, table, detail = violated(exc)
        blocking = _conflict(table, None, None, None, BLOCKED + (detail or constraint))
        raise Conflict(REVERT_CONFLICT, conflicts=[blocking]) from exc
    return read_entry(conn, int(conn.execute(REVISION).scalar_one()))
