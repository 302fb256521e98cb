"""Text columns, as SPEC's data model has them.

The earlier service's migration made names, types, labels and port ids `character varying`
(without a length). Changing an unbounded varchar to text rewrites nothing: the two share one
representation, so this is a catalog change even on a large studio.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "devices": ("name", "type"),
    "patchbay_points": ("name", "type"),
    "ports": ("id", "label"),
}


def _retype(to: str) -> None:
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {to}" for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
    op.execute(f"ALTER TABLE patchbay_points ALTER COLUMN type SET DEFAULT 'standard'::{to}")


def upgrade() -> None:
    _retype("text")


def downgrade() -> None:
    _retype("character varying")
