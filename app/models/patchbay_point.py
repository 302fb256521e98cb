from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class PatchbayPoint(Base):
    __tablename__ = "patchbay_points"
    __table_args__ = (
        # The point's slot in a bay: at most one per point (it is a column), one point per slot.
        # Checked when each statement ends (migration 0010), so that points can swap slots.
        UniqueConstraint(
            "bay_id",
            "bay_channel",
            "bay_row",
            name="uq_patchbay_points_slot",
            deferrable=True,
            initially="IMMEDIATE",
        ),
        ForeignKeyConstraint(
            ["bay_id", "bay_channel"],
            ["bay_channels.bay_id", "bay_channels.number"],
            name="patchbay_points_bay_channel_fkey",
            ondelete="CASCADE",
        ),
        CheckConstraint(
            "(bay_id IS NULL AND bay_channel IS NULL AND bay_row IS NULL) OR "
            "(bay_id IS NOT NULL AND bay_channel IS NOT NULL AND bay_row IS NOT NULL "
            "AND bay_row IN ('top', 'bottom'))",
            name="slot",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    type: Mapped[str] = mapped_column(Text, server_default=text("'standard'"))
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    bay_id: Mapped[int | None] = mapped_column(Integer)
    bay_channel: Mapped[int | None] = mapped_column(Integer)
    bay_row: Mapped[str | None] = mapped_column(Text)
