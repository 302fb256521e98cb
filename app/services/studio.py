"""The whole studio in and out as one JSON document (SPEC D6).

An import makes the studio what the document says and changes only what differs: a row of the
document that exists as it is stays untouched (its id, its creation time, a port's place among
its device's ports), a row that differs takes the document's values, a row the document does
not hold is deleted, a new one is inserted (new ports after the device's others, in the
document's order). So an identical re-import changes nothing (no revision, no history entry)
and every earlier history entry stays revertable.

The document is read and checked before the transaction (app/services/studio_document.py).
In it, each table's rows are loaded once into a temporary table of the same columns and key
(`import_<table>`, dropped at the end), which every later statement joins. Then, under the
studio lock, one statement per table and step, in an order no constraint trips over: the unique
constraints on cable ends, slots and bay and scene names are checked when each statement ends
(migration 0010), so swaps need no detour, but `ports.patchbay_id`'s is checked row by row, so
the ports that move are freed first. Scene changes are recorded in the import's history entry
(`pepper.record_scenes`). A dry run says what would be created, updated and deleted, and
changes nothing (no id is drawn).
"""

from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Executable,
    Integer,
    MetaData,
    Table,
    TableValuedAlias,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.sql import column

from app.db import shapes
from app.db.base import Base
from app.db.session import RECORD_SCENES
from app.db.shapes import IMMEDIATE, REVISION, body
from app.services.locks import lock_studio
from app.services.studio_document import COLUMNS, Document
from app.services.summaries import KEYS, ONLY_GROW

# What the answer counts (its keys), and the table of each.
KINDS = {
    "bays": "bays",
    "patchbay_points": "patchbay_points",
    "devices": "devices",
    "ports": "ports",
    "cables": "cables",
    "scenes": "scenes",
    "electrical": "port_electrical",
}
_T = Base.metadata.tables
_WRITTEN = {
    **{table: tuple(c for c in columns if c != "n") for table, columns in COLUMNS.items()},
    "scenes": ("id", "name", "description", "created_at", "updated_at", "content"),
}


def export(conn: Connection) -> str:
    """The whole studio as one document, read in one snapshot."""
    return body(conn, shapes.EXPORT)


def _key(table: Table) -> tuple[str, ...]:
    return KEYS[table.name.removeprefix("import_")]


def _rows(table: Table) -> TableValuedAlias:
    """The document's rows of a table (`:rows`), typed as its columns: `params.json_rows`
    over JSON text that the import wrote a chunk at a time, where json_rows' JSONB parameter
    is written in one `json.dumps` (0.2 s holding the GIL for 16 MiB of rows)."""
    typed = [column(c.name, c.type) for c in table.c]
    return (
        func.jsonb_to_recordset(cast(bindparam("rows", type_=Text), JSONB))
        .table_valued(*typed)
        .render_derived(name="r", with_types=True)
    )


def _staging(table: Table) -> Table:
    """Where the document's rows of `table` wait: a temporary table of its columns and key,
    dropped when the transaction ends (ports also keep their place in the document, `n`)."""
    columns = [
        Column(name, table.c[name].type.copy(), primary_key=name in _key(table))
        for name in _WRITTEN[table.name]
    ]
    if table.name == "ports":
        columns.append(Column("n", Integer))
    return Table(
        f"import_{table.name}",
        _STAGING,
        *columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


_STAGING = MetaData()
_DOC = {name: _staging(_T[name]) for name in _WRITTEN}


def _load(staged: Table) -> Executable:
    rows = _rows(staged)
    return insert(staged).from_select([c.name for c in staged.c], select(*rows.c))


_LOADS = {name: _load(staged) for name, staged in _DOC.items()}


def _matching(table: Any, doc: Any) -> Any:
    return and_(*(table.c[name] == doc.c[name] for name in _key(table)))


def _value(side: Any, name: str) -> Any:
    # `json` has no equality; `jsonb` compares values, whatever their spacing or key order.
    col = side.c[name]
    return cast(col, JSONB) if isinstance(col.type, JSON) else col


def _differs(table: Any, doc: Any) -> Any:
    """The row differs from the document's (a growing column: when the document's is higher)."""
    grows = ONLY_GROW.get(table.name)
    names = [n for n in _WRITTEN[table.name] if n not in _key(table) and n != grows]
    ours, theirs = (tuple_(*(_value(side, name) for name in names)) for side in (table, doc))
    different = ours.is_distinct_from(theirs)
    return or_(different, doc.c[grows] > table.c[grows]) if grows else different


def _gone(table: Table) -> Any:
    """The table's rows that the document does not hold."""
    doc = _DOC[table.name]
    return ~exists().where(_matching(table, doc))


def _changed(table: Table) -> Executable:
    """Give the rows that differ the document's values."""
    doc = _DOC[table.name]
    grows = ONLY_GROW.get(table.name)
    values = {
        name: func.greatest(table.c[name], doc.c[name]) if name == grows else doc.c[name]
        for name in _WRITTEN[table.name]
        if name not in _key(table)
    }
    return update(table).where(_matching(table, doc), _differs(table, doc)).values(values)


def _new(table: Table) -> Executable:
    """Insert the document's rows that the table does not hold (ports in their order)."""
    doc = _DOC[table.name]
    names = _WRITTEN[table.name]
    chosen = select(*(doc.c[name] for name in names)).where(~exists().where(_matching(table, doc)))
    return insert(table).from_select(names, chosen.order_by(doc.c.n) if "n" in doc.c else chosen)


def _children_differ(parent: Table, child: str, to_parent: str) -> Any:
    """Some row of the parent's in `child` (a bay's channels, a cable's ends) would be made,
    changed or deleted."""
    table, doc = _T[child], _DOC[child]
    made_or_changed = (
        exists()
        .select_from(doc.outerjoin(table, _matching(table, doc)))
        .where(
            doc.c[to_parent] == parent.c.id,
            or_(table.c[to_parent].is_(None), _differs(table, doc)),
        )
    )
    deleted = exists().where(table.c[to_parent] == parent.c.id, _gone(table))
    return or_(made_or_changed, deleted)


_CHILDREN = {"bays": ("bay_channels", "bay_id"), "cables": ("cable_ends", "cable_id")}


def _counts(name: str) -> list[Any]:
    """How many rows of a table the document would create, update and delete."""
    table, doc = _T[name], _DOC[name]
    differs = _differs(table, doc)
    if name in _CHILDREN:
        differs = or_(differs, _children_differ(table, *_CHILDREN[name]))
    counted = (
        select(func.count()).select_from(doc).where(~exists().where(_matching(table, doc))),
        select(func.count()).select_from(doc.join(table, _matching(table, doc))).where(differs),
        select(func.count()).select_from(table).where(_gone(table)),
    )
    return [query.scalar_subquery() for query in counted]


_PLAN = select(*(count for table in KINDS.values() for count in _counts(table)))
# The order of `_counts`.
_ACTIONS = ("create", "update", "delete")

_ports, _points = _T["ports"], _T["patchbay_points"]
# Ports that the document moves to another point, or to none, let go of theirs first: the
# unique constraint on `ports.patchbay_id` is checked row by row.
_FREED = (
    update(_ports)
    .where(
        _matching(_ports, _DOC["ports"]),
        _ports.c.patchbay_id.is_not(None),
        _ports.c.patchbay_id.is_distinct_from(_DOC["ports"].c.patchbay_id),
    )
    .values(patchbay_id=None)
)
# Plugs in points the document does not hold go before the points do (deleting a point that
# holds a plug is refused), and come back where the document plugs them.
_UNPLUGGED = delete(_T["cable_ends"]).where(
    ~exists().where(_DOC["patchbay_points"].c.id == _T["cable_ends"].c.point_id)
)
# Points in a channel the document does not hold leave their slot before the channel goes
# (deleting a channel deletes its points), and take the document's later.
_UNSLOTTED = (
    update(_points)
    .where(
        _points.c.bay_id.is_not(None),
        ~exists().where(
            _DOC["bay_channels"].c.bay_id == _points.c.bay_id,
            _DOC["bay_channels"].c.number == _points.c.bay_channel,
        ),
    )
    .values(bay_id=None, bay_channel=None, bay_row=None)
)


def _deleted(name: str) -> Executable:
    return delete(_T[name]).where(_gone(_T[name]))


def _changed_and_new(*names: str) -> tuple[Executable, ...]:
    return tuple(step for name in names for step in (_changed(_T[name]), _new(_T[name])))


# What goes first (children before parents, and what a row to delete still refers to freed
# before it), then what changes and comes, parents before children; devices go last, once
# their ports have moved to the devices they keep.
_STEPS: tuple[Executable, ...] = (
    _deleted("ports"),
    _FREED,
    _deleted("cables"),
    _UNPLUGGED,
    _deleted("patchbay_points"),
    _UNSLOTTED,
    _deleted("bays"),
    _deleted("bay_channels"),
    _deleted("port_electrical"),
    *_changed_and_new("bays", "bay_channels", "patchbay_points", "devices", "ports"),
    *_changed_and_new("port_electrical"),
    _deleted("devices"),
    *_changed_and_new("cables", "cable_ends"),
    _deleted("scenes"),
    *_changed_and_new("scenes"),
)


def import_studio(conn: Connection, *, doc: Document, dry_run: bool) -> dict[str, Any]:
    """Make the studio the document's (a dry run changes nothing): what goes, comes and
    changes, and the revision the import made (or the studio's, when nothing changed)."""
    if not dry_run:
        lock_studio(conn, with_scenes=True)
        conn.execute(RECORD_SCENES)
    for name, staged in _DOC.items():
        staged.create(conn)
        conn.execute(_LOADS[name], {"rows": doc.written[name]})
    counts = iter(conn.execute(_PLAN).one())
    plan: dict[str, dict[str, int]] = {"delete": {}, "create": {}, "update": {}}
    for kind in KINDS:
        for action in _ACTIONS:
            plan[action][kind] = int(next(counts))
    revision = None
    if not dry_run:
        for step in _STEPS:
            conn.execute(step)
        # Deferred checks, and the triggers that give the import its revision, run now.
        conn.execute(IMMEDIATE)
        revision = int(conn.execute(REVISION).scalar_one())
    # Dropped at the commit anyway; here, for a transaction that goes on (the tests').
    for staged in _DOC.values():
        staged.drop(conn)
    return {"dry_run": dry_run, "revision": revision, **plan}
