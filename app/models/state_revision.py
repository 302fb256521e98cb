from sqlalchemy import BigInteger, Boolean, CheckConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class StateRevision(Base):
    """One row whose `revision` changes with every committed change to devices, ports or points.

    Bumped by triggers at commit (see migration 0003), never by the application.
    """

    __tablename__ = "state_revision"
    __table_args__ = (CheckConstraint("id", name="single_row"),)

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=true())
    revision: Mapped[int] = mapped_column(BigInteger)
