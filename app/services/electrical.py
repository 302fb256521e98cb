"""What a port is, electrically (SPEC E1): its level, whether an input sends phantom power,
whether an output survives it. A row of `port_electrical` only for a port with a value set:
a change that leaves a port at the defaults deletes its row."""

from typing import Any, cast

from sqlalchemy import Connection, Table, any_, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import insert

from app.core.errors import (
    DEVICE_NOT_FOUND,
    FRAGILE_NON_OUTPUT,
    PHANTOM_ON_NON_INPUT,
    PORT_NOT_FOUND,
    Invalid,
    not_a_port_of,
)
from app.db.params import json_rows, texts
from app.db.shapes import ELECTRICAL, array, body, found, json_object
from app.models import ELECTRICAL_DEFAULTS, Port, PortElectrical, PortType
from app.schemas.electrical import DeviceElectricalUpdate, ElectricalUpdate
from app.services.locks import lock_device, lock_device_ports, lock_ports

_WITH_VALUES = "ports p LEFT JOIN port_electrical e ON e.port_id = p.id"
# SQL text: PostgreSQL builds the JSON bodies (app/db/shapes.py).
_GET = text(f"SELECT {ELECTRICAL}::text FROM {_WITH_VALUES} WHERE p.id = :id")
_DEVICE_ELECTRICAL = json_object(
    device_id="d.id",
    ports=array(ELECTRICAL, f"{_WITH_VALUES} WHERE p.device_id = d.id", "p.position"),
)
_DEVICE = text(f"SELECT {_DEVICE_ELECTRICAL}::text FROM devices d WHERE d.id = :id")
_STORED = select(
    Port.id, Port.type, PortElectrical.level, PortElectrical.phantom, PortElectrical.phantom_safe
).outerjoin(PortElectrical, PortElectrical.port_id == Port.id)
_OF_PORT = _STORED.where(Port.id == bindparam("id"))
_OF_DEVICE = _STORED.where(Port.device_id == bindparam("id"))
_GIVEN = json_rows(cast(Table, PortElectrical.__table__))
_UPSERT = insert(PortElectrical).from_select([c.name for c in _GIVEN.c], select(*_GIVEN.c))
_UPSERT = _UPSERT.on_conflict_do_update(
    index_elements=[PortElectrical.port_id],
    set_={name: _UPSERT.excluded[name] for name in ELECTRICAL_DEFAULTS},
)
_RESET = delete(PortElectrical).where(PortElectrical.port_id == any_(texts("ids")))


def get_port(conn: Connection, *, port_id: str) -> str:
    return found(conn, _GET, {"id": port_id}, PORT_NOT_FOUND)


def get_device(conn: Connection, *, device_id: int) -> str:
    return found(conn, _DEVICE, {"id": device_id}, DEVICE_NOT_FOUND)


def _stored(row: Any) -> dict[str, Any]:
    """A port's values as it shows them (what its type does not allow is the default)."""
    return {
        "level": row.level,
        "phantom": bool(row.phantom) and row.type == PortType.INPUT,
        "phantom_safe": row.phantom_safe is not False or row.type != PortType.OUTPUT,
    }


def _merged(row: Any, data: ElectricalUpdate, loc: tuple[str | int, ...]) -> dict[str, Any]:
    """The port's values with the request's: 422 for phantom power on a port that is not an
    input, or a fragile port that is not an output (the defaults are accepted anywhere)."""
    changes = data.changes()
    changes.pop("port_id", None)
    refuse_impossible(
        loc, row.type, phantom=changes.get("phantom"), phantom_safe=changes.get("phantom_safe")
    )
    return {**_stored(row), **changes}


def refuse_impossible(
    loc: tuple[str | int, ...], port_type: str, *, phantom: bool | None, phantom_safe: bool | None
) -> None:
    """422 for phantom power on a port that is not an input, or a fragile port that is not an
    output (None: not given)."""
    if phantom and port_type != PortType.INPUT:
        raise Invalid((*loc, "phantom"), PHANTOM_ON_NON_INPUT, True)
    if phantom_safe is False and port_type != PortType.OUTPUT:
        raise Invalid((*loc, "phantom_safe"), FRAGILE_NON_OUTPUT, False)


def _store(conn: Connection, ports: dict[str, tuple[Any, dict[str, Any]]]) -> None:
    """Write each port's new values (row as stored, values): a row when any differs from the
    defaults, none otherwise; nothing for a port whose values do not change."""
    changed = {pid: values for pid, (row, values) in ports.items() if values != _stored(row)}
    kept = [{"port_id": pid, **v} for pid, v in changed.items() if v != ELECTRICAL_DEFAULTS]
    reset = [pid for pid, v in changed.items() if v == ELECTRICAL_DEFAULTS]
    if kept:
        conn.execute(_UPSERT, {"rows": kept})
    if reset:
        conn.execute(_RESET, {"ids": reset})


def update_port(conn: Connection, *, port_id: str, data: ElectricalUpdate) -> str:
    lock_ports(conn, [port_id])
    row = conn.execute(_OF_PORT, {"id": port_id}).one()
    _store(conn, {port_id: (row, _merged(row, data, ("body",)))})
    return get_port(conn, port_id=port_id)


def update_device(conn: Connection, *, device_id: int, data: DeviceElectricalUpdate) -> str:
    """Set several of one device's ports at once (a port of another device is 422)."""
    # Its ports, then the device: the lock order.
    lock_device_ports(conn, device_id)
    lock_device(conn, device_id)
    rows = {row.id: row for row in conn.execute(_OF_DEVICE, {"id": device_id})}
    ports = {}
    for n, entry in enumerate(data.ports):
        row = rows.get(entry.port_id)
        if row is None:
            loc = ("body", "ports", n, "port_id")
            raise Invalid(loc, not_a_port_of(entry.port_id, device_id), entry.port_id)
        ports[entry.port_id] = (row, _merged(row, entry, ("body", "ports", n)))
    _store(conn, ports)
    return body(conn, _DEVICE, {"id": device_id})
