from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, Integer, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base

if TYPE_CHECKING:
    from app.models.port import Port


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Highest port number ever given out, so a deleted port's id is never reused.
    last_port_number: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    ports: Mapped[list[Port]] = relationship(
        back_populates="device",
        order_by="Port.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
