import enum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class Level(enum.StrEnum):
    """A port's signal level (SPEC E1); null in the table: unknown."""

    MIC = "mic"
    INSTRUMENT = "instrument"
    LINE = "line"
    SPEAKER = "speaker"
    HEADPHONE = "headphone"
    DIGITAL = "digital"


_LEVELS = ", ".join(f"'{level.value}'" for level in Level)


# What a port without a row of `port_electrical` has.
ELECTRICAL_DEFAULTS: dict[str, Any] = {"level": None, "phantom": False, "phantom_safe": True}


class PortElectrical(Base):
    """What a port is electrically: a row only for a port with a value set (migration 0011)."""

    __tablename__ = "port_electrical"
    __table_args__ = (
        CheckConstraint(f"level IN ({_LEVELS})", name="level"),
        # A row of defaults says nothing: resetting a port deletes its row.
        CheckConstraint(
            "level IS NOT NULL OR phantom OR NOT phantom_safe", name="not_all_defaults"
        ),
    )

    port_id: Mapped[str] = mapped_column(
        Text, ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[str | None] = mapped_column(Text)
    # Inputs only: the preamp sends +48 V when its switch is on.
    phantom: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # Outputs only: false for a source that +48 V can damage.
    phantom_safe: Mapped[bool] = mapped_column(Boolean, server_default=true())
