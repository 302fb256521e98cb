from typing import Annotated

from fastapi import Depends, Request

from app.db.listener import StateListener
from app.db.session import Database


# `async`, so that FastAPI runs them on the event loop: a `def` dependency would cost every
# request a trip to a worker thread of its own.
async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_listener(request: Request) -> StateListener:
    listener: StateListener = request.app.state.listener
    return listener


async def raw_body(request: Request) -> bytes:
    """The request's body as it came (the Guard middleware has read it already, within its
    limit), for the endpoints that parse it themselves, in their worker thread."""
    return await request.body()


DatabaseDep = Annotated[Database, Depends(get_database)]
ListenerDep = Annotated[StateListener, Depends(get_listener)]
RawBody = Annotated[bytes, Depends(raw_body)]
