"""Responses whose JSON body PostgreSQL wrote (app/db/shapes.py), and the ETag rules of the
revision-tagged reads (RFC 9110 conditional GET)."""

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Response
from sqlalchemy import Connection

from app.db.session import Database
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


T = TypeVar("T")


def revision_tagged(
    database: Database,
    if_none_match: str | None,
    read: Callable[[Connection], tuple[int, T]],
    body: Callable[[T], str | bytes] = str,
) -> Response:
    """A read tagged with the state revision it reflects: a 304 after one tiny query while the
    client's revision is current, else `read`'s body and its revision from one snapshot. The
    connection goes back to the pool before `body` makes the answer of what was read."""
    headers = {"Cache-Control": "no-cache"}
    with database.connection() as conn:
        if if_none_match is not None:
            revision = int(conn.execute(REVISION).scalar_one())
            if etag_matches(if_none_match, revision):
                return Response(status_code=304, headers={**headers, "ETag": etag_for(revision)})
        revision, snapshot = read(conn)
    headers["ETag"] = etag_for(revision)
    return Response(body(snapshot), media_type="application/json", headers=headers)
