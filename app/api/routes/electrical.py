from fastapi import APIRouter, Response

from app.api.deps import DatabaseDep
from app.api.paths import DeviceIdPath, PortIdPath
from app.api.responses import json_response
from app.schemas.common import BODY_ERRORS, error_responses
from app.schemas.electrical import (
    DeviceElectricalRead,
    DeviceElectricalUpdate,
    ElectricalRead,
    ElectricalUpdate,
)
from app.services import electrical as service

router = APIRouter(tags=["Patch safety"])


@router.get(
    "/ports/{port_id:port_segment}/electrical",
    response_model=ElectricalRead,
    summary="What a port is, electrically",
    responses=error_responses(404, 503),
)
def get_port_electrical(port_id: PortIdPath, db: DatabaseDep) -> Response:
    """The port's signal `level` (null: unknown), whether it sends phantom power (`phantom`,
    inputs only) and whether phantom power is safe for it (`phantom_safe`, outputs only). The
    checks of `GET /checks` judge the patch by these values."""
    with db.connection() as conn:
        body = service.get_port(conn, port_id=port_id)
    return json_response(body)


@router.patch(
    "/ports/{port_id:port_segment}/electrical",
    response_model=ElectricalRead,
    summary="Say what a port is, electrically",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_port_electrical(
    port_id: PortIdPath, data: ElectricalUpdate, db: DatabaseDep
) -> Response:
    """Set `level` (null: unknown), `phantom` and/or `phantom_safe`; keys left out stay as
    they are. `phantom: true` on a port that is not an `Input`, or `phantom_safe: false` on one
    that is not an `Output`, is 422 (the default value is accepted on any port). Part of the
    state: a change has a new revision and a history entry."""
    with db.transaction() as conn:
        body = service.update_port(conn, port_id=port_id, data=data)
    return json_response(body)


@router.get(
    "/devices/{device_id}/electrical",
    response_model=DeviceElectricalRead,
    summary="What a device's ports are, electrically",
    responses=error_responses(404, 503),
)
def get_device_electrical(device_id: DeviceIdPath, db: DatabaseDep) -> Response:
    """Every port of the device, in creation order, as `GET /ports/{port_id}/electrical`
    shows it."""
    with db.connection() as conn:
        body = service.get_device(conn, device_id=device_id)
    return json_response(body)


@router.put(
    "/devices/{device_id}/electrical",
    response_model=DeviceElectricalRead,
    summary="Say what several of a device's ports are, electrically",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_device_electrical(
    device_id: DeviceIdPath, data: DeviceElectricalUpdate, db: DatabaseDep
) -> Response:
    """Set the values of several ports of one device in one transaction, each as `PATCH
    /ports/{port_id}/electrical` would (keys left out stay as they are). A port that is not
    this device's is 422 naming it, and nothing changes. Answers every port of the device."""
    with db.transaction() as conn:
        body = service.update_device(conn, device_id=device_id, data=data)
    return json_response(body)
