from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from app.api.deps import DatabaseDep
from app.api.paths import SceneIdPath
from app.api.responses import etag_matches, json_response
from app.schemas.common import BODY_ERRORS, CREATED, WRITE_ERRORS, error_responses
from app.schemas.scene import Applied, PatchSheet, SceneCreate, SceneRead, SceneSummary, SceneUpdate
from app.services import scenes as service

router = APIRouter(prefix="/scenes", tags=["Scenes"])


@router.get(
    "", response_model=list[SceneSummary], summary="List scenes", responses=error_responses(503)
)
def list_scenes(db: DatabaseDep) -> Response:
    """Every scene by id, with how many links, cables and modes it holds (not the lists)."""
    with db.connection() as conn:
        body = service.list_scenes(conn)
    return json_response(body)


@router.get(
    "/{scene_id}",
    response_model=SceneRead,
    summary="Get a scene",
    responses=error_responses(404, 503),
)
def get_scene(scene_id: SceneIdPath, db: DatabaseDep) -> Response:
    """One scene with what it holds: every port with its point (or null), every cable, every
    channel's mode, referring to them by id."""
    with db.connection() as conn:
        body = service.get_scene(conn, scene_id=scene_id)
    return json_response(body)


@router.post(
    "",
    status_code=201,
    response_model=SceneRead,
    summary="Save the current patch as a scene",
    responses=CREATED | error_responses(409, *BODY_ERRORS, 503),
)
def create_scene(data: SceneCreate, db: DatabaseDep) -> Response:
    """Capture the patch as it is now (one snapshot): every port's point, every cable with its
    label and colour, every channel's mode. Names are unique (409 `Scene name already used`).
    Scenes are not part of the state: saving one changes no revision."""
    with db.transaction() as conn:
        scene_id, body = service.create_scene(conn, data=data)
    return json_response(body, status_code=201, location=f"/scenes/{scene_id}")


@router.post(
    "/{scene_id}/capture",
    response_model=SceneRead,
    summary="Save the current patch over a scene",
    responses=error_responses(404, *WRITE_ERRORS, 503),
)
def capture_scene(scene_id: SceneIdPath, db: DatabaseDep) -> Response:
    """Replace what the scene holds with the patch as it is now."""
    with db.transaction() as conn:
        body = service.capture(conn, scene_id=scene_id)
    return json_response(body)


@router.patch(
    "/{scene_id}",
    response_model=SceneRead,
    summary="Rename or describe a scene",
    responses=error_responses(404, 409, *BODY_ERRORS, 503),
)
def update_scene(scene_id: SceneIdPath, data: SceneUpdate, db: DatabaseDep) -> Response:
    """Change `name` and/or `description`; fields left out stay as they are."""
    with db.transaction() as conn:
        body = service.update_scene(conn, scene_id=scene_id, data=data)
    return json_response(body)


@router.delete(
    "/{scene_id}",
    response_model=SceneRead,
    summary="Delete a scene",
    responses=error_responses(404, *WRITE_ERRORS, 503),
)
def delete_scene(scene_id: SceneIdPath, db: DatabaseDep) -> Response:
    """Delete the scene (the studio itself is left as it is); answers it as it was."""
    with db.transaction() as conn:
        body = service.delete_scene(conn, scene_id=scene_id)
    return json_response(body)


@router.get(
    "/{scene_id}/diff",
    response_model=PatchSheet,
    summary="The patch sheet: what to do to recall a scene",
    responses=error_responses(404, 503),
)
def diff_scene(scene_id: SceneIdPath, db: DatabaseDep) -> Response:
    """The steps that turn the studio into the scene, in the order a person works: `unplug`
    cables the scene does not have (a cable matches when it joins the same two points, in
    either order), `unlink` ports from points they leave, `set-mode` of channels, `link` ports
    to their points, `plug` the scene's cables, `relabel` cables whose label or colour differ.
    Each step names things by name in `text`. Empty `steps`: the studio matches the scene.

    What the scene refers to that no longer exists is listed in `missing` and gets no step.
    `findings` are those of `GET /checks` for the studio as the apply would leave it.
    Send `revision` back as `If-Match: W/"<revision>"` when applying it.
    """
    with db.connection() as conn:
        revision, snapshot = service.read_snapshot(conn, scene_id=scene_id)
    return json_response(service.sheet(revision, snapshot))


@router.post(
    "/{scene_id}/apply",
    response_model=Applied,
    summary="Recall a scene: apply its patch sheet",
    responses=error_responses(404, 409, 412, *WRITE_ERRORS, 503),
)
def apply_scene(
    scene_id: SceneIdPath,
    db: DatabaseDep,
    if_match: Annotated[
        str | None,
        Header(
            description='The revision the sheet was read at, e.g. `W/"42"`: 412 if the studio '
            "has changed since.",
            examples=['W/"42"'],
        ),
    ] = None,
    skip_missing: Annotated[
        bool, Query(description="Apply what can be applied when the scene names missing items.")
    ] = False,
    accept_risk: Annotated[
        bool,
        Query(
            description="Apply even when the scene would put equipment at risk (see `findings`)."
        ),
    ] = False,
) -> Response:
    """Carry out the whole patch sheet in one transaction, so that the patch is the scene's:
    its cables exactly (others are unplugged), its ports on their points (ports made since
    are left alone, unless they hold a point the scene gives to another port), its channel
    modes. One revision, one event.

    412 `State changed since the diff` when `If-Match` names an older revision (checked
    first); 409 `Scene refers to missing items` unless `skip_missing=true`; 409 `Scene would
    put equipment at risk`, with the `danger` findings the apply would add in `findings`,
    unless `accept_risk=true` (nothing changes on any 4xx).
    """

    def matches(revision: int) -> bool:
        return if_match is None or etag_matches(if_match, revision)

    with db.transaction() as conn:
        answer = service.apply_scene(
            conn,
            scene_id=scene_id,
            matches=matches,
            skip_missing=skip_missing,
            accept_risk=accept_risk,
        )
    return json_response(answer)
