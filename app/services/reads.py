"""Read paths for lists: plain rows turned into plain dicts, no ORM object per row.

`/state` is what the browser app polls, so it reads everything in one statement (one snapshot,
one round trip) and the route serialises the dicts once.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

_POINT_COLUMNS = "id, name, description, type"
_DEVICE_PORT_COLUMNS = (
    "d.id, d.name, d.type, p.id AS port_id, p.label, p.type::text AS port_type, p.patchbay_id"
)
_DEVICES_FROM = "devices d LEFT JOIN ports p ON p.device_id = d.id"

# UNION ALL of the revision and both lists in one statement, so they all come from the same
# snapshot even under READ COMMITTED; `kind` tells the rows apart and orders them
# (revision, then points, then devices).
_STATE_SQL = text(
    f"""
    SELECT 'revision' AS kind, revision AS row_id, NULL::text, NULL::text, NULL::text,
           NULL::text, NULL::text, NULL::text, NULL::integer, NULL::bigint AS position
      FROM state_revision
    UNION ALL
    SELECT 'point', {_POINT_COLUMNS}, NULL, NULL, NULL, NULL, NULL
      FROM patchbay_points
    UNION ALL
    SELECT 'device', d.id, d.name, NULL, d.type,
           p.id, p.label, p.type::text, p.patchbay_id, p.position
      FROM {_DEVICES_FROM}
    ORDER BY kind DESC, row_id, position
    """
)
_POINTS_SQL = text(f"SELECT {_POINT_COLUMNS} FROM patchbay_points ORDER BY id")
_DEVICES_SQL = text(f"SELECT {_DEVICE_PORT_COLUMNS} FROM {_DEVICES_FROM} ORDER BY d.id, p.position")
_DEVICE_SQL = text(
    f"SELECT {_DEVICE_PORT_COLUMNS} FROM {_DEVICES_FROM} WHERE d.id = :id ORDER BY p.position"
)


def _point(row: Sequence[Any]) -> dict[str, Any]:
    return {"id": row[0], "name": row[1], "description": row[2], "type": row[3]}


def _group_devices(rows: Any) -> list[dict[str, Any]]:
    """Rows of (device id, name, type, port id, label, port type, patchbay id), ordered by device
    then port position, into nested device dicts."""
    devices: list[dict[str, Any]] = []
    ports: list[dict[str, Any]] = []
    last_id = None
    for device_id, name, type_, port_id, label, port_type, patchbay_id in rows:
        if device_id != last_id:
            last_id = device_id
            ports = []
            devices.append({"id": device_id, "name": name, "type": type_, "ports": ports})
        if port_id is not None:
            ports.append(
                {"id": port_id, "label": label, "type": port_type, "patchbay_id": patchbay_id}
            )
    return devices


_REVISION_SQL = text("SELECT revision FROM state_revision")


def current_revision(conn: Connection) -> int:
    return int(conn.execute(_REVISION_SQL).scalar_one())


def read_state(conn: Connection) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """The revision, and the points by id and devices by id (ports in creation order) as of
    that revision."""
    revision, *rows = conn.execute(_STATE_SQL).all()
    split = next((i for i, row in enumerate(rows) if row[0] != "point"), len(rows))
    state = {
        "patchbay_points": [_point(row[1:5]) for row in rows[:split]],
        "devices": _group_devices((row[1], row[2], row[4], *row[5:9]) for row in rows[split:]),
    }
    return int(revision[1]), state


def list_points(conn: Connection) -> list[dict[str, Any]]:
    return [_point(row) for row in conn.execute(_POINTS_SQL)]


def list_devices(conn: Connection) -> list[dict[str, Any]]:
    return _group_devices(conn.execute(_DEVICES_SQL))


def find_device(conn: Connection, *, device_id: int) -> dict[str, Any] | None:
    devices = _group_devices(conn.execute(_DEVICE_SQL, {"id": device_id}))
    return devices[0] if devices else None
