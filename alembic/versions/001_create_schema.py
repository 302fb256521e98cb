"""The earlier service's own first revision: devices, patchbay points and ports.

It keeps that revision's id, so databases the earlier service created (stamped
`001_create_schema`) upgrade in place, and it creates exactly what that migration created
(checked against a dump of such a database in tests/test_migrations.py), `character varying`
columns included; revision 0004 makes them `text`.

Revision ID: 001_create_schema
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "001_create_schema"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

port_type = postgresql.ENUM("Input", "Output", "Other", name="port_type", create_type=False)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="devices_pkey"),
    )
    op.create_table(
        "patchbay_points",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("type", sa.String(), nullable=False, server_default=sa.text("'standard'")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="patchbay_points_pkey"),
    )
    port_type.create(op.get_bind())
    op.create_table(
        "ports",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("type", port_type, nullable=False),
        sa.Column("patchbay_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="ports_pkey"),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="ports_device_id_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patchbay_id"], ["patchbay_points.id"], name="ports_patchbay_id_fkey"
        ),
        sa.UniqueConstraint("patchbay_id", name="uq_ports_patchbay_id"),
    )


def downgrade() -> None:
    op.drop_table("ports")
    port_type.drop(op.get_bind())
    op.drop_table("patchbay_points")
    op.drop_table("devices")
