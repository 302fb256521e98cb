"""The whole studio at once (`GET /state`), with the revision it reflects."""

from sqlalchemy import Connection

from app.db import shapes


def read_state(conn: Connection) -> tuple[int, str]:
    """Every point, device (with its ports), bay and cable, and their revision: one snapshot."""
    revision, state = conn.execute(shapes.STATE).one()
    return int(revision), str(state)
