"""The earlier service's re-linking, rebuilt from SPEC.md (Parts A and B) as a reference.

Sync FastAPI, a SQLAlchemy ORM Session per request, committed once the endpoint has run. A link
loads the port, finds the port holding the point, sets that one's patchbay_id to NULL and the
port's to the point, and commits both in one flush. The unit of work sends the two UPDATEs in
primary-key order: when the port's id sorts first, uq_ports_patchbay_id refuses its UPDATE
while the other still holds the point, and the answer is 409 (SPEC.md, Part B 1).
"""

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Enum, ForeignKey, create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

URL = os.environ.get("DATABASE_URL", "").replace("postgresql://", "postgresql+psycopg://", 1)
# SQLAlchemy's default pool (5, and up to 10 more opened and closed as needed): nothing in the
# description says otherwise.
SessionLocal = sessionmaker(create_engine(URL))


class Base(DeclarativeBase):
    pass


class Named:
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    type: Mapped[str]
    created_at: Mapped[datetime | None]


class Device(Named, Base):
    __tablename__ = "devices"


class PatchbayPoint(Named, Base):
    __tablename__ = "patchbay_points"
    description: Mapped[str]


class Port(Base):
    __tablename__ = "ports"
    id: Mapped[str] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    label: Mapped[str]
    type: Mapped[str] = mapped_column(Enum("Input", "Output", "Other", name="port_type"))
    patchbay_id: Mapped[int | None] = mapped_column(ForeignKey("patchbay_points.id"), unique=True)
    created_at: Mapped[datetime | None]


class Link(BaseModel):
    patchbay_id: int


def get_db() -> Iterator[Session]:
    with SessionLocal() as db:
        yield db
        db.commit()


# scope="function": the commit runs before the answer is sent, so a failed one is the answer.
DB = Annotated[Session, Depends(get_db, scope="function")]
app = FastAPI()


@app.exception_handler(IntegrityError)
def conflict(request: Request, exc: IntegrityError) -> JSONResponse:
    return JSONResponse({"detail": "Patchbay point already linked"}, status_code=409)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/ports/{port_id}/link")
def link(port_id: str, body: Link, db: DB) -> dict[str, object]:
    port = db.get(Port, port_id)
    if port is None:
        raise HTTPException(404, "Port not found")
    holder = db.scalars(select(Port).where(Port.patchbay_id == body.patchbay_id)).first()
    if holder is not None and holder is not port:
        holder.patchbay_id = None
    port.patchbay_id = body.patchbay_id
    unlinked = holder.id if holder is not None and holder is not port else None
    answer = {
        "id": port.id,
        "label": port.label,
        "type": port.type,
        "patchbay_id": port.patchbay_id,
    }
    return answer | {"unlinked_port_id": unlinked}
