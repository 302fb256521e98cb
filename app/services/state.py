"""The read path behind `GET /state`: one statement, plain tuples, no ORM objects."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# One statement, so points and devices come from the same snapshot even under READ COMMITTED.
# Ports follow their device in creation order (`position`).
_STATE_SQL = text(
    """
    SELECT 'point' AS kind, id AS row_id, name, description, type,
           NULL::text AS port_id, NULL::text AS label, NULL::text AS port_type,
           NULL::integer AS patchbay_id, NULL::bigint AS position
      FROM patchbay_points
    UNION ALL
    SELECT 'device', d.id, d.name, NULL, d.type,
           p.id, p.label, p.type::text, p.patchbay_id, p.position
      FROM devices d LEFT JOIN ports p ON p.device_id = d.id
    ORDER BY kind DESC, row_id, position
    """
)


def read_state(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Points by id and devices by id, each device with its ports in creation order."""
    points: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []
    ports: list[dict[str, Any]] = []
    last_device_id = None
    for (
        kind,
        row_id,
        name,
        description,
        type_,
        port_id,
        label,
        port_type,
        patchbay_id,
        _,
    ) in session.execute(_STATE_SQL):
        if kind == "point":
            points.append({"id": row_id, "name": name, "description": description, "type": type_})
            continue
        if row_id != last_device_id:
            last_device_id = row_id
            ports = []
            devices.append({"id": row_id, "name": name, "type": type_, "ports": ports})
        if port_id is not None:
            ports.append(
                {"id": port_id, "label": label, "type": port_type, "patchbay_id": patchbay_id}
            )
    return {"patchbay_points": points, "devices": devices}
