"""Scenes (SPEC D4): a named copy of the patch, recalled later.

`content` holds the links, cables and channel modes as JSON, referring to ports, points and
bays by id with no foreign keys, so a scene keeps its content when they are deleted. Scenes
are not part of the state: no revision trigger.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scenes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("content", postgresql.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="scenes_pkey"),
        sa.UniqueConstraint("name", name="uq_scenes_name"),
    )
    op.execute(
        "CREATE TRIGGER scenes_catch_up_id_sequence AFTER INSERT ON scenes "
        "FOR EACH ROW EXECUTE FUNCTION catch_up_id_sequence()"
    )


def downgrade() -> None:
    op.drop_table("scenes")
