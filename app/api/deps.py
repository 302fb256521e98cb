from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection
from sqlalchemy.orm import Session


def get_db(request: Request) -> Iterator[Session]:
    """One session and one transaction per request: committed when the handler returns,
    rolled back on any error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function" runs the commit before the response is sent, so a failed commit can never
# reach the client as a 2xx.
SessionDep = Annotated[Session, Depends(get_db, scope="function")]


ReadConnection = Callable[[], AbstractContextManager[Connection]]


async def get_reader(request: Request) -> ReadConnection:
    """A factory of autocommit connections for single-statement reads.

    Opened by the endpoint in its own worker thread; each read is one statement, so it sees one
    snapshot without BEGIN/COMMIT round trips. (async only so that FastAPI does not spend a worker
    thread on handing the factory over.)
    """
    connect: ReadConnection = request.app.state.read_engine.connect
    return connect


ReaderDep = Annotated[ReadConnection, Depends(get_reader)]
