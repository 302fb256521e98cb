import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.deps import ListenerDep
from app.core.errors import TOO_MANY_STREAMS, Unavailable
from app.schemas.common import error_responses

router = APIRouter(tags=["Events"])

RETRY_MILLISECONDS = 2000
_EXAMPLE = 'retry: 2000\n\nevent: state\ndata: {"revision": 42}\nid: 42\n\n: keep-alive\n\n'
# An id this service sent: a revision, which fits PostgreSQL's bigint.
_EVENT_ID = re.compile(r"[0-9]{1,18}")


async def stream_slot(
    listener: ListenerDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The `id` of the last event received; anything else is ignored",
        ),
    ] = None,
) -> AsyncIterator[int | None]:
    """One of the process's stream slots, held until the stream ends, and the revision the
    client last saw. Both are settled before the stream starts: a refusal is a plain 503."""
    last_seen = int(last_event_id) if last_event_id and _EVENT_ID.fullmatch(last_event_id) else None
    with listener.stream_slot() as joined:
        if not joined:
            raise Unavailable(TOO_MANY_STREAMS)
        yield last_seen


@router.get(
    "/events",
    summary="Live stream of state changes",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "A `text/event-stream` of `state` events",
            "content": {"text/event-stream": {"example": _EXAMPLE}},
        },
        **error_responses(503),
    },
)
async def events(
    request: Request,
    listener: ListenerDep,
    last_seen: Annotated[int | None, Depends(stream_slot)],
    api_key: Annotated[
        str | None,
        Query(description="The API key, for browsers' EventSource (which cannot send headers)"),
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: an event `state` whenever the state revision changes, whoever
    changed it (any API process, or SQL typed into pgAdmin), with the new revision as `id` and
    `{"revision": N}` as data. Refetch `GET /state` on each.

    On connect the current revision comes first, unless `Last-Event-ID` already names it.
    A comment line (`: keep-alive`) keeps the connection alive at least every 10 s
    (`SSE_KEEPALIVE_SECONDS`). There is a cap on open streams per API process; beyond it the
    answer is 503.
    """
    keepalive = request.app.state.settings.sse_keepalive_seconds
    yield ServerSentEvent(retry=RETRY_MILLISECONDS)
    while True:
        revision = await listener.next_revision(last_seen, keepalive)
        if listener.closing.is_set():
            return
        if revision is None:
            yield ServerSentEvent(comment="keep-alive")
            continue
        last_seen = revision
        yield ServerSentEvent(event="state", data={"revision": revision}, id=str(revision))
