"""Port creation order, never-reused port numbers, and the index the port lookups need.

`ports.position` comes from a sequence, so ports list in creation order (`-port-2` before
`-port-10`) however they were inserted. `devices.last_port_number` is the highest number ever
handed out for the device. Both are backfilled from existing rows.

Revision ID: 0002
Revises: 001_create_schema
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "001_create_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The n of `dev-{device_id}-port-{n}`, or NULL for ids typed in by hand in another form.
PORT_NUMBER = r"substring(id from '-port-([0-9]{1,9})$')::integer"


def upgrade() -> None:
    op.execute("CREATE SEQUENCE ports_position_seq AS bigint")
    op.add_column("ports", sa.Column("position", sa.BigInteger(), nullable=True))
    op.execute(
        f"""
        UPDATE ports SET position = ordered.n
          FROM (SELECT id, row_number() OVER (
                    ORDER BY created_at NULLS FIRST, device_id, {PORT_NUMBER} NULLS LAST, id) AS n
                  FROM ports) AS ordered
         WHERE ports.id = ordered.id
        """
    )
    op.execute(
        "SELECT setval('ports_position_seq', coalesce(max(position), 0) + 1, false) FROM ports"
    )
    op.alter_column(
        "ports",
        "position",
        nullable=False,
        server_default=sa.text("nextval('ports_position_seq'::regclass)"),
    )
    op.execute("ALTER SEQUENCE ports_position_seq OWNED BY ports.position")
    op.create_index("ix_ports_device_id_position", "ports", ["device_id", "position"])

    op.add_column(
        "devices",
        sa.Column("last_port_number", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        f"""
        UPDATE devices SET last_port_number = numbers.highest
          FROM (SELECT device_id, max({PORT_NUMBER}) AS highest FROM ports GROUP BY device_id)
               AS numbers
         WHERE devices.id = numbers.device_id AND numbers.highest IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("devices", "last_port_number")
    op.drop_index("ix_ports_device_id_position", table_name="ports")
    # Dropping the column drops the sequence it owns.
    op.drop_column("ports", "position")
