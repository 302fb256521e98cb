from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import SessionDep
from app.api.responses import json_response
from app.schemas.common import INT32_MAX, INT32_MIN, error_responses
from app.schemas.device import DeviceCreate, DeviceDeleted, DeviceRead
from app.services import devices as service

router = APIRouter(prefix="/devices", tags=["Devices"])

DeviceIdPath = Annotated[
    int, Path(ge=INT32_MIN, le=INT32_MAX, description="Device id", examples=[1])
]


@router.post(
    "",
    status_code=201,
    response_model=DeviceRead,
    summary="Create a device with its ports",
    responses=error_responses(404, 409, 413, 503),
)
def create_device(data: DeviceCreate, session: SessionDep) -> Response:
    """Create a device and its ports in one transaction: all or nothing.

    Ports are numbered `dev-{device_id}-port-{n}` from 1 in the order given. A port may name a
    free patchbay point; an unknown point is 404, a point that is taken (or named by two of the
    new ports) is 409.
    """
    device = service.create_device(session, data=data)
    return json_response(DeviceRead.model_validate(device), status_code=201)


@router.delete(
    "/{device_id}",
    response_model=DeviceDeleted,
    summary="Delete a device and its ports",
    responses=error_responses(404, 503),
)
def delete_device(device_id: DeviceIdPath, session: SessionDep) -> Response:
    """Delete the device; its ports are deleted with it and their patchbay points become free."""
    device = service.delete_device(session, device_id=device_id)
    return json_response(DeviceDeleted.model_validate(device))
