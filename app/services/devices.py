"""Devices and their ports: creating them (ports numbered `dev-{device_id}-port-{n}`, never
reused), reading, renaming, adding a port, deleting."""

from collections.abc import Sequence

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

# Devices and ports in one statement each, whatever their number (the patch list import makes
# thousands), in the order given: ids and ports' `position` come from sequences, in insertion
# order.
_DEVICES = (
    func.unnest(texts("names"), texts("types"), integers("lasts"))
    .table_valued("name", "type", "last", with_ordinality="n")
    .render_derived(name="given")
)
_INSERT_DEVICES = (
    insert(Device)
    .from_select(
        ["name", "type", "last_port_number"],
        select(_DEVICES.c.name, _DEVICES.c.type, _DEVICES.c.last).order_by(_DEVICES.c.n),
    )
    .returning(Device.id)
)
_PORTS = (
    func.unnest(
        texts("ids"), integers("devices"), texts("labels"), texts("types"), integers("points")
    )
    .table_valued("id", "device", "label", "type", "point", with_ordinality="n")
    .render_derived(name="given")
)
_INSERT_PORTS = insert(Port).from_select(
    ["id", "device_id", "label", "type", "patchbay_id"],
    select(
        _PORTS.c.id,
        _PORTS.c.device,
        _PORTS.c.label,
        cast(_PORTS.c.type, Port.type.type),
        _PORTS.c.point,
    ).order_by(_PORTS.c.n),
)
_LASTS = (
    func.unnest(integers("ids"), integers("lasts"))
    .table_valued("id", "last")
    .render_derived(name="given")
)
_SET_LAST_PORT_NUMBERS = (
    update(Device).where(Device.id == _LASTS.c.id).values(last_port_number=_LASTS.c.last)
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


def insert_devices(conn: Connection, devices: Sequence[tuple[str, str, int]]) -> list[int]:
    """Insert devices (name, type, highest port number); their ids, in order."""
    if not devices:
        return []
    names, types, lasts = (list(column) for column in zip(*devices, strict=True))
    params = {"names": names, "types": types, "lasts": lasts}
    return sorted(conn.execute(_INSERT_DEVICES, params).scalars())


def insert_ports(conn: Connection, ports: Sequence[tuple[str, int, str, str, int | None]]) -> None:
    """Insert ports (id, device, label, type, point), in order, on points the caller has
    claimed."""
    if ports:
        ids, devices, labels, types, points = (list(column) for column in zip(*ports, strict=True))
        params = {"ids": ids, "devices": devices, "labels": labels, "types": types}
        conn.execute(_INSERT_PORTS, {**params, "points": points})


def set_last_port_numbers(conn: Connection, numbers: dict[int, int]) -> None:
    """Set the highest port number of locked devices."""
    if numbers:
        ids, lasts = (list(column) for column in zip(*numbers.items(), strict=True))
        conn.execute(_SET_LAST_PORT_NUMBERS, {"ids": ids, "lasts": lasts})


def _numbered(
    device_id: int, first: int, ports: list[PortCreate]
) -> list[tuple[str, int, str, str, int | None]]:
    """A device's new ports as `insert_ports` takes them, numbered from `first`."""
    return [
        (f"dev-{device_id}-port-{first + n}", device_id, port.label, port.type, port.patchbay_id)
        for n, port in enumerate(ports)
    ]


def create_device(conn: Connection, *, data: DeviceCreate) -> tuple[int, str]:
    """Create the device and its ports; returns its id and its Device JSON."""
    claim_points(conn, _points_of(data.ports))
    [device_id] = insert_devices(conn, [(data.name, data.type, len(data.ports))])
    insert_ports(conn, _numbered(device_id, 1, data.ports))
    return device_id, get_device(conn, device_id=device_id)


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
    set_last_port_numbers(conn, {device_id: first + len(ports) - 1})
    rows = _numbered(device_id, first, ports)
    insert_ports(conn, rows)
    return [port_id for port_id, *_ in rows]


def add_port(conn: Connection, *, device_id: int, data: PortCreate) -> tuple[str, str]:
    """Add one port (`add_ports`); its id and Port JSON."""
    [port_id] = add_ports(conn, device_id=device_id, ports=[data])
    return port_id, body(conn, shapes.GET_PORT, {"id": port_id})


def delete_device(conn: Connection, *, device_id: int) -> str:
    """Delete the device; its ports go with it (ON DELETE CASCADE), freeing their points."""
    lock_device_ports(conn, device_id)
    lock_device(conn, device_id)
    return body(conn, _DELETE_DEVICE, {"device_id": device_id})
