from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base

if TYPE_CHECKING:
    from app.models.device import Device


class PortType(enum.StrEnum):
    INPUT = "Input"
    OUTPUT = "Output"
    OTHER = "Other"


class Port(Base):
    __tablename__ = "ports"
    __table_args__ = (
        UniqueConstraint("patchbay_id"),
        Index("ix_ports_device_id_position", "device_id", "position"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(Text)
    type: Mapped[PortType] = mapped_column(
        Enum(PortType, name="port_type", values_callable=lambda e: [m.value for m in e])
    )
    patchbay_id: Mapped[int | None] = mapped_column(ForeignKey("patchbay_points.id"))
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Creation order: filled from a sequence by the database, so that `-port-10` sorts after
    # `-port-2` and rows added by hand in pgAdmin get a place too.
    position: Mapped[int] = mapped_column(
        BigInteger, server_default=text("nextval('ports_position_seq'::regclass)")
    )

    device: Mapped[Device] = relationship(back_populates="ports")
