from fastapi import APIRouter, Response

from app.api.deps import DatabaseDep
from app.api.responses import encoded, json_response, revision_tagged
from app.api.routes.state import NOT_MODIFIED, IfNoneMatch
from app.schemas.checks import Checks, Preview, PreviewRequest
from app.schemas.common import BODY_ERRORS, error_responses
from app.services import checks as service

router = APIRouter(prefix="/checks", tags=["Patch safety"])


@router.get(
    "",
    response_model=Checks,
    summary="What in the patch puts equipment at risk",
    responses={**NOT_MODIFIED, **error_responses(503)},
)
def get_checks(db: DatabaseDep, if_none_match: IfNoneMatch = None) -> Response:
    """Every finding of the patch as it is, on the nets of `GET /signal-flow`:

    | check | severity | when |
    |---|---|---|
    | `phantom` | danger | a net holds an input with `phantom` and an output not `phantom_safe` |
    | `speaker` | danger | a `speaker` output feeds an input of another (known) level |
    | `level` | warning | a line, instrument or headphone output feeds a `mic` input, or a mic output a `line` input |
    | `feedback` | warning | an output feeds an input of its own device |
    | `conflict` | warning | two or more outputs drive one net |
    | `silenced` | notice | an input the house normals (no cable anywhere) feed is fed by nothing now |

    Ordered by severity, check, then first port in `/state` order; each `text` names things
    by name. The `ETag` is `/state`'s, with the same 304 rules.
    """
    return revision_tagged(
        db, if_none_match, service.read_checks, lambda read: encoded(service.findings_body(read))
    )


@router.post(
    "/preview",
    response_model=Preview,
    summary="What some steps would put at risk, before taking them",
    responses=error_responses(404, 409, *BODY_ERRORS, 503),
)
def preview(data: PreviewRequest, db: DatabaseDep) -> Response:
    """Try steps of a patch sheet (`GET /scenes/{id}/diff`'s shapes: `unplug`, `unlink`,
    `set-mode`, `link`, `plug`; `text`, `label` and `color` optional) on a copy of the nets
    they touch, in order, and answer the findings of the studio as the steps would leave it,
    and which of them are `new` (a finding is the same one when its check and ports are).
    Nothing changes. What a browser app calls before it lets a person plug a cable.

    A step naming something unknown is 404 as its endpoint would answer; a step its endpoint
    would refuse is the same answer (409 `Jack already patched`, 422 for a channel the bay
    does not have).
    """
    steps = [step.model_dump() for step in data.steps]
    with db.connection() as conn:
        revision, snapshot = service.read_preview(conn, steps=steps)
    return json_response(service.preview(revision, snapshot, steps))
