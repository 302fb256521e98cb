from fastapi import APIRouter, Response

from app.api.deps import DatabaseDep
from app.api.paths import DeviceIdPath
from app.api.responses import json_response
from app.schemas.common import BODY_ERRORS, CREATED, WRITE_ERRORS, error_responses
from app.schemas.device import DeviceCreate, DeviceDeleted, DeviceRead, DeviceUpdate
from app.schemas.port import PortCreate, PortRead
from app.services import devices as service

router = APIRouter(prefix="/devices", tags=["Devices"])


@router.get(
    "", response_model=list[DeviceRead], summary="List devices", responses=error_responses(503)
)
def list_all_devices(db: DatabaseDep) -> Response:
    """Every device by id, each with its ports in creation order."""
    with db.connection() as conn:
        body = service.list_devices(conn)
    return json_response(body)


@router.get(
    "/{device_id}",
    response_model=DeviceRead,
    summary="Get a device",
    responses=error_responses(404, 503),
)
def get_device(device_id: DeviceIdPath, db: DatabaseDep) -> Response:
    """One device with its ports in creation order."""
    with db.connection() as conn:
        body = service.get_device(conn, device_id=device_id)
    return json_response(body)


@router.post(
    "",
    status_code=201,
    response_model=DeviceRead,
    summary="Create a device with its ports",
    responses=CREATED | error_responses(404, 409, *BODY_ERRORS, 503),
)
def create_device(data: DeviceCreate, db: DatabaseDep) -> Response:
    """Create a device and its ports in one transaction: all or nothing.

    Ports are numbered `dev-{device_id}-port-{n}` from 1 in the order given. A port may name a
    free patchbay point; an unknown point is 404, a point that is taken (or named by two of the
    new ports) is 409.
    """
    with db.transaction() as conn:
        device_id, body = service.create_device(conn, data=data)
    return json_response(body, status_code=201, location=f"/devices/{device_id}")


@router.patch(
    "/{device_id}",
    response_model=DeviceRead,
    summary="Rename or retype a device",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_device(device_id: DeviceIdPath, data: DeviceUpdate, db: DatabaseDep) -> Response:
    """Change `name` and/or `type`; fields left out stay as they are."""
    with db.transaction() as conn:
        body = service.update_device(conn, device_id=device_id, data=data)
    return json_response(body)


@router.post(
    "/{device_id}/ports",
    status_code=201,
    response_model=PortRead,
    tags=["Ports"],
    summary="Add a port to a device",
    responses=CREATED | error_responses(404, 409, *BODY_ERRORS, 503),
)
def add_port(device_id: DeviceIdPath, data: PortCreate, db: DatabaseDep) -> Response:
    """Add a port. Its number continues the device's numbering and is never reused: after
    `…-port-3` is deleted, the next new port is `…-port-4` if 3 was the highest ever used.

    A `patchbay_id` follows the rules of creating a device (404 unknown, 409 taken).
    """
    with db.transaction() as conn:
        port_id, body = service.add_port(conn, device_id=device_id, data=data)
    return json_response(body, status_code=201, location=f"/ports/{port_id}")


@router.delete(
    "/{device_id}",
    response_model=DeviceDeleted,
    summary="Delete a device and its ports",
    responses=error_responses(404, *WRITE_ERRORS, 503),
)
def delete_device(device_id: DeviceIdPath, db: DatabaseDep) -> Response:
    """Delete the device; its ports are deleted with it and their patchbay points become free."""
    with db.transaction() as conn:
        body = service.delete_device(conn, device_id=device_id)
    return json_response(body)
