from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
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
