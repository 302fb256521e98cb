"""Responses whose JSON body PostgreSQL wrote (app/db/shapes.py), and the ETag rules of the
revision-tagged reads (RFC 9110 conditional GET)."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Response

from app.db.pool import Database
from app.db.shapes import REVISION


def json_response(
    body: str | bytes | dict[str, Any], *, status_code: int = 200, location: str | None = None
) -> Response:
    """JSON that PostgreSQL wrote, or a dict a service built (written compactly, as PostgreSQL
    writes its own)."""
    if isinstance(body, dict):
        body = encoded(body)
    headers = {"Location": location} if location else None
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def etag_for(revision: int) -> str:
    return f'W/"{revision}"'


def etag_matches(header: str, revision: int) -> bool:
    """True when an If-None-Match or If-Match header names this revision (weak comparison) or
    is `*`."""
    wanted = f'"{revision}"'
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False


async def revision_tagged(
    database: Database,
    if_none_match: str | None,
    read: Callable[[], Awaitable[tuple[int, str | bytes]]],
) -> Response:
    """A read tagged with the state revision it reflects: a 304 after one tiny query while the
    client's revision is current, else the body and its revision from one snapshot."""
    headers = {"Cache-Control": "no-cache"}
    if if_none_match is not None:
        revision = int(await database.fetch_value(REVISION))
        if etag_matches(if_none_match, revision):
            return Response(status_code=304, headers={**headers, "ETag": etag_for(revision)})
    revision, body = await read()
    headers["ETag"] = etag_for(revision)
    return Response(body, media_type="application/json", headers=headers)
