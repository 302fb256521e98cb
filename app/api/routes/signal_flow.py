import json

from fastapi import APIRouter, Response

from app.api.deps import DatabaseDep
from app.api.paths import PortIdPath
from app.api.responses import encoded, json_response, revision_tagged
from app.api.routes.state import NOT_MODIFIED, IfNoneMatch
from app.core.errors import PORT_NOT_FOUND, NotFound
from app.schemas.common import error_responses
from app.schemas.signal_flow import PortSignal, SignalFlow
from app.services import signal_flow as service

router = APIRouter(tags=["Signal flow"])


@router.get(
    "/signal-flow",
    response_model=SignalFlow,
    summary="What feeds what, right now",
    responses={**NOT_MODIFIED, **error_responses(503)},
)
def get_signal_flow(db: DatabaseDep, if_none_match: IfNoneMatch = None) -> Response:
    """Every route from an output port to an input port, once cables and normals are taken
    into account, and every net where two or more outputs meet.

    Points form nets: two points are in one net when a cable joins them or their channel's
    normal is made (judged by which jacks hold plugs). In each net every `Output` port feeds
    every `Input` port; `Other` ports take no part. Each route's `via` lists the points from
    the output's point to the input's along a shortest path. Routes are ordered by source, then
    destination, in `/state` order. The `ETag` is `/state`'s, with the same 304 rules.
    """
    return revision_tagged(db, if_none_match, service.read_snapshot, _flow)


def _flow(snapshot: str) -> bytes:
    return encoded(service.signal_flow(json.loads(snapshot)))


@router.get(
    "/ports/{port_id:port_segment}/signal",
    response_model=PortSignal,
    summary="What a port feeds, and what feeds it",
    responses=error_responses(404, 503),
)
def get_port_signal(port_id: PortIdPath, db: DatabaseDep) -> Response:
    """The routes of `GET /signal-flow` that start (`feeds`) or end (`fed_by`) at this port:
    "what feeds this input right now?". Only the port's own net is read and worked out, so the
    answer costs what that net costs, whatever the size of the studio."""
    with db.connection() as conn:
        _, snapshot = service.read_region(conn, ports=[port_id])
    answer = service.port_signal(json.loads(snapshot), port_id)
    if answer is None:
        raise NotFound(PORT_NOT_FOUND)
    return json_response(answer)
