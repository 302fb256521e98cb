from typing import Annotated

from fastapi import Depends, Request

from app.db.pool import Database
from app.services.events import StateListener


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_listener(request: Request) -> StateListener:
    listener: StateListener = request.app.state.listener
    return listener


DatabaseDep = Annotated[Database, Depends(get_database)]
ListenerDep = Annotated[StateListener, Depends(get_listener)]
