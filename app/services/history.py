"""History (SPEC D5): reading the entries PostgreSQL records, undoing one, pruning old ones.

A revert undoes an entry's net change to each row it touched, in one transaction: it locks the
whole patch (`locks.lock_patch`) and then the devices involved, checks that every such row is
still as the entry left it (409 with the rows that are not), then restores them. The triggers
record the revert as an entry of its own, which can be reverted in turn.
"""

import json
import logging
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
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.core.errors import (
    HISTORY_NOT_FOUND,
    NOTHING_TO_REVERT,
    REVERT_CONFLICT,
    Conflict,
    NotFound,
    violated,
)
from app.db.base import Base
from app.db.params import integers, json_rows
from app.db.session import Database
from app.db.shapes import IMMEDIATE, REVISION
from app.models import HistoryChange, HistoryEntry
from app.services.locks import lock_devices, lock_patch
from app.services.summaries import Change, net, summarize

logger = logging.getLogger("pepper.history")

# Each table of the studio and its primary key, as migration 0008 records them; parents first.
KEYS = {
    "devices": ("id",),
    "bays": ("id",),
    "bay_channels": ("bay_id", "number"),
    "patchbay_points": ("id",),
    "ports": ("id",),
    "cables": ("id",),
    "cable_ends": ("cable_id", "end_number"),
}
# What deleting a row takes with it (ON DELETE CASCADE): parent -> (child, its foreign key).
_CASCADES = {
    "bays": ("patchbay_points", "bay_id"),
    "devices": ("ports", "device_id"),
    "cables": ("cable_ends", "cable_id"),
}
CHANGED = "changed since the entry"
ADDED = "added since the entry, and would go with what the revert deletes"
BLOCKED = "a later change stands in the way: "
# Columns that must be cleared before rows swap their values back (each is unique).
_UNIQUE_REFERENCES = {
    "ports": ("patchbay_id",),
    "patchbay_points": ("bay_id", "bay_channel", "bay_row"),
}

# An entry with its changes, as PostgreSQL writes it (SQL text: it builds the JSON).
_ENTRY = """
    json_build_object(
        'revision', e.revision, 'at', e.at, 'source', e.source, 'request_id', e.request_id,
        'actor', e.actor, 'reverts', e.reverts, 'names', e.names,
        'changes', (SELECT coalesce(json_agg(json_build_object(
                        'table', c.table_name, 'key', c.key, 'op', c.op,
                        'before', c.before, 'after', c.after) ORDER BY c.id), '[]')
                      FROM history_changes c WHERE c.entry_id = e.id))
"""
# One page more than asked for, to know whether more remain.
PAGE = text(f"""
    SELECT coalesce(json_agg({_ENTRY} ORDER BY e.revision DESC), '[]')::text
      FROM (SELECT * FROM history_entries
             WHERE CAST(:before AS bigint) IS NULL OR revision < :before
             ORDER BY revision DESC LIMIT CAST(:limit AS integer) + 1) AS e
""")
ONE = text(f"SELECT {_ENTRY}::text FROM history_entries e WHERE e.revision = :revision")
_REVERTS = select(func.set_config("pepper.reverts", bindparam("revision"), True))
# A batch of the oldest entries past the retention, and their changes; how many entries went.
_OLD = (
    delete(HistoryEntry)
    .where(
        HistoryEntry.id.in_(
            select(HistoryEntry.id)
            .where(HistoryEntry.at < func.now() - func.make_interval(0, 0, 0, bindparam("days")))
            .order_by(HistoryEntry.id)
            .limit(bindparam("batch"))
        )
    )
    .returning(HistoryEntry.id)
    .cte("old")
)
_PRUNE = (
    select(func.count())
    .select_from(_OLD)
    .add_cte(
        delete(HistoryChange).where(HistoryChange.entry_id.in_(select(_OLD.c.id))).cte("changes")
    )
)
PRUNE_BATCH = 200
PRUNE_EVERY_SECONDS = 3600.0
PRUNE_FIRST_AFTER_SECONDS = 60.0


def shown(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the API shows it: its summary, and none of the bookkeeping."""
    return {
        "revision": entry["revision"],
        "at": entry["at"],
        "source": entry["source"],
        "request_id": entry["request_id"],
        "actor": entry["actor"],
        "summary": summarize(entry),
        "changes": entry["changes"],
    }


def page(raw: str, limit: int) -> dict[str, Any]:
    entries = json.loads(raw)
    more = len(entries) > limit
    entries = entries[:limit]
    return {
        "entries": [shown(entry) for entry in entries],
        "next_before": entries[-1]["revision"] if more else None,
    }


def read_page(conn: Connection, *, before: int | None, limit: int) -> str:
    """The raw entries of a page, newest first (`page` shapes them, with no connection held)."""
    return str(conn.execute(PAGE, {"before": before, "limit": limit}).scalar())


def read_entry(conn: Connection, revision: int) -> dict[str, Any]:
    raw = conn.execute(ONE, {"revision": revision}).scalar()
    if raw is None:
        raise NotFound(HISTORY_NOT_FOUND)
    entry: dict[str, Any] = json.loads(raw)
    return entry


def get_entry(conn: Connection, *, revision: int) -> dict[str, Any]:
    """One entry as the API shows it."""
    return shown(read_entry(conn, revision))


# --- Revert -------------------------------------------------------------------------------------
def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _key_of(table: str, image: dict[str, Any]) -> str:
    """A hashable key for a row, whatever its primary key's columns."""
    return json.dumps([image[column] for column in KEYS[table]])


def _current(conn: Connection, table: str, keys: list[str]) -> dict[str, Any]:
    """The rows of `table` with these keys, as they are now (as JSON images)."""
    t, columns = _table(table), KEYS[table]
    wanted = (
        func.unnest(*(bindparam(f"c{i}", type_=ARRAY(t.c[c].type)) for i, c in enumerate(columns)))
        .table_valued(*columns)
        .render_derived(name="k")
    )
    query = select(func.to_jsonb(t.table_valued())).where(
        *(t.c[column] == wanted.c[column] for column in columns)
    )
    values = [json.loads(key) for key in keys]
    params = {f"c{i}": [value[i] for value in values] for i in range(len(columns))}
    return {_key_of(table, image): image for image in conn.execute(query, params).scalars()}


# Columns that only grow: a revert keeps the higher value, and so does not compare them (a
# device's highest port number: port ids are never given out twice).
_ONLY_GROW = {"devices": "last_port_number"}


def _compared(table: str, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A row as a revert compares it: without what a revert keeps anyway."""
    if image is None or table not in _ONLY_GROW:
        return image
    return {column: value for column, value in image.items() if column != _ONLY_GROW[table]}


def _conflict(table: str, key: Any, expected: Any, now: Any, reason: str) -> dict[str, Any]:
    """One item of a 409's `conflicts` (the RevertConflict schema)."""
    return {"table": table, "key": key, "expected": expected, "now": now, "reason": reason}


def _conflicts(conn: Connection, changes: list[Change]) -> list[dict[str, Any]]:
    """The rows that are no longer as the entry left them, and the rows added since that
    deleting what the entry made would delete with it."""
    found = []
    for table in KEYS:
        touched = [change for change in changes if change["table"] == table]
        if not touched:
            continue
        keys = [_key_of(table, change["after"] or change["before"]) for change in touched]
        current = _current(conn, table, keys)
        for key, change in zip(keys, touched, strict=True):
            if _compared(table, current.get(key)) != _compared(table, change["after"]):
                found.append(
                    _conflict(table, change["key"], change["after"], current.get(key), CHANGED)
                )
    for parent, (child, column) in _CASCADES.items():
        made = [c["after"]["id"] for c in changes if c["table"] == parent and c["op"] == "insert"]
        if not made:
            continue
        ours = {_key_of(child, c["after"] or c["before"]) for c in changes if c["table"] == child}
        t = _table(child)
        query = select(func.to_jsonb(t.table_valued())).where(t.c[column] == any_(integers("ids")))
        for row in conn.execute(query, {"ids": made}).scalars():
            if _key_of(child, row) not in ours:
                values = [row[c] for c in KEYS[child]]
                shown = (
                    values[0] if len(values) == 1 else dict(zip(KEYS[child], values, strict=True))
                )
                found.append(_conflict(child, shown, None, row, ADDED))
    return found


def _restore(conn: Connection, changes: list[Change]) -> None:
    def images(table: str, op: str, side: str) -> list[dict[str, Any]]:
        return [c[side] for c in changes if c["table"] == table and c["op"] == op]

    def matching(t: Table, rows: Any) -> Any:
        return and_(*(t.c[column] == rows.c[column] for column in KEYS[t.name]))

    # Free what rows will take back, so that no two hold one point or slot on the way.
    for table, columns in _UNIQUE_REFERENCES.items():
        if changed := images(table, "update", "after"):
            t, rows = _table(table), json_rows(_table(table))
            cleared = update(t).where(matching(t, rows)).values(dict.fromkeys(columns))
            conn.execute(cleared, {"rows": changed})
    # Rows the entry made go, children first.
    for table in reversed(KEYS):
        if made := images(table, "insert", "after"):
            t, rows = _table(table), json_rows(_table(table))
            conn.execute(delete(t).where(matching(t, rows)), {"rows": made})
    # Rows the entry deleted come back, parents first, with their ids.
    for table in KEYS:
        if deleted := images(table, "delete", "before"):
            t, rows = _table(table), json_rows(_table(table))
            everything = [c.name for c in t.c]
            conn.execute(insert(t).from_select(everything, select(*rows.c)), {"rows": deleted})
    # Rows the entry changed take their earlier values back; but a device keeps the highest
    # port number it gave out, so that no port id is ever given out twice.
    for table in KEYS:
        if earlier := images(table, "update", "before"):
            t, rows = _table(table), json_rows(_table(table))
            restored = {
                column: func.greatest(t.c[column], rows.c[column])
                if _ONLY_GROW.get(table) == column
                else rows.c[column]
                for column in earlier[0]
                if column not in KEYS[table]
            }
            conn.execute(update(t).where(matching(t, rows)).values(restored), {"rows": earlier})


def revert(conn: Connection, *, revision: int) -> dict[str, Any]:
    """Undo the entry in this transaction; the revert's own entry."""
    entry = read_entry(conn, revision)
    changes = net(entry["changes"])
    if not changes:
        raise Conflict(NOTHING_TO_REVERT)
    conn.execute(_REVERTS, {"revision": str(revision)})
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
    return shown(read_entry(conn, int(conn.execute(REVISION).scalar_one())))


# --- Retention ----------------------------------------------------------------------------------
def prune(database: Database, *, days: int) -> int:
    """Delete entries older than `days` with their changes, a small batch per statement (short
    locks, requests go on between them); how many entries went."""
    removed = 0
    while True:
        with database.connection() as conn:
            batch = int(conn.execute(_PRUNE, {"days": days, "batch": PRUNE_BATCH}).scalar_one())
        removed += batch
        if batch < PRUNE_BATCH:
            if removed:
                logger.info("pruned %d history entries older than %d days", removed, days)
            return removed
