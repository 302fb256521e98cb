"""Read paths for the lists: PostgreSQL writes the response JSON itself.

`/state` is what the browser app polls, so each read is one statement (one snapshot, one round
trip) whose result is the finished body, byte for byte what FastAPI would send for the declared
response model: compact separators, keys in model order, strings escaped by `to_json`. Python
never builds an object per row. `tests/test_state.py` checks the bytes against Pydantic.
"""

from typing import Any

from psycopg import Connection

# JSON fragments, one per row. to_json(text) escapes like Pydantic does.
_POINT_JSON = """
    '{"id":' || pp.id || ',"name":' || to_json(pp.name)::text
    || ',"description":' || to_json(pp.description)::text
    || ',"type":' || to_json(pp.type)::text || '}'
"""
_PORT_JSON = """
    '{"id":' || to_json(p.id)::text || ',"label":' || to_json(p.label)::text
    || ',"type":"' || p.type::text || '","patchbay_id":' || coalesce(p.patchbay_id::text, 'null')
    || '}'
"""
_DEVICE_JSON = f"""
    '{{"id":' || d.id || ',"name":' || to_json(d.name)::text || ',"type":' || to_json(d.type)::text
    || ',"ports":[' || coalesce(
        (SELECT string_agg({_PORT_JSON}, ',' ORDER BY p.position)
           FROM ports p WHERE p.device_id = d.id),
        '') || ']}}'
"""

_POINTS_ARRAY = f"""
    '[' || coalesce(
        (SELECT string_agg({_POINT_JSON}, ',' ORDER BY pp.id) FROM patchbay_points pp), '')
    || ']'
"""
_DEVICES_ARRAY = f"""
    '[' || coalesce((SELECT string_agg({_DEVICE_JSON}, ',' ORDER BY d.id) FROM devices d), '')
    || ']'
"""

_STATE_SQL = f"""
    SELECT revision,
           '{{"patchbay_points":' || {_POINTS_ARRAY} || ',"devices":' || {_DEVICES_ARRAY} || '}}'
      FROM state_revision
"""
_REVISION_SQL = "SELECT revision FROM state_revision"
_POINTS_SQL = f"SELECT {_POINTS_ARRAY}"
_DEVICES_SQL = f"SELECT {_DEVICES_ARRAY}"
_DEVICE_SQL = f"SELECT {_DEVICE_JSON} FROM devices d WHERE d.id = %(id)s"


def _one(conn: Connection[Any], sql: str, params: dict[str, Any] | None = None) -> Any:
    row = conn.execute(sql.encode(), params, prepare=True).fetchone()
    return row[0] if row else None


def current_revision(conn: Connection[Any]) -> int:
    return int(_one(conn, _REVISION_SQL))


def read_state(conn: Connection[Any]) -> tuple[int, str]:
    """The revision and, as of that revision, the JSON of every point (by id) and every device
    (by id) with its ports in creation order."""
    row = conn.execute(_STATE_SQL.encode(), prepare=True).fetchone()
    assert row is not None, "state_revision has its one row from migration 0003"
    return int(row[0]), row[1]


def points_json(conn: Connection[Any]) -> str:
    return str(_one(conn, _POINTS_SQL))


def devices_json(conn: Connection[Any]) -> str:
    return str(_one(conn, _DEVICES_SQL))


def device_json(conn: Connection[Any], *, device_id: int) -> str | None:
    found = _one(conn, _DEVICE_SQL, {"id": device_id})
    return None if found is None else str(found)
