from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class Scene(Base):
    """A saved patch: `content` is {"links", "cables", "modes"}, by id, with no foreign keys."""

    __tablename__ = "scenes"
    # Checked when each statement ends (migration 0010), so that names can swap in one.
    __table_args__ = (UniqueConstraint("name", deferrable=True, initially="IMMEDIATE"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
