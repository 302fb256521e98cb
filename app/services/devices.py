from collections import Counter

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.models import Device, Port
from app.schemas.device import DeviceCreate, DeviceUpdate
from app.schemas.port import PortCreate
from app.services.locks import POINT_TAKEN, flush, lock_points

DEVICE_NOT_FOUND = "Device not found"

# The device row, locked, with the next number for a new port: past the highest ever handed
# out, and past any port id of that form typed in by hand.
_LOCK_DEVICE_FOR_NEW_PORT = text(
    """
    SELECT greatest(
        last_port_number,
        (SELECT coalesce(max(substring(id FROM '-port-([0-9]{1,9})$')::integer), 0)
           FROM ports WHERE device_id = :device_id)
    ) + 1
    FROM devices WHERE id = :device_id
    FOR UPDATE
    """
)


def port_id_for(device_id: int, number: int) -> str:
    return f"dev-{device_id}-port-{number}"


def claim_points(session: Session, ports: list[PortCreate]) -> None:
    """Lock the points new ports ask for: 404 if one is unknown, 409 if one is taken or asked
    for twice."""
    wanted = [port.patchbay_id for port in ports if port.patchbay_id is not None]
    if any(count > 1 for count in Counter(wanted).values()):
        raise Conflict(POINT_TAKEN)
    lock_points(session, wanted)
    if wanted and session.scalar(select(Port.id).where(Port.patchbay_id.in_(wanted)).limit(1)):
        raise Conflict(POINT_TAKEN)


def _new_port(device_id: int, number: int, data: PortCreate) -> Port:
    return Port(
        id=port_id_for(device_id, number),
        device_id=device_id,
        label=data.label,
        type=data.type,
        patchbay_id=data.patchbay_id,
    )


def create_device(session: Session, *, data: DeviceCreate) -> Device:
    claim_points(session, data.ports)
    device = Device(name=data.name, type=data.type, last_port_number=len(data.ports))
    session.add(device)
    flush(session)
    device.ports = [
        _new_port(device.id, number, port) for number, port in enumerate(data.ports, start=1)
    ]
    flush(session)
    return device


def get_device(session: Session, *, device_id: int, for_update: bool = False) -> Device:
    query = select(Device).where(Device.id == device_id)
    device = session.scalar(query.with_for_update() if for_update else query)
    if device is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return device


def update_device(session: Session, *, device_id: int, data: DeviceUpdate) -> Device:
    device = get_device(session, device_id=device_id, for_update=True)
    for field, value in data.changes().items():
        setattr(device, field, value)
    flush(session)
    return device


def add_port(session: Session, *, device_id: int, data: PortCreate) -> Port:
    """Add a port numbered after every port the device ever had."""
    # Lock the device, then the point, and only then write (see the locking discipline).
    number = session.scalar(_LOCK_DEVICE_FOR_NEW_PORT, {"device_id": device_id})
    if number is None:
        raise NotFound(DEVICE_NOT_FOUND)
    claim_points(session, [data])
    session.execute(update(Device).where(Device.id == device_id).values(last_port_number=number))
    port = _new_port(device_id, number, data)
    session.add(port)
    flush(session)
    return port


def delete_device(session: Session, *, device_id: int) -> Device:
    """Delete the device; its ports go with it (ON DELETE CASCADE), freeing their points."""
    device = get_device(session, device_id=device_id, for_update=True)
    # Lock the ports in id order, as `link` does, before the cascade touches them in its own order.
    session.scalars(
        select(Port.id).where(Port.device_id == device_id).order_by(Port.id).with_for_update()
    ).all()
    session.delete(device)
    flush(session)
    return device
