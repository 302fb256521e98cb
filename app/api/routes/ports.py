from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import SessionDep
from app.api.responses import json_response
from app.schemas.common import PortId, error_responses
from app.schemas.port import LinkRequest, LinkResult, PatchbayAssign, PortRead
from app.services import ports as service

router = APIRouter(prefix="/ports", tags=["Ports"])

PortIdPath = Annotated[PortId, Path(description="Port id", examples=["dev-1-port-1"])]


@router.post(
    "/{port_id}/link",
    response_model=LinkResult,
    summary="Move a port to a patchbay point, taking it over",
    responses=error_responses(404, 413, 503),
)
def link_port(port_id: PortIdPath, data: LinkRequest, session: SessionDep) -> Response:
    """Wire the port to the point. If another port held the point, that port is unlinked in the
    same transaction and its id returned as `unlinked_port_id` (else null).

    Linking a port to the point it already holds changes nothing.
    """
    port, unlinked = service.link_port(session, port_id=port_id, patchbay_id=data.patchbay_id)
    result = LinkResult(
        id=port.id,
        label=port.label,
        type=port.type,
        patchbay_id=port.patchbay_id,
        unlinked_port_id=unlinked,
    )
    return json_response(result)


@router.put(
    "/{port_id}/patchbay",
    response_model=PortRead,
    summary="Set or clear a port's patchbay point",
    responses=error_responses(404, 409, 413, 503),
)
def set_port_patchbay(port_id: PortIdPath, data: PatchbayAssign, session: SessionDep) -> Response:
    """Wire the port to a free point, or free it with `null` (a missing field means null).

    Unlike `link`, this never takes a point over: a point held by another port is 409.
    """
    port = service.set_port_patchbay(session, port_id=port_id, patchbay_id=data.patchbay_id)
    return json_response(PortRead.model_validate(port))


@router.post(
    "/{port_id}/unlink",
    response_model=PortRead,
    summary="Free a port from its patchbay point",
    responses=error_responses(404, 503),
)
def unlink_port(port_id: PortIdPath, session: SessionDep) -> Response:
    """Clear the port's patchbay point. A port that holds none is left as it is."""
    return json_response(PortRead.model_validate(service.unlink_port(session, port_id=port_id)))
