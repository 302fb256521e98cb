"""What recording history costs the re-linking of scenario d (migration 0008's triggers).

  j         scenario d's load on a copy of the small studio whose `<table>_record_history`
            triggers are disabled (`ALTER TABLE ... DISABLE TRIGGER`): no row changes, no
            entries. Run right after d, with the same seed; the ratio d / j is what history
            leaves of re-linking's requests/s.
  storage   around d (its warm-up included): how much `history_entries` and `history_changes`
            grew, tables, indexes and TOAST (pg_total_relation_size), divided by the entries
            written meanwhile; and the row data alone (pg_column_size of each new row).

A re-link of scenario d moves one port onto a point another port holds (every point of the
small studio is held), so one entry is usually two changed rows: the port that moved and the
one that lost the point, each with its row before and after.
"""

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from bench.report import Check

TRIGGER_SUFFIX = "_record_history"
_TRIGGERS = r"""
    SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE NOT t.tgisinternal AND t.tgname LIKE '%\_record\_history'
     ORDER BY c.relname
"""
_FOOTPRINT = """
    SELECT (SELECT count(*) FROM history_entries),
           (SELECT count(*) FROM history_changes),
           pg_total_relation_size('history_entries') + pg_total_relation_size('history_changes'),
           (SELECT coalesce(max(id), 0) FROM history_entries),
           (SELECT coalesce(max(id), 0) FROM history_changes)
"""
# The row data of what was written after a footprint: every entry and change, as stored.
_ROW_BYTES = """
    SELECT (SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM history_entries e
             WHERE e.id > %(entry)s),
           (SELECT coalesce(sum(pg_column_size(c.*)), 0) FROM history_changes c
             WHERE c.id > %(change)s)
"""


def disable_history(database_url: str) -> list[str]:
    """Disable every `<table>_record_history` trigger of the database; their names."""
    with psycopg.connect(database_url) as conn:
        triggers = conn.execute(_TRIGGERS).fetchall()
        for table, trigger in triggers:
            conn.execute(
                sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                    sql.Identifier(table), sql.Identifier(trigger)
                )
            )
    if not triggers:
        raise RuntimeError(f"no *{TRIGGER_SUFFIX} triggers found: has the schema changed?")
    return [str(trigger) for _, trigger in triggers]


@dataclass(frozen=True)
class Footprint:
    entries: int
    changes: int
    total_bytes: int  # both tables with their indexes and TOAST
    last_entry: int
    last_change: int


def footprint(database_url: str) -> Footprint:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(_FOOTPRINT).fetchone()
    assert row is not None
    return Footprint(*(int(value) for value in row))


STORAGE_TITLE = "history stored per re-link entry (scenario d, warm-up included)"


def storage_check(database_url: str, before: Footprint) -> tuple[Check, float | None]:
    """What the entries written since `before` take; the check and the bytes per entry on disk."""
    after = footprint(database_url)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            _ROW_BYTES, {"entry": before.last_entry, "change": before.last_change}
        ).fetchone()
    assert row is not None
    entry_bytes, change_bytes = int(row[0]), int(row[1])
    entries, changes = after.entries - before.entries, after.changes - before.changes
    if entries <= 0:
        return Check("history", STORAGE_TITLE, "no entry was written"), None
    on_disk = (after.total_bytes - before.total_bytes) / entries
    data: dict[str, Any] = {
        "entries": entries,
        "changes": changes,
        "growth_bytes": after.total_bytes - before.total_bytes,
        "bytes_per_entry": round(on_disk, 1),
        "row_bytes_per_entry": round((entry_bytes + change_bytes) / entries, 1),
        "entry_row_bytes": round(entry_bytes / entries, 1),
        "change_row_bytes": round(change_bytes / changes, 1) if changes else None,
    }
    summary = (
        f"{on_disk:,.0f} bytes on disk per entry (tables, indexes, TOAST; {entries:,} entries,"
        f" {changes / entries:.2f} changed rows each); row data {data['row_bytes_per_entry']:,.0f}"
        f" bytes: the entry {data['entry_row_bytes']:,.0f}"
        + (f", each change {data['change_row_bytes']:,.0f}" if changes else "")
    )
    return Check("history", STORAGE_TITLE, summary, data), on_disk
