from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import DatabaseDep
from app.api.paths import BayIdPath
from app.api.responses import json_response
from app.schemas.bay import BayCreate, BayRead, BayUpdate, ChannelModes, ChannelSlots
from app.schemas.common import (
    BODY_ERRORS,
    CREATED,
    INT32_MAX,
    INT32_MIN,
    WRITE_ERRORS,
    error_responses,
)
from app.services import bays as service

router = APIRouter(prefix="/bays", tags=["Bays"])

ChannelPath = Annotated[
    int, Path(ge=INT32_MIN, le=INT32_MAX, description="Channel number, from 1", examples=[1])
]


@router.get("", response_model=list[BayRead], summary="List bays", responses=error_responses(503))
def list_bays(db: DatabaseDep) -> Response:
    """Every bay by id, each with its channels by number."""
    with db.connection() as conn:
        body = service.list_bays(conn)
    return json_response(body)


@router.get(
    "/{bay_id}", response_model=BayRead, summary="Get a bay", responses=error_responses(404, 503)
)
def get_bay(bay_id: BayIdPath, db: DatabaseDep) -> Response:
    """One bay: its channels by number, each with its mode and the points in its two jacks."""
    with db.connection() as conn:
        body = service.get_bay(conn, bay_id=bay_id)
    return json_response(body)


@router.post(
    "",
    status_code=201,
    response_model=BayRead,
    summary="Create a bay",
    responses=CREATED | error_responses(409, *BODY_ERRORS, 503),
)
def create_bay(data: BayCreate, db: DatabaseDep) -> Response:
    """Create a bay of 1 to 96 channels, all with one normalling mode (default `half-normal`).

    With `create_points` (the default) it also creates a point per jack, named `"{name} {n}T"`
    and `"{name} {n}B"`, channel by channel (1T, 1B, 2T, ...), in their slots, in the same
    transaction. Bay names are unique (409 `Bay name already used`).
    """
    with db.transaction() as conn:
        bay_id, body = service.create_bay(conn, data=data)
    return json_response(body, status_code=201, location=f"/bays/{bay_id}")


@router.patch(
    "/{bay_id}",
    response_model=BayRead,
    summary="Rename or describe a bay",
    responses=error_responses(404, 409, *BODY_ERRORS, 503),
)
def update_bay(bay_id: BayIdPath, data: BayUpdate, db: DatabaseDep) -> Response:
    """Change `name` and/or `description`; fields left out stay as they are. The bay's points
    keep their names."""
    with db.transaction() as conn:
        body = service.update_bay(conn, bay_id=bay_id, data=data)
    return json_response(body)


@router.patch(
    "/{bay_id}/channels",
    response_model=BayRead,
    summary="Set the normalling of channels",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def set_modes(bay_id: BayIdPath, data: ChannelModes, db: DatabaseDep) -> Response:
    """Set the mode of channels `first` to `last` (`last` defaults to `first`). A channel the
    bay does not have, or `last` before `first`, is 422.

    Modes: `normal` (top and bottom joined while neither jack holds a plug), `half-normal`
    (while the bottom holds none), `half-normal-top` (while the top holds none), `parallel`
    (always), `thru` (never).
    """
    with db.transaction() as conn:
        body = service.set_modes(conn, bay_id=bay_id, data=data)
    return json_response(body)


@router.put(
    "/{bay_id}/channels/{n}",
    response_model=BayRead,
    summary="Put points into a channel's jacks",
    responses=error_responses(404, 409, *BODY_ERRORS, 503),
)
def set_slots(bay_id: BayIdPath, n: ChannelPath, data: ChannelSlots, db: DatabaseDep) -> Response:
    """Put existing points into channel `n`'s top and bottom slots; `null` (or a missing key)
    empties a slot. A point sits in one slot at most: one that sits in another slot is 409
    `Patchbay point already in a bay`. 404 for a channel outside the bay or an unknown point.
    """
    with db.transaction() as conn:
        body = service.set_slots(conn, bay_id=bay_id, channel=n, data=data)
    return json_response(body)


@router.delete(
    "/{bay_id}",
    response_model=BayRead,
    summary="Delete a bay and its points",
    responses=error_responses(404, 409, *WRITE_ERRORS, 503),
)
def delete_bay(bay_id: BayIdPath, db: DatabaseDep) -> Response:
    """Delete the bay, its channels and the points in them; answers the bay as it was. 409
    `Bay is in use` while one of its points holds a port or a cable plug."""
    with db.transaction() as conn:
        body = service.delete_bay(conn, bay_id=bay_id)
    return json_response(body)
