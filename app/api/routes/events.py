from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from app.api.security import check_api_key
from app.core.errors import Unavailable
from app.schemas.common import error_responses
from app.services.events import StateBroadcaster

router = APIRouter(tags=["Events"])

RETRY_MILLISECONDS = 2000
_EXAMPLE = 'retry: 2000\n\nid: 42\nevent: state\ndata: {"revision": 42}\n\n: keep-alive\n\n'
# How OpenAPI 3.1 tools read a text/event-stream schema: as the shape of one event.
_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"const": "state"},
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The new revision"},
        "retry": {"type": "integer", "minimum": 0},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "properties": {"revision": {"type": "integer"}},
                "required": ["revision"],
            },
        },
    },
}


def _event(revision: int) -> bytes:
    return f'id: {revision}\nevent: state\ndata: {{"revision": {revision}}}\n\n'.encode()


async def _stream(
    broadcaster: StateBroadcaster, last_seen: int | None, keepalive: float
) -> AsyncIterator[bytes]:
    # Starlette cancels this generator as soon as the client disconnects.
    yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
    while True:
        changed = await broadcaster.wait_for_change(last_seen, keepalive)
        if broadcaster.closing.is_set():
            return
        if not changed:
            yield b": keep-alive\n\n"
        elif broadcaster.revision is not None and broadcaster.revision != last_seen:
            last_seen = broadcaster.revision
            yield _event(last_seen)


@router.get(
    "/events",
    summary="Live stream of state changes",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A `text/event-stream` of `state` events",
            "content": {"text/event-stream": {"schema": _EVENT_SCHEMA, "example": _EXAMPLE}},
        },
        **error_responses(401, 503),
    },
)
async def events(
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="The `id` of the last event received"),
    ] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    api_key: Annotated[
        str | None,
        Query(description="The API key, for browsers' EventSource (which cannot send headers)"),
    ] = None,
) -> StreamingResponse:
    """Server-sent events: an event `state` whenever the state revision changes, whoever
    changed it (any API process, or SQL typed into pgAdmin), with the new revision as `id` and
    `{"revision": N}` as data. Refetch `GET /state` on each.

    On connect the current revision comes first, unless `Last-Event-ID` already names it.
    A comment line keeps the connection alive at least every 15 s. There is a cap on open
    streams per API process; beyond it the answer is 503.
    """
    check_api_key(request, x_api_key or api_key)
    broadcaster: StateBroadcaster = request.app.state.broadcaster
    if not broadcaster.try_join():
        raise Unavailable("Too many open event streams")
    last_seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    keepalive = request.app.state.settings.sse_keepalive_seconds
    return StreamingResponse(
        _stream(broadcaster, last_seen, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # Runs when the stream ends for any reason, disconnects included: frees the slot.
        background=BackgroundTask(broadcaster.leave),
    )
