"""Devices and their ports: creating them (ports numbered `dev-{device_id}-port-{n}`, never
reused), reading, renaming, adding a port, deleting."""

from sqlalchemy import Connection, Integer, bindparam, cast, delete, func, insert, select, update

from app.core.errors import DEVICE_NOT_FOUND, PORT_NUMBERS_USED_UP, Conflict, NotFound
from app.db import shapes
from app.db.params import given_or_kept, integers, texts
from app.db.shapes import DEVICE, DEVICE_DELETED, DEVICE_ROWS, body, found, returned
from app.models import Device, Port
from app.schemas.common import INT32_MAX
from app.schemas.device import DeviceCreate, DeviceUpdate
from app.schemas.port import PortCreate
from app.services.locks import claim_points, lock_device, lock_device_ports

_INSERT_DEVICE = (
    insert(Device)
    .values(name=bindparam("name"), type=bindparam("type"), last_port_number=bindparam("ports"))
    .returning(Device.id)
)
# Ports in the order given: their `position` comes from a sequence, in insertion order.
_GIVEN = (
    func.unnest(texts("ids"), texts("labels"), texts("types"), integers("points"))
    .table_valued("id", "label", "type", "point", with_ordinality="n")
    .render_derived(name="given")
)
_INSERT_PORTS = (
    insert(Port)
    .from_select(
        ["id", "device_id", "label", "type", "patchbay_id"],
        select(
            _GIVEN.c.id,
            bindparam("device", type_=Integer),
            _GIVEN.c.label,
            cast(_GIVEN.c.type, Port.type.type),
            _GIVEN.c.point,
        ).order_by(_GIVEN.c.n),
    )
    .returning(Port.id)
)
# Past the highest number the device ever gave out, and past any id of that form typed in by
# hand, whichever device it was given to.
_HIGHEST_TYPED_IN = (
    select(func.max(cast(func.substring(Port.id, "-port-([0-9]{1,9})$"), Integer)))
    .where(Port.id.like(bindparam("pattern")))
    .scalar_subquery()
)
_HIGHEST_PORT_NUMBER = select(func.greatest(bindparam("last", type_=Integer), _HIGHEST_TYPED_IN))
_DEVICE_EXISTS = select(Device.id).where(Device.id == bindparam("id"))
_SET_LAST_PORT_NUMBER = (
    update(Device)
    .where(Device.id == bindparam("device_id"))
    .values(last_port_number=bindparam("n"))
)
d = DEVICE_ROWS.c
_UPDATE_DEVICE = (
    update(DEVICE_ROWS)
    .where(d.id == bindparam("device_id"))
    .values(given_or_kept(DEVICE_ROWS, "name", "type"))
    .returning(returned(DEVICE))
)
_DELETE_DEVICE = (
    delete(DEVICE_ROWS).where(d.id == bindparam("device_id")).returning(returned(DEVICE_DELETED))
)


def list_devices(conn: Connection) -> str:
    """Every device by id, with its ports in creation order."""
    return body(conn, shapes.LIST_DEVICES)


def get_device(conn: Connection, *, device_id: int) -> str:
    return found(conn, shapes.GET_DEVICE, {"id": device_id}, DEVICE_NOT_FOUND)


def _points_of(ports: list[PortCreate]) -> list[int]:
    return [port.patchbay_id for port in ports if port.patchbay_id is not None]


def _insert_ports(
    conn: Connection, device_id: int, first: int, ports: list[PortCreate]
) -> list[str]:
    """Insert the ports numbered from `first`; their ids."""
    params = {
        "device": device_id,
        "ids": [f"dev-{device_id}-port-{first + n}" for n in range(len(ports))],
        "labels": [port.label for port in ports],
        "types": [port.type.value for port in ports],
        "points": [port.patchbay_id for port in ports],
    }
    return list(conn.execute(_INSERT_PORTS, params).scalars())


def create_device(conn: Connection, *, data: DeviceCreate) -> tuple[int, str]:
    """Create the device and its ports; returns its id and its Device JSON."""
    device_id, _ = insert_device(conn, name=data.name, type=data.type, ports=data.ports)
    return device_id, get_device(conn, device_id=device_id)


def insert_device(
    conn: Connection, *, name: str, type: str, ports: list[PortCreate]
) -> tuple[int, list[str]]:
    """Insert a device with its ports (any number: an import is not held to a request body's
    limits); its id and its ports' ids, in order."""
    claim_points(conn, _points_of(ports))
    params = {"name": name, "type": type, "ports": len(ports)}
    device_id = int(conn.execute(_INSERT_DEVICE, params).scalar_one())
    return device_id, _insert_ports(conn, device_id, 1, ports) if ports else []


def update_device(conn: Connection, *, device_id: int, data: DeviceUpdate) -> str:
    changes = data.changes()
    params = {"device_id": device_id, "name": changes.get("name"), "type": changes.get("type")}
    return found(conn, _UPDATE_DEVICE, params, DEVICE_NOT_FOUND)


def add_ports(conn: Connection, *, device_id: int, ports: list[PortCreate]) -> list[str]:
    """Add ports, numbered in order after every port the device ever had; their ids."""
    if conn.execute(_DEVICE_EXISTS, {"id": device_id}).first() is None:
        raise NotFound(DEVICE_NOT_FOUND)  # before anything else, whatever the ports name
    claim_points(conn, _points_of(ports))
    last = lock_device(conn, device_id)  # after the points: devices come last
    params = {"last": last, "pattern": f"dev-{device_id}-port-%"}
    first = int(conn.execute(_HIGHEST_PORT_NUMBER, params).scalar_one()) + 1
    if first + len(ports) - 1 > INT32_MAX:  # a last_port_number typed in by hand
        raise Conflict(PORT_NUMBERS_USED_UP)
    conn.execute(_SET_LAST_PORT_NUMBER, {"n": first + len(ports) - 1, "device_id": device_id})
    return _insert_ports(conn, device_id, first, ports)


def add_port(conn: Connection, *, device_id: int, data: PortCreate) -> tuple[str, str]:
    """Add one port (`add_ports`); its id and Port JSON."""
    [port_id] = add_ports(conn, device_id=device_id, ports=[data])
    return port_id, body(conn, shapes.GET_PORT, {"id": port_id})


def delete_device(conn: Connection, *, device_id: int) -> str:
    """Delete the device; its ports go with it (ON DELETE CASCADE), freeing their points."""
    lock_device_ports(conn, device_id)
    lock_device(conn, device_id)
    return body(conn, _DELETE_DEVICE, {"device_id": device_id})
