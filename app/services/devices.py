"""Devices and their ports: creating them (ports numbered `dev-{device_id}-port-{n}`, never
reused), renaming, adding a port, deleting."""

from app.core.errors import DEVICE_NOT_FOUND, PORT_NUMBERS_USED_UP, Conflict, NotFound
from app.db.pool import Connection
from app.db.shapes import DEVICE, DEVICE_DELETED, GET_DEVICE, PORT
from app.schemas.common import INT32_MAX
from app.schemas.device import DeviceCreate, DeviceUpdate
from app.schemas.port import PortCreate
from app.services.locks import claim_points, lock_device, lock_device_ports

_INSERT_DEVICE = """
    INSERT INTO devices (name, type, last_port_number) VALUES (%(name)s, %(type)s, %(ports)s)
    RETURNING id
"""
# Ports in the order given: their `position` comes from a sequence, in insertion order.
_INSERT_PORTS = f"""
    INSERT INTO ports AS p (id, device_id, label, type, patchbay_id)
    SELECT 'dev-' || %(device)s || '-port-' || (%(first)s + n - 1), %(device)s, label,
           type::port_type, point
      FROM unnest(%(labels)s::text[], %(types)s::text[], %(points)s::integer[])
           WITH ORDINALITY AS given(label, type, point, n)
     ORDER BY n
    RETURNING p.id, {PORT}::text
"""
# Past the highest number the device ever gave out, and past any id of that form typed in by
# hand, whichever device it was given to.
_NEXT_PORT_NUMBER = """
    SELECT greatest(
        %(last)s,
        (SELECT max(substring(id FROM '-port-([0-9]{1,9})$')::integer) FROM ports
          WHERE id LIKE 'dev-' || %(device)s || '-port-%%')
    )::bigint + 1
"""
_DEVICE_EXISTS = "SELECT 1 FROM devices WHERE id = %(id)s"
_SET_LAST_PORT_NUMBER = "UPDATE devices SET last_port_number = %(n)s WHERE id = %(device)s"
_UPDATE_DEVICE = f"""
    UPDATE devices d SET name = coalesce(%(name)s, name), type = coalesce(%(type)s, type)
     WHERE d.id = %(id)s RETURNING {DEVICE}::text
"""
_DELETE_DEVICE = f"DELETE FROM devices d WHERE d.id = %(id)s RETURNING {DEVICE_DELETED}::text"


def _points_of(ports: list[PortCreate]) -> list[int]:
    return [port.patchbay_id for port in ports if port.patchbay_id is not None]


async def _insert_ports(
    conn: Connection, device_id: int, first: int, ports: list[PortCreate]
) -> list[tuple[str, str]]:
    """Insert the ports numbered from `first`; their ids and Port JSON."""
    params = {
        "device": device_id,
        "first": first,
        "labels": [port.label for port in ports],
        "types": [port.type.value for port in ports],
        "points": [port.patchbay_id for port in ports],
    }
    cursor = await conn.execute(_INSERT_PORTS, params)
    return [(row[0], row[1]) for row in await cursor.fetchall()]


async def create_device(conn: Connection, *, data: DeviceCreate) -> tuple[int, str]:
    """Create the device and its ports; returns its id and its Device JSON."""
    device_id, _ = await insert_device(conn, name=data.name, type=data.type, ports=data.ports)
    return device_id, await _device_json(conn, device_id)


async def insert_device(
    conn: Connection, *, name: str, type: str, ports: list[PortCreate]
) -> tuple[int, list[str]]:
    """Insert a device with its ports (any number: an import is not held to a request body's
    limits); its id and its ports' ids, in order."""
    await claim_points(conn, _points_of(ports))
    params = {"name": name, "type": type, "ports": len(ports)}
    row = await (await conn.execute(_INSERT_DEVICE, params)).fetchone()
    assert row is not None
    device_id = int(row[0])
    made = await _insert_ports(conn, device_id, 1, ports) if ports else []
    return device_id, [port for port, _ in made]


async def _device_json(conn: Connection, device_id: int) -> str:
    row = await (await conn.execute(GET_DEVICE, {"id": device_id})).fetchone()
    if row is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return str(row[0])


async def update_device(conn: Connection, *, device_id: int, data: DeviceUpdate) -> str:
    changes = data.changes()
    params = {"id": device_id, "name": changes.get("name"), "type": changes.get("type")}
    row = await (await conn.execute(_UPDATE_DEVICE, params)).fetchone()
    if row is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return str(row[0])


async def add_ports(
    conn: Connection, *, device_id: int, ports: list[PortCreate]
) -> list[tuple[str, str]]:
    """Add ports, numbered in order after every port the device ever had; their ids and JSON."""
    if await (await conn.execute(_DEVICE_EXISTS, {"id": device_id})).fetchone() is None:
        raise NotFound(DEVICE_NOT_FOUND)  # before anything else, whatever the ports name
    await claim_points(conn, _points_of(ports))
    last = await lock_device(conn, device_id)  # after the points: devices come last
    row = await (
        await conn.execute(_NEXT_PORT_NUMBER, {"last": last, "device": device_id})
    ).fetchone()
    assert row is not None
    first = int(row[0])
    if first + len(ports) - 1 > INT32_MAX:  # a last_port_number typed in by hand
        raise Conflict(PORT_NUMBERS_USED_UP)
    await conn.execute(_SET_LAST_PORT_NUMBER, {"n": first + len(ports) - 1, "device": device_id})
    return await _insert_ports(conn, device_id, first, ports)


async def add_port(conn: Connection, *, device_id: int, data: PortCreate) -> tuple[str, str]:
    """Add one port (`add_ports`); its id and JSON."""
    [port] = await add_ports(conn, device_id=device_id, ports=[data])
    return port


async def delete_device(conn: Connection, *, device_id: int) -> str:
    """Delete the device; its ports go with it (ON DELETE CASCADE), freeing their points."""
    await lock_device_ports(conn, device_id)
    await lock_device(conn, device_id)
    row = await (await conn.execute(_DELETE_DEVICE, {"id": device_id})).fetchone()
    assert row is not None, "the device is locked, so it still exists"
    return str(row[0])
