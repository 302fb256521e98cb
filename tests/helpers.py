from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

JSON = {"Content-Type": "application/json"}


def add_points(db: Session, count: int, *, prefix: str = "P") -> list[int]:
    """Insert patchbay points directly, as a studio did in pgAdmin; returns their ids."""
    rows = db.execute(
        text(
            "INSERT INTO patchbay_points (name) "
            "SELECT :prefix || n FROM generate_series(1, :count) AS n RETURNING id"
        ),
        {"prefix": prefix, "count": count},
    )
    return [row.id for row in rows]


def make_device(
    client: TestClient, *, name: str = "Juno-106", ports: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    if ports is None:
        ports = [{"label": "MIDI IN", "type": "Input"}, {"label": "OUT", "type": "Output"}]
    response = client.post("/devices", json={"name": name, "type": "Synth", "ports": ports})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def holder_of(db: Session, point_id: int) -> str | None:
    return db.scalar(text("SELECT id FROM ports WHERE patchbay_id = :p"), {"p": point_id})


def count(db: Session, table: str) -> int:
    return int(db.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
