"""History (SPEC D5): reading the entries PostgreSQL records, undoing one, pruning old ones.

A revert undoes an entry's net change to each row it touched, in one transaction: it locks the
whole patch (`locks.lock_patch`) and then the devices involved, checks that every such row is
still as the entry left it (409 with the rows that are not), then restores them. The triggers
record the revert as an entry of its own, which can be reverted in turn.
"""

import asyncio
import json
import logging
from typing import Any

import psycopg

from app.core.errors import (
    HISTORY_NOT_FOUND,
    NOTHING_TO_REVERT,
    REVERT_CONFLICT,
    Conflict,
    NotFound,
)
from app.db.pool import Connection, Database
from app.db.shapes import REVISION
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
# Columns that must be cleared before rows swap their values back (each is unique).
# What deleting a row takes with it (ON DELETE CASCADE): parent -> (child, its foreign key).
_CASCADES = {
    "bays": ("patchbay_points", "bay_id"),
    "devices": ("ports", "device_id"),
    "cables": ("cable_ends", "cable_id"),
}
CHANGED = "changed since the entry"
ADDED = "added since the entry, and would go with what the revert deletes"
BLOCKED = "a later change stands in the way: "
_UNIQUE_REFERENCES = {
    "ports": ("patchbay_id",),
    "patchbay_points": ("bay_id", "bay_channel", "bay_row"),
}

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
PAGE = f"""
    SELECT coalesce(json_agg({_ENTRY} ORDER BY e.revision DESC), '[]')::text
      FROM (SELECT * FROM history_entries
             WHERE %(before)s::bigint IS NULL OR revision < %(before)s
             ORDER BY revision DESC LIMIT %(limit)s + 1) AS e
"""
ONE = f"SELECT {_ENTRY}::text FROM history_entries e WHERE e.revision = %(revision)s"
# A batch of the oldest entries past the retention, and their changes; how many entries went.
_PRUNE = """
    WITH old AS (
        DELETE FROM history_entries
         WHERE id IN (SELECT id FROM history_entries
                       WHERE at < now() - make_interval(days => %(days)s)
                       ORDER BY id LIMIT %(batch)s)
        RETURNING id),
    changes AS (DELETE FROM history_changes WHERE entry_id IN (SELECT id FROM old))
    SELECT count(*) FROM old
"""
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


async def read_entry(conn: Connection, revision: int) -> dict[str, Any]:
    row = await (await conn.execute(ONE, {"revision": revision})).fetchone()
    if row is None:
        raise NotFound(HISTORY_NOT_FOUND)
    entry: dict[str, Any] = json.loads(row[0])
    return entry


# --- Revert -------------------------------------------------------------------------------------
def _key_of(table: str, image: dict[str, Any]) -> str:
    """A hashable key for a row, whatever its primary key's columns."""
    return json.dumps([image[column] for column in KEYS[table]])


async def _current(conn: Connection, table: str, keys: list[str]) -> dict[str, Any]:
    columns = KEYS[table]
    values = [json.loads(key) for key in keys]
    match = " AND ".join(f"t.{column} = k.{column}" for column in columns)
    # Every key column is an integer, but the text id of a port.
    kinds = ["text" if (table, column) == ("ports", "id") else "integer" for column in columns]
    given = ", ".join(f"%(c{i})s::{kind}[]" for i, kind in enumerate(kinds))
    query = (
        f"SELECT to_jsonb(t) FROM {table} t, unnest({given}) AS k({', '.join(columns)}) "
        f"WHERE {match}"
    )
    params = {f"c{i}": [value[i] for value in values] for i in range(len(columns))}
    rows = await (await conn.execute(query, params)).fetchall()
    return {_key_of(table, row[0]): row[0] for row in rows}


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


async def _conflicts(conn: Connection, changes: list[Change]) -> list[dict[str, Any]]:
    """The rows that are no longer as the entry left them, and the rows added since that
    deleting what the entry made would delete with it."""
    found = []
    for table in KEYS:
        touched = [change for change in changes if change["table"] == table]
        if not touched:
            continue
        keys = [_key_of(table, change["after"] or change["before"]) for change in touched]
        current = await _current(conn, table, keys)
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
        query = f"SELECT to_jsonb(t) FROM {child} t WHERE t.{column} = ANY(%(ids)s)"
        for (row,) in await (await conn.execute(query, {"ids": made})).fetchall():
            if _key_of(child, row) not in ours:
                values = [row[c] for c in KEYS[child]]
                shown = (
                    values[0] if len(values) == 1 else dict(zip(KEYS[child], values, strict=True))
                )
                found.append(_conflict(child, shown, None, row, ADDED))
    return found


async def _restore(conn: Connection, changes: list[Change]) -> None:
    def rows(table: str, op: str) -> list[tuple[Any, Any]]:
        return [
            (change["before"], change["after"])
            for change in changes
            if change["table"] == table and change["op"] == op
        ]

    def where(table: str) -> str:
        return " AND ".join(f"t.{column} = r.{column}" for column in KEYS[table])

    # Free what rows will take back, so that no two hold one point or slot on the way.
    for table, columns in _UNIQUE_REFERENCES.items():
        images = [after for _, after in rows(table, "update")]
        if images:
            cleared = ", ".join(f"{column} = NULL" for column in columns)
            await conn.execute(
                f"UPDATE {table} t SET {cleared} FROM jsonb_populate_recordset(NULL::{table}, "
                f"%(rows)s) r WHERE {where(table)}",
                {"rows": json.dumps(images)},
            )
    # Rows the entry made go, children first.
    for table in reversed(KEYS):
        images = [after for _, after in rows(table, "insert")]
        if images:
            await conn.execute(
                f"DELETE FROM {table} t USING jsonb_populate_recordset(NULL::{table}, %(rows)s) r "
                f"WHERE {where(table)}",
                {"rows": json.dumps(images)},
            )
    # Rows the entry deleted come back, parents first, with their ids.
    for table in KEYS:
        images = [before for before, _ in rows(table, "delete")]
        if images:
            await conn.execute(
                f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, "
                "%(rows)s)",
                {"rows": json.dumps(images)},
            )
    # Rows the entry changed take their earlier values back; but a device keeps the highest
    # port number it gave out, so that no port id is ever given out twice.
    kept = {(name, c): f"greatest(t.{c}, r.{c})" for name, c in _ONLY_GROW.items()}
    for table in KEYS:
        images = [before for before, _ in rows(table, "update")]
        if images:
            restored = [column for column in images[0] if column not in KEYS[table]]
            assigned = ", ".join(
                f"{column} = {kept.get((table, column), f'r.{column}')}" for column in restored
            )
            await conn.execute(
                f"UPDATE {table} t SET {assigned} FROM jsonb_populate_recordset(NULL::{table}, "
                f"%(rows)s) r WHERE {where(table)}",
                {"rows": json.dumps(images)},
            )


async def revert(conn: Connection, *, revision: int) -> dict[str, Any]:
    """Undo the entry in this transaction; the revert's own entry."""
    entry = await read_entry(conn, revision)
    changes = net(entry["changes"])
    if not changes:
        raise Conflict(NOTHING_TO_REVERT)
    await conn.execute("SELECT set_config('pepper.reverts', %s, true)", (str(revision),))
    images = [(c["table"], image) for c in changes for image in (c["before"], c["after"]) if image]
    devices = {image["id"] for table, image in images if table == "devices"}
    devices |= {image["device_id"] for table, image in images if table == "ports"}
    await lock_patch(conn)
    await lock_devices(conn, devices)
    conflicts = await _conflicts(conn, changes)
    if conflicts:
        raise Conflict(REVERT_CONFLICT, conflicts=conflicts)
    try:
        await _restore(conn, changes)
        # Checks deferred to the commit, and the triggers that write the entry, run now.
        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except psycopg.errors.IntegrityError as exc:
        # A later change elsewhere stands in the way (a point taken by another port since).
        reason = BLOCKED + (exc.diag.message_detail or exc.diag.constraint_name or "")
        blocking = _conflict(exc.diag.table_name or "", None, None, None, reason)
        raise Conflict(REVERT_CONFLICT, conflicts=[blocking]) from exc
    row = await (await conn.execute(REVISION)).fetchone()
    assert row is not None
    return shown(await read_entry(conn, int(row[0])))


# --- Retention ----------------------------------------------------------------------------------
async def prune(database: Database, *, days: int) -> int:
    """Delete entries older than `days` with their changes, a small batch per statement (short
    locks, requests go on between them); how many entries went."""
    removed = 0
    while True:
        row = await database.fetch_row(_PRUNE, {"days": days, "batch": PRUNE_BATCH})
        batch = int(row[0]) if row else 0
        removed += batch
        if batch < PRUNE_BATCH:
            if removed:
                logger.info("pruned %d history entries older than %d days", removed, days)
            return removed


async def keep_pruning(database: Database, *, days: int) -> None:
    """Prune now and then, for as long as the process runs (a background task); the first
    time a minute after the start, out of the way of a busy start."""
    await asyncio.sleep(PRUNE_FIRST_AFTER_SECONDS)
    while True:
        try:
            await prune(database, days=days)
        except Exception as exc:  # the database may be away; try again next time
            logger.warning("history pruning failed: %s", exc)
        await asyncio.sleep(PRUNE_EVERY_SECONDS)
