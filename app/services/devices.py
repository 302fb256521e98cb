from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.models import Device, Port
from app.schemas.device import DeviceCreate
from app.schemas.port import PortCreate
from app.services.locks import POINT_TAKEN, flush, lock_points

DEVICE_NOT_FOUND = "Device not found"


def port_id_for(device_id: int, number: int) -> str:
    return f"dev-{device_id}-port-{number}"


def claim_points(session: Session, ports: list[PortCreate]) -> None:
    """Lock the points new ports ask for; 404 if one is unknown, 409 if one is taken or asked twice."""
    wanted = [port.patchbay_id for port in ports if port.patchbay_id is not None]
    if any(count > 1 for count in Counter(wanted).values()):
        raise Conflict(POINT_TAKEN)
    lock_points(session, wanted)
    if wanted and session.scalar(select(Port.id).where(Port.patchbay_id.in_(wanted)).limit(1)):
        raise Conflict(POINT_TAKEN)


def create_device(session: Session, *, data: DeviceCreate) -> Device:
    claim_points(session, data.ports)
    device = Device(name=data.name, type=data.type, last_port_number=len(data.ports))
    session.add(device)
    flush(session)
    device.ports = [
        Port(
            id=port_id_for(device.id, number),
            label=port.label,
            type=port.type,
            patchbay_id=port.patchbay_id,
        )
        for number, port in enumerate(data.ports, start=1)
    ]
    flush(session)
    return device


def get_device(session: Session, *, device_id: int, for_update: bool = False) -> Device:
    query = select(Device).where(Device.id == device_id)
    if for_update:
        query = query.with_for_update()
    device = session.scalar(query)
    if device is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return device


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
