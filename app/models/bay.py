import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class NormallingMode(enum.StrEnum):
    """When a channel's top and bottom jacks are joined (SPEC D1)."""

    NORMAL = "normal"  # neither jack holds a plug
    HALF_NORMAL = "half-normal"  # the bottom jack holds no plug
    HALF_NORMAL_TOP = "half-normal-top"  # the top jack holds no plug
    PARALLEL = "parallel"  # always
    THRU = "thru"  # never


class Bay(Base):
    __tablename__ = "bays"
    # Checked when each statement ends (migration 0010), so that names can swap in one.
    __table_args__ = (UniqueConstraint("name", deferrable=True, initially="IMMEDIATE"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class BayChannel(Base):
    __tablename__ = "bay_channels"
    __table_args__ = (CheckConstraint("number BETWEEN 1 AND 96", name="number"),)

    bay_id: Mapped[int] = mapped_column(ForeignKey("bays.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[NormallingMode] = mapped_column(
        Enum(
            NormallingMode,
            name="normalling_mode",
            values_callable=lambda e: [m.value for m in e],
        ),
        server_default=text("'half-normal'"),
    )
