"""State revision: one number that changes with every committed change to the studio.

Triggers on devices, ports and patchbay_points bump it in the same transaction as the change,
whoever makes it (the API or someone in pgAdmin), once per transaction, and announce the new
value on the `pepper_state` channel (delivered only if the change commits).

The row triggers are deferred constraint triggers: they run at COMMIT, so the single
state_revision row is locked only for the commit itself and concurrent writers do not queue on it
while they work. TRUNCATE has no row triggers, so a statement trigger covers it.

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
            -- Once per transaction; the setting is transaction-local.
            IF current_setting('pepper.state_revision_bumped', true) = 'yes' THEN
                RETURN NULL;
            END IF;
            PERFORM set_config('pepper.state_revision_bumped', 'yes', true);
            UPDATE state_revision SET revision = revision + 1 RETURNING revision INTO new_revision;
            PERFORM pg_notify('pepper_state', new_revision::text);
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_bump_state_revision "
            f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION bump_state_revision()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_truncate_bumps_state_revision "
            f"AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_state_revision()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_truncate_bumps_state_revision ON {table}")
        op.execute(f"DROP TRIGGER {table}_bump_state_revision ON {table}")
    op.execute("DROP FUNCTION bump_state_revision()")
    op.drop_table("state_revision")
