from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import DatabaseDep
from app.api.paths import PortIdPath
from app.api.responses import json_response
from app.schemas.common import BODY_ERRORS, INT32_MAX, INT32_MIN, WRITE_ERRORS, error_responses
from app.schemas.port import (
    BulkLinkRequest,
    BulkLinkResult,
    LinkRequest,
    LinkResult,
    PatchbayAssign,
    PortRead,
    PortUpdate,
)
from app.services import ports as service

router = APIRouter(prefix="/ports", tags=["Ports"])


@router.get("", response_model=list[PortRead], summary="List ports", responses=error_responses(503))
def list_ports(
    db: DatabaseDep,
    device_id: Annotated[
        int | None, Query(ge=INT32_MIN, le=INT32_MAX, description="Only this device's ports")
    ] = None,
    linked: Annotated[
        bool | None, Query(description="Only ports linked to a point (true) or free (false)")
    ] = None,
) -> Response:
    """Ports by device, each device's in creation order, optionally filtered."""
    with db.connection() as conn:
        body = service.list_ports(conn, device_id=device_id, linked=linked)
    return json_response(body)


@router.post(
    "/bulk-link",
    response_model=BulkLinkResult,
    summary="Apply a whole patch at once",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def bulk_link(data: BulkLinkRequest, db: DatabaseDep) -> Response:
    """Link (with take-over) or, for a null `patchbay_id`, unlink up to 500 ports in one
    transaction. Each port and each point may appear once (422 otherwise); an unknown port or
    point is 404 and changes nothing.

    `unlinked_port_ids` lists the ports outside the request that lost their point to it.
    """
    with db.transaction() as conn:
        body = service.bulk_link(conn, links=data.links)
    return json_response(body)


@router.get(
    "/{port_id:port_segment}",
    response_model=PortRead,
    summary="Get a port",
    responses=error_responses(404, 503),
)
def get_port(port_id: PortIdPath, db: DatabaseDep) -> Response:
    """One port."""
    with db.connection() as conn:
        body = service.get_port(conn, port_id=port_id)
    return json_response(body)


@router.patch(
    "/{port_id:port_segment}",
    response_model=PortRead,
    summary="Relabel or retype a port",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_port(port_id: PortIdPath, data: PortUpdate, db: DatabaseDep) -> Response:
    """Change `label` and/or `type` (`type` accepts any case, like on creation)."""
    with db.transaction() as conn:
        body = service.update_port(conn, port_id=port_id, data=data)
    return json_response(body)


@router.delete(
    "/{port_id:port_segment}",
    response_model=PortRead,
    summary="Delete a port",
    responses=error_responses(404, *WRITE_ERRORS, 503),
)
def delete_port(port_id: PortIdPath, db: DatabaseDep) -> Response:
    """Delete the port; its patchbay point, if any, becomes free. Its number is not reused."""
    with db.transaction() as conn:
        body = service.delete_port(conn, port_id=port_id)
    return json_response(body)


@router.post(
    "/{port_id:port_segment}/link",
    response_model=LinkResult,
    summary="Move a port to a patchbay point, taking it over",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def link_port(port_id: PortIdPath, data: LinkRequest, db: DatabaseDep) -> Response:
    """Wire the port to the point. If another port held the point, that port is unlinked in the
    same transaction and its id returned as `unlinked_port_id` (else null).

    Linking a port to the point it already holds changes nothing.
    """
    with db.transaction() as conn:
        body = service.link_port(conn, port_id=port_id, patchbay_id=data.patchbay_id)
    return json_response(body)


@router.put(
    "/{port_id:port_segment}/patchbay",
    response_model=PortRead,
    summary="Set or clear a port's patchbay point",
    responses=error_responses(404, 409, *BODY_ERRORS, 503),
)
def set_port_patchbay(port_id: PortIdPath, data: PatchbayAssign, db: DatabaseDep) -> Response:
    """Wire the port to a free point, or free it with `null` (a missing field means null).

    Unlike `link`, this never takes a point over: a point held by another port is 409.
    """
    with db.transaction() as conn:
        body = service.set_port_patchbay(conn, port_id=port_id, patchbay_id=data.patchbay_id)
    return json_response(body)


@router.post(
    "/{port_id:port_segment}/unlink",
    response_model=PortRead,
    summary="Free a port from its patchbay point",
    responses=error_responses(404, *WRITE_ERRORS, 503),
)
def unlink_port(port_id: PortIdPath, db: DatabaseDep) -> Response:
    """Clear the port's patchbay point. A port that holds none is left as it is."""
    with db.transaction() as conn:
        body = service.set_port_patchbay(conn, port_id=port_id, patchbay_id=None)
    return json_response(body)
