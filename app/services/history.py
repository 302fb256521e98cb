"""History (SPEC D5): reading the entries PostgreSQL records, and pruning old ones.

Reading is bounded whatever the entries hold (SPEC G): an entry shows its first changes (at
most `SHOWN_CHANGES`, within `SHOWN_BYTES`) and how many it has, all of them paged at
`GET /history/{revision}/changes`; an entry of more than `LARGE` changes is summarised from
counts PostgreSQL makes, never loaded row by row; a page stops early (with `next_before`) rather
than pass `PAGE_BYTES`, or once its large entries have had `SCAN_BUDGET` changes counted.

Reverting an entry: app/services/revert.py.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    bindparam,
    delete,
    func,
    select,
    text,
)

from app.core.errors import (
    HISTORY_NOT_FOUND,
    NotFound,
)
from app.db.session import Database
from app.db.shapes import found, json_object
from app.models import HistoryChange, HistoryEntry
from app.services.summaries import summarize, summarize_counts

logger = logging.getLogger("pepper.history")

# --- Reading ------------------------------------------------------------------------------------
PAGE_BYTES = 1_000_000  # a page of /history, as sent (SPEC G: under 1 MiB)
SHOWN_CHANGES = 20  # the changes an entry shows itself...
SHOWN_BYTES = 64 * 1024  # ... within this much JSON (at most 3 times as much once sent)
CHANGES_BYTES = 512 * 1024  # a page of /history/{revision}/changes, past its first change
LARGE = 100  # an entry of more changes is summarised from counts
NAMES_BYTES = 64 * 1024  # names kept at the commit, past which a summary goes without
SCAN_BUDGET = 200_000  # changes the large entries of one page may have counted
BATCH = 10  # entries read per statement (one large entry at most)

_CHANGE = json_object(
    table="c.table_name", key="c.key", op="c.op", before="c.before", after="c.after"
)
# What a summary reads of a row: each value whose JSON is longer than 200 characters (a
# scene's content, a description typed in pgAdmin) clipped, with a digest of the whole so
# that a change still shows.
_CLIPPED = """(SELECT jsonb_object_agg(v.key, CASE WHEN length(v.value::text) <= 200 THEN v.value
                   ELSE to_jsonb(left(v.value #>> '{{}}', 100) || '…' || md5(v.value::text)) END)
                 FROM jsonb_each(c.{side}) AS v)"""
_DIGEST = json_object(
    table="c.table_name",
    key="c.key",
    op="c.op",
    before=_CLIPPED.format(side="before"),
    after=_CLIPPED.format(side="after"),
)
# The first changes, while their JSON stays within :shown_bytes.
_SHOWN = f"""coalesce((SELECT json_agg(s.change ORDER BY s.id) FROM (
    SELECT f.id, f.change, sum(octet_length(f.change::text)) OVER (ORDER BY f.id) AS running
      FROM (SELECT c.id, {_CHANGE} AS change FROM history_changes c
             WHERE c.entry_id = e.id ORDER BY c.id LIMIT :shown) AS f) AS s
    WHERE s.running <= :shown_bytes), '[]')"""
# How each row ended, counted per table: made (unless deleted again), deleted, only updated, or
# deleted and made again with its key (an import). Plain aggregates: no sort per row.
_COUNTS = """(SELECT json_agg(json_build_array(r.table_name, r.verb, r.n)) FROM (
    SELECT k.table_name, k.verb, count(*) AS n FROM (
        SELECT c.table_name,
               CASE WHEN min(c.id) FILTER (WHERE c.op = 'insert') = min(c.id) THEN
                        CASE WHEN max(c.id) FILTER (WHERE c.op = 'delete') = max(c.id)
                             THEN NULL ELSE 'added' END
                    WHEN max(c.id) FILTER (WHERE c.op = 'delete') = max(c.id) THEN 'removed'
                    WHEN bool_and(c.op = 'update') THEN 'changed'
                    ELSE 'replaced' END AS verb
          FROM history_changes c WHERE c.entry_id = e.id GROUP BY c.table_name, c.key) AS k
     WHERE k.verb IS NOT NULL GROUP BY k.table_name, k.verb) AS r)"""
# Entries as a page shows them, with what their summary needs: every change (as digests) and
# the names of a small entry, the counts of a large one. SQL text: PostgreSQL builds the JSON.
_ENTRY = json_object(
    revision="e.revision",
    at="e.at",
    source="e.source",
    request_id="e.request_id",
    actor="e.actor",
    reverts="e.reverts",
    change_count="total.n",
    changes=_SHOWN,
    names="""CASE WHEN total.n <= :large AND octet_length(e.names::text) <= :names_bytes
                  THEN e.names ELSE '{}' END""",
    digest=f"""CASE WHEN total.n <= :large THEN (SELECT json_agg({_DIGEST} ORDER BY c.id)
                    FROM history_changes c WHERE c.entry_id = e.id) END""",
    counts=f"CASE WHEN total.n > :large THEN {_COUNTS} END",
)
_ENTRIES = text(f"""
    SELECT e.revision, total.n, b.body
      FROM history_entries e,
           LATERAL (SELECT count(*) AS n FROM history_changes c WHERE c.entry_id = e.id) AS total,
           LATERAL (SELECT {_ENTRY}::text AS body) AS b
     WHERE e.id = ANY(CAST(:ids AS bigint[]))
     ORDER BY e.revision DESC
""")
_BOUNDS = {
    "shown": SHOWN_CHANGES,
    "shown_bytes": SHOWN_BYTES,
    "large": LARGE,
    "names_bytes": NAMES_BYTES,
}
# The entries of a page (one more, to know whether more remain), and which are large; the
# first page, and those before a revision.
_NEWEST = (
    select(
        HistoryEntry.id,
        HistoryEntry.revision,
        select(HistoryChange.id)
        .where(HistoryChange.entry_id == HistoryEntry.id)
        .order_by(HistoryChange.id)
        .offset(LARGE)
        .limit(1)
        .exists()
        .label("large"),
    )
    .order_by(HistoryEntry.revision.desc())
    .limit(bindparam("limit"))
)
_OLDER = _NEWEST.where(HistoryEntry.revision < bindparam("before"))
ENTRY_ID = select(HistoryEntry.id).where(HistoryEntry.revision == bindparam("revision"))
# A page of an entry's changes after a change's id, within :bytes past its first change.
_CHANGES = text(f"""
    WITH entry AS (SELECT e.id, e.revision FROM history_entries e WHERE e.revision = :revision),
    slice AS (SELECT c.id, {_CHANGE} AS change FROM history_changes c, entry
               WHERE c.entry_id = entry.id AND c.id > :after ORDER BY c.id LIMIT :limit + 1),
    sized AS (SELECT s.id, s.change, row_number() OVER (ORDER BY s.id) AS n,
                     sum(octet_length(s.change::text)) OVER (ORDER BY s.id) AS running
                FROM slice s),
    kept AS (SELECT * FROM sized WHERE n <= :limit AND (n = 1 OR running <= :bytes))
    SELECT {
    json_object(
        revision="entry.revision",
        changes="coalesce((SELECT json_agg(k.change ORDER BY k.id) FROM kept k), '[]')",
        next_after="CASE WHEN (SELECT count(*) FROM sized) > (SELECT count(*) FROM kept) "
        "THEN (SELECT max(k.id) FROM kept k) END",
    )
}::text FROM entry
""")


@dataclass(frozen=True, slots=True)
class RawPage:
    """What a page read: entries' JSON, newest first, and whether older ones remain."""

    entries: list[str]
    more: bool


def _batches(heads: list[tuple[int, bool]]) -> list[list[int]]:
    """Entries' ids in groups of BATCH, a large entry closing its group."""
    batches: list[list[int]] = [[]]
    for entry_id, large in heads:
        batches[-1].append(entry_id)
        if large or len(batches[-1]) == BATCH:
            batches.append([])
    return [batch for batch in batches if batch]


def _bodies(conn: Connection, ids: list[int]) -> list[Row[Any]]:
    return list(conn.execute(_ENTRIES, {"ids": ids, **_BOUNDS}))


def read_page(conn: Connection, *, before: int | None, limit: int) -> RawPage:
    """The entries of a page, read until the page is full or a bound is reached (`page`
    shapes them, with no connection held)."""
    heads = conn.execute(
        _NEWEST if before is None else _OLDER, {"before": before, "limit": limit + 1}
    )
    found = [(int(head.id), bool(head.large)) for head in heads]
    read: list[str] = []
    size = counted = 0
    for batch in _batches(found[:limit]):
        if read and (size >= PAGE_BYTES or counted >= SCAN_BUDGET):
            break
        for row in _bodies(conn, batch):
            read.append(row.body)
            size += len(row.body)
            counted += row.n if row.n > LARGE else 0
    return RawPage(read, more=len(found) > len(read))


def read_entry(conn: Connection, revision: int) -> str:
    """One entry's JSON, as a page holds it."""
    entry_id = conn.execute(ENTRY_ID, {"revision": revision}).scalar()
    bodies = _bodies(conn, [entry_id]) if entry_id is not None else []
    if not bodies:
        raise NotFound(HISTORY_NOT_FOUND)
    return str(bodies[0].body)


def shown(raw: str) -> dict[str, Any]:
    """An entry as the API shows it: its summary, and none of the bookkeeping."""
    entry = json.loads(raw)
    if entry["digest"] is not None:
        summary = summarize({**entry, "changes": entry["digest"]})
    else:
        summary = summarize_counts(entry)
    keys = ("revision", "at", "source", "request_id", "actor")
    return {
        **{key: entry[key] for key in keys},
        "summary": summary,
        "changes": entry["changes"],
        "change_count": entry["change_count"],
    }


def _size(entry: dict[str, Any]) -> int:
    """Bytes of the entry as `json_response` writes it (compact, ASCII)."""
    return len(json.dumps(entry, separators=(",", ":")))


def page(raw: RawPage) -> dict[str, Any]:
    """The page's entries that fit in PAGE_BYTES (the first always does)."""
    entries: list[dict[str, Any]] = []
    size = len('{"entries":[],"next_before":9223372036854775807}')
    for body in raw.entries:
        entry = shown(body)
        size += _size(entry) + 1
        if entries and size > PAGE_BYTES:
            break
        entries.append(entry)
    more = entries and (raw.more or len(entries) < len(raw.entries))
    return {"entries": entries, "next_before": entries[-1]["revision"] if more else None}


def read_changes(conn: Connection, *, revision: int, after: int, limit: int) -> str:
    """A page of the entry's changes, in the order they were made, after the change `after`
    names (0: from the first)."""
    params = {"revision": revision, "after": after, "limit": limit, "bytes": CHANGES_BYTES}
    return found(conn, _CHANGES, params, HISTORY_NOT_FOUND)


# --- Retention ----------------------------------------------------------------------------------
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
