from fastapi import APIRouter, Response

from app.api.deps import ReaderDep, SessionDep
from app.api.paths import DeviceIdPath
from app.api.responses import committed_response
from app.core.errors import NotFound
from app.schemas.common import BODY_ERRORS, error_responses
from app.schemas.device import DeviceCreate, DeviceDeleted, DeviceRead, DeviceUpdate
from app.schemas.port import PortCreate, PortRead
from app.services import devices as service
from app.services.reads import device_json, devices_json

router = APIRouter(prefix="/devices", tags=["Devices"])


@router.get(
    "", response_model=list[DeviceRead], summary="List devices", responses=error_responses(503)
)
def list_all_devices(connect: ReaderDep) -> Response:
    """Every device by id, each with its ports in creation order."""
    with connect() as conn:
        body = devices_json(conn)
    return Response(body, media_type="application/json")


@router.get(
    "/{device_id}",
    response_model=DeviceRead,
    summary="Get a device",
    responses=error_responses(404, 503),
)
def get_device(device_id: DeviceIdPath, connect: ReaderDep) -> Response:
    """One device with its ports in creation order."""
    with connect() as conn:
        body = device_json(conn, device_id=device_id)
    if body is None:
        raise NotFound(service.DEVICE_NOT_FOUND)
    return Response(body, media_type="application/json")


@router.post(
    "",
    status_code=201,
    response_model=DeviceRead,
    summary="Create a device with its ports",
    responses=error_responses(404, 409, *BODY_ERRORS, 503),
)
def create_device(data: DeviceCreate, session: SessionDep) -> Response:
    """Create a device and its ports in one transaction: all or nothing.

    Ports are numbered `dev-{device_id}-port-{n}` from 1 in the order given. A port may name a
    free patchbay point; an unknown point is 404, a point that is taken (or named by two of the
    new ports) is 409.
    """
    device = service.create_device(session, data=data)
    return committed_response(
        session,
        DeviceRead.model_validate(device),
        status_code=201,
        location=f"/devices/{device.id}",
    )


@router.patch(
    "/{device_id}",
    response_model=DeviceRead,
    summary="Rename or retype a device",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_device(device_id: DeviceIdPath, data: DeviceUpdate, session: SessionDep) -> Response:
    """Change `name` and/or `type`; fields left out stay as they are."""
    device = service.update_device(session, device_id=device_id, data=data)
    return committed_response(session, DeviceRead.model_validate(device))


@router.post(
    "/{device_id}/ports",
    status_code=201,
    response_model=PortRead,
    tags=["Ports"],
    summary="Add a port to a device",
    responses=error_responses(404, 409, *BODY_ERRORS, 503),
)
def add_port(device_id: DeviceIdPath, data: PortCreate, session: SessionDep) -> Response:
    """Add a port. Its number continues the device's numbering and is never reused: after
    `…-port-3` is deleted, the next new port is `…-port-4` if 3 was the highest ever used.

    A `patchbay_id` follows the rules of creating a device (404 unknown, 409 taken).
    """
    port = service.add_port(session, device_id=device_id, data=data)
    return committed_response(
        session, PortRead.model_validate(port), status_code=201, location=f"/ports/{port.id}"
    )


@router.delete(
    "/{device_id}",
    response_model=DeviceDeleted,
    summary="Delete a device and its ports",
    responses=error_responses(404, 503),
)
def delete_device(device_id: DeviceIdPath, session: SessionDep) -> Response:
    """Delete the device; its ports are deleted with it and their patchbay points become free."""
    device = service.delete_device(session, device_id=device_id)
    return committed_response(session, DeviceDeleted.model_validate(device))
