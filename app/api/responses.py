from collections.abc import Sequence

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session


def committed_response(
    session: Session,
    body: BaseModel | Sequence[BaseModel],
    *,
    status_code: int = 200,
    location: str | None = None,
) -> Response:
    """Commit the request's transaction, then serialise its answer, in the endpoint's thread.

    Committing here, before the response exists, means a failed commit can only ever be an
    error response, and `get_db` has nothing left to do in another thread. Serialising here
    matters too: a returned model would be validated by FastAPI in *another* worker thread
    while this request still held its row locks, and under load every worker can be waiting for
    those locks, so the holder would wait for a worker forever.
    """
    session.commit()
    if not isinstance(body, BaseModel):
        content = b"[" + b",".join(item.model_dump_json().encode() for item in body) + b"]"
    else:
        content = body.model_dump_json().encode()
    headers = {"Location": location} if location else None
    return Response(
        content, status_code=status_code, media_type="application/json", headers=headers
    )
