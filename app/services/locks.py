"""Row locks and constraint mapping shared by the services (see the locking discipline in
`app/services/__init__.py`)."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.models import PatchbayPoint

POINT_NOT_FOUND = "Patchbay point not found"
PORT_NOT_FOUND = "Port not found"
POINT_TAKEN = "Patchbay point already linked"


def lock_points(session: Session, point_ids: Iterable[int]) -> None:
    """Lock the given patchbay points in id order; 404 if any does not exist."""
    wanted = sorted(set(point_ids))
    if not wanted:
        return
    found = session.scalars(
        select(PatchbayPoint.id)
        .where(PatchbayPoint.id.in_(wanted))
        .order_by(PatchbayPoint.id)
        .with_for_update()
    ).all()
    if len(found) != len(wanted):
        raise NotFound(POINT_NOT_FOUND)


@contextmanager
def taken_point_is_conflict() -> Iterator[None]:
    """Turn a lost race on the one-port-per-point rule (someone writing by hand in pgAdmin,
    past our locks) into a 409."""
    try:
        yield
    except IntegrityError as exc:
        if "uq_ports_patchbay_id" in str(exc.orig):
            raise Conflict(POINT_TAKEN) from exc
        raise
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "uq_ports_patchbay_id":
            raise Conflict(POINT_TAKEN) from exc
        raise


def flush(session: Session) -> None:
    with taken_point_is_conflict():
        session.flush()
