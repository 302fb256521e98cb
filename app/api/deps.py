from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated, Any

import anyio
import psycopg
from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session and one transaction per request: rolled back on any error, committed when
    the handler returns (routes commit before they build their response, see
    `api/responses.committed_response`; whatever is left is committed here).

    Creating the session does no I/O, so it happens on the event loop; a commit or rollback
    runs in a thread.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    except BaseException:
        await _in_own_thread(_rollback_and_close, session)
        raise
    if session.in_transaction():
        await _in_own_thread(_commit_and_close, session)
    else:
        session.close()  # the route committed already; nothing left that needs I/O


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def _in_own_thread(function: Callable[[Session], None], session: Session) -> None:
    # Outside the worker limit: this transaction may hold row locks that every worker is waiting
    # for, so waiting for a free worker here could wait forever.
    await anyio.to_thread.run_sync(function, session, limiter=anyio.CapacityLimiter(1))


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
        pooled.invalidate()
        if driver.broken:
            # The database went away (restart, failover): every pooled connection is as dead as
            # this one. Start a fresh pool rather than fail one request per stale connection.
            engine.dispose(close=False)
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
