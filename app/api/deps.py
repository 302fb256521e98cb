from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from sqlalchemy import Engine
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


ReadConnection = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


@contextmanager
def _autocommit_connection(engine: Engine) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection's driver connection, in autocommit mode for the read.

    The hot read paths are one statement each, so they need no transaction (no BEGIN/ROLLBACK
    round trips) and none of SQLAlchemy's per-statement machinery.
    """
    pooled = engine.raw_connection()
    try:
        driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        driver.autocommit = True
        try:
            yield driver
        finally:
            driver.autocommit = False
    except psycopg.OperationalError:
        # The connection is likely dead (database restarted): do not hand it out again.
        pooled.invalidate()
        raise
    finally:
        pooled.close()


async def get_reader(request: Request) -> ReadConnection:
    """A factory of autocommit connections for single-statement reads, opened by the endpoint
    in its own worker thread (async only so that FastAPI does not spend a thread on handing the
    factory over)."""
    engine: Engine = request.app.state.engine
    return lambda: _autocommit_connection(engine)


ReaderDep = Annotated[ReadConnection, Depends(get_reader)]
