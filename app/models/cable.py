from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class Cable(Base):
    """A patch cable on the front of the bays; its two ends are `CableEnd` rows."""

    __tablename__ = "cables"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(Text, server_default=text("''"))
    color: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CableEnd(Base):
    """One plug: a jack (point) holds at most one, so a cable's ends are two different jacks."""

    __tablename__ = "cable_ends"
    __table_args__ = (
        CheckConstraint("end_number IN (1, 2)", name="end_number"),
        # Checked when each statement ends (migration 0010), so that plugs can swap in one.
        UniqueConstraint("point_id", deferrable=True, initially="IMMEDIATE"),
    )

    cable_id: Mapped[int] = mapped_column(
        ForeignKey("cables.id", ondelete="CASCADE"), primary_key=True
    )
    end_number: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("patchbay_points.id"))
