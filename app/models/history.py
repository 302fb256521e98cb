from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class HistoryEntry(Base):
    """One committed transaction that changed the studio; written at COMMIT by PostgreSQL
    (migration 0008), never by the application."""

    __tablename__ = "history_entries"
    __table_args__ = (
        CheckConstraint("source IN ('api', 'sql')", name="source"),
        Index("ix_history_entries_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(Text)
    reverts: Mapped[int | None] = mapped_column(BigInteger)
    # The names of what the changes refer to, as they were at the commit.
    names: Mapped[dict[str, Any]] = mapped_column(JSONB)


class HistoryChange(Base):
    """One row's change: before and after, as JSON (written by row triggers)."""

    __tablename__ = "history_changes"
    __table_args__ = (
        CheckConstraint("op IN ('insert', 'update', 'delete')", name="op"),
        Index("ix_history_changes_entry_id", "entry_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    table_name: Mapped[str] = mapped_column(Text)
    key: Mapped[Any] = mapped_column(JSONB)
    op: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
