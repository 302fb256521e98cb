"""Every response shape, written once, as PostgreSQL builds it.

Each shape is an SQL expression over a row alias (`p` a port, `pp` a point, `d` a device...);
the reads and the writes' RETURNING clauses use the same fragments, so a Port is the same JSON
wherever it appears. PostgreSQL builds the whole body in the statement that reads it: one round
trip, one snapshot, and no Python object per row (the 1.6 MB state of a large studio costs the
API process little). The Pydantic models in app/schemas/ declare the same shapes for OpenAPI and
validation; the tests check every body against them.

The shapes are SQL text (`text()`, `literal_column`) because PostgreSQL writes these bodies:
`row_to_json` and `json_agg` have no Core construct, and Core's `func.json_build_object` binds
every key as a parameter and writes larger JSON. The writes that return a shape are Core
statements on the tables under the same aliases (`PORTS`, `POINTS`, ...), with the shape as
their RETURNING column.
"""

from typing import Any, cast

from sqlalchemy import (
    Alias,
    ColumnElement,
    Connection,
    Executable,
    TextClause,
    literal_column,
    text,
)

from app.core.errors import NotFound
from app.db.base import Base
from app.models import Cable, Device, PatchbayPoint, Port, Scene


def json_object(**fields: str) -> str:
    """A JSON object with these keys, in this order, each value an SQL expression.

    `row_to_json` of a one-row subselect writes compact JSON (`{"id":1}`), where
    `json_build_object` writes `{"id" : 1}`: about a tenth smaller for a large state, and
    quicker to build.
    """
    columns = ", ".join(f'{expression} AS "{key}"' for key, expression in fields.items())
    return f"row_to_json((SELECT shape FROM (SELECT {columns}) AS shape))"


def array(shape: str, source: str, order: str) -> str:
    """A JSON array of `shape` over `source` (a FROM clause, with WHERE), `[]` when empty."""
    return f"coalesce((SELECT json_agg({shape} ORDER BY {order}) FROM {source}), '[]')"


def returned(shape: str) -> ColumnElement[Any]:
    """A shape as the RETURNING column (or a selected column) of a Core statement."""
    return literal_column(f"{shape}::text")


def _aliased(model: type[Base], name: str) -> Alias:
    # A table's alias is an Alias (which UPDATE and DELETE take); SQLAlchemy types it wider.
    return cast(Alias, model.__table__.alias(name))


# The tables under the aliases the shapes are written over.
PORT_ROWS = _aliased(Port, "p")
POINT_ROWS = _aliased(PatchbayPoint, "pp")
DEVICE_ROWS = _aliased(Device, "d")
CABLE_ROWS = _aliased(Cable, "k")
SCENE_ROWS = _aliased(Scene, "s")

# --- Part A shapes ----------------------------------------------------------------------------
POINT = json_object(id="pp.id", name="pp.name", description="pp.description", type="pp.type")
PORT = json_object(id="p.id", label="p.label", type="p.type", patchbay_id="p.patchbay_id")


# The ports named in :ids, in that order, and the ports in :losers that lost their point.
BULK_LINK_RESULT = text(f"""
    SELECT {
    json_object(
        ports=array(
            PORT,
            "unnest(CAST(:ids AS text[])) WITH ORDINALITY AS given(id, n) JOIN ports p USING (id)",
            "given.n",
        ),
        unlinked_port_ids="to_json(CAST(:losers AS text[]))",
    )
}::text
""")

# A device's ports in creation order.
DEVICE = json_object(
    id="d.id",
    name="d.name",
    type="d.type",
    ports=array(PORT, "ports p WHERE p.device_id = d.id", "p.position"),
)
DEVICE_DELETED = json_object(id="d.id", name="d.name", type="d.type")
# A port's electrical values as it shows them (`p` a port, `e` its row of values, if any):
# phantom only on an input, phantom_safe false only on an output (SPEC E1).
ELECTRICAL = json_object(
    port_id="p.id",
    level="e.level",
    phantom="coalesce(e.phantom, false) AND p.type = 'Input'",
    phantom_safe="coalesce(e.phantom_safe, true) OR p.type <> 'Output'",
)
# The ports whose values differ from the defaults as they show them.
SHOWN_VALUES = (
    "ports p JOIN port_electrical e ON e.port_id = p.id WHERE e.level IS NOT NULL"
    " OR (e.phantom AND p.type = 'Input') OR (NOT e.phantom_safe AND p.type = 'Output')"
)


# --- Part D shapes ------------------------------------------------------------------------------
def _slot_join(row: str) -> str:
    """The point in a row ('top' or 'bottom') of channel `c`, as the alias `row`, if any."""
    return (
        f" LEFT JOIN patchbay_points {row} ON {row}.bay_id = c.bay_id"
        f" AND {row}.bay_channel = c.number AND {row}.bay_row = '{row}'"
    )


CHANNEL = json_object(
    number="c.number", mode="c.mode", top_point_id="top.id", bottom_point_id="bottom.id"
)
BAY = json_object(
    id="b.id",
    name="b.name",
    description="b.description",
    channels=array(
        CHANNEL,
        "bay_channels c" + _slot_join("top") + _slot_join("bottom") + " WHERE c.bay_id = b.id",
        "c.number",
    ),
)


# A cable's points in the order they were given.
def _cable(points: str) -> str:
    return json_object(id="k.id", points=points, label="k.label", color="k.color")


# One cable `k`, its ends looked up.
CABLE = _cable(
    "(SELECT json_agg(e.point_id ORDER BY e.end_number) FROM cable_ends e WHERE e.cable_id = k.id)"
)
# Every cable joined to its two ends (a committed cable has exactly two): for lists, where one
# join costs less than a lookup per cable.
CABLES_WITH_ENDS = (
    "cables k JOIN cable_ends a ON a.cable_id = k.id AND a.end_number = 1"
    " JOIN cable_ends b ON b.cable_id = k.id AND b.end_number = 2"
)

# A scene: its own fields, then its content (captured by PATCH below).
_SCENE_FIELDS = {
    "id": "s.id",
    "name": "s.name",
    "description": "s.description",
    "created_at": "s.created_at",
    "updated_at": "s.updated_at",
}
SCENE = json_object(
    **_SCENE_FIELDS,
    links="s.content->'links'",
    cables="s.content->'cables'",
    modes="s.content->'modes'",
)
SCENE_SUMMARY = json_object(
    **_SCENE_FIELDS,
    counts=json_object(
        links="json_array_length(s.content->'links')",
        cables="json_array_length(s.content->'cables')",
        modes="json_array_length(s.content->'modes')",
    ),
)
# The patch as it is now, as a scene holds it: every port with its point (or null), every
# cable with its points in their order, every channel's mode.
PATCH = json_object(
    links=array(
        json_object(port_id="p.id", patchbay_id="p.patchbay_id"),
        "ports p",
        "p.device_id, p.position",
    ),
    cables=array(
        json_object(
            points="json_build_array(a.point_id, b.point_id)", label="k.label", color="k.color"
        ),
        CABLES_WITH_ENDS,
        "k.id",
    ),
    modes=array(
        json_object(bay_id="c.bay_id", channel="c.number", mode="c.mode"),
        "bay_channels c",
        "c.bay_id, c.number",
    ),
)

POINTS = array(POINT, "patchbay_points pp", "pp.id")
DEVICES = array(DEVICE, "devices d", "d.id")
BAYS = array(BAY, "bays b", "b.id")
CABLES = array(_cable("json_build_array(a.point_id, b.point_id)"), CABLES_WITH_ENDS, "k.id")
SCENES = array(SCENE_SUMMARY, "scenes s", "s.id")

# --- Whole reads --------------------------------------------------------------------------------
REVISION = text("SELECT revision FROM state_revision")
# Fires the deferred triggers now, so that the revision a transaction makes can be read before
# it commits (SQL text: Core has no SET CONSTRAINTS).
IMMEDIATE = text("SET CONSTRAINTS ALL IMMEDIATE")
STATE = text(f"""
    SELECT revision,
           {json_object(patchbay_points=POINTS, devices=DEVICES, bays=BAYS, cables=CABLES)}::text
      FROM state_revision
""")
LIST_POINTS = text(f"SELECT {POINTS}::text")
GET_POINT = text(f"SELECT {POINT}::text FROM patchbay_points pp WHERE pp.id = :id")
LIST_DEVICES = text(f"SELECT {DEVICES}::text")
GET_DEVICE = text(f"SELECT {DEVICE}::text FROM devices d WHERE d.id = :id")
GET_PORT = text(f"SELECT {PORT}::text FROM ports p WHERE p.id = :id")
LIST_PORTS = text(
    "SELECT "
    + array(
        PORT,
        """ports p WHERE (CAST(:device AS integer) IS NULL OR p.device_id = :device)
        AND (CAST(:linked AS boolean) IS NULL OR (p.patchbay_id IS NOT NULL) = :linked)""",
        "p.device_id, p.position",
    )
    + "::text"
)
LIST_BAYS = text(f"SELECT {BAYS}::text")
GET_BAY = text(f"SELECT {BAY}::text FROM bays b WHERE b.id = :id")
LIST_CABLES = text(f"SELECT {CABLES}::text")
GET_CABLE = text(f"SELECT {CABLE}::text FROM cables k WHERE k.id = :id")
LIST_SCENES = text(f"SELECT {SCENES}::text")
GET_SCENE = text(f"SELECT {SCENE}::text FROM scenes s WHERE s.id = :id")

# The whole studio as one document (SPEC D6), in one statement: one snapshot.
_STUDIO_DEVICE = json_object(
    id="d.id",
    name="d.name",
    type="d.type",
    last_port_number="d.last_port_number",
    ports=array(PORT, "ports p WHERE p.device_id = d.id", "p.position"),
)
EXPORT: TextClause = text(f"""
    SELECT {
    json_object(
        format="'pepper-studio'::text",
        version="1",
        exported_at="now()",
        bays=BAYS,
        patchbay_points=POINTS,
        devices=array(_STUDIO_DEVICE, "devices d", "d.id"),
        cables=CABLES,
        scenes=array(SCENE, "scenes s", "s.id"),
        electrical=array(ELECTRICAL, SHOWN_VALUES, "p.device_id, p.position"),
    )
}::text
""")


# --- Running them -------------------------------------------------------------------------------
def body(conn: Connection, statement: Executable, params: dict[str, Any] | None = None) -> str:
    """The body a statement wrote (its one value)."""
    return str(conn.execute(statement, params).scalar_one())


def found(conn: Connection, statement: Executable, params: dict[str, Any], missing: str) -> str:
    """The body a statement wrote about one item (a read, or a write's RETURNING), or 404
    `missing` when the item does not exist."""
    written = conn.execute(statement, params).scalar()
    if written is None:
        raise NotFound(missing)
    return str(written)
