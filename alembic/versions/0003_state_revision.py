"""State revision: one number that changes with every committed change to the studio.

Statement-level triggers on devices, ports and patchbay_points bump it in the same transaction
as the change, whoever makes it (the API or someone in pgAdmin), once per transaction, and
announce the new value on the `pepper_state` channel (delivered only if the change commits).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("devices", "ports", "patchbay_points")


def upgrade() -> None:
    op.create_table(
        "state_revision",
        sa.Column("id", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("bumped_by_xact", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="state_revision_pkey"),
        sa.CheckConstraint("id", name="ck_state_revision_single_row"),
    )
    op.execute("INSERT INTO state_revision (id, revision) VALUES (true, 1)")
    op.execute(
        """
        CREATE FUNCTION bump_state_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            new_revision bigint;
        BEGIN
            -- Once per transaction: later statements of the same transaction match no row.
            UPDATE state_revision
               SET revision = revision + 1, bumped_by_xact = pg_current_xact_id()::text::bigint
             WHERE bumped_by_xact IS DISTINCT FROM pg_current_xact_id()::text::bigint
            RETURNING revision INTO new_revision;
            IF new_revision IS NOT NULL THEN
                PERFORM pg_notify('pepper_state', new_revision::text);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_state_revision "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_state_revision()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_bump_state_revision ON {table}")
    op.execute("DROP FUNCTION bump_state_revision()")
    op.drop_table("state_revision")
