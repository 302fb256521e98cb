"""Id sequences that catch up with rows typed in by hand.

Studios add devices and points in pgAdmin, often with ids they choose; the id sequence then
lags behind the table, and the API's next insert would collide with them. A trigger moves the
sequence past any id inserted beyond it, whoever inserts it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("devices", "patchbay_points")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION catch_up_id_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            sequence regclass := pg_get_serial_sequence(TG_TABLE_NAME, 'id')::regclass;
        BEGIN
            -- Ids drawn from the sequence never pass it; only hand-typed ones can.
            IF NEW.id > coalesce(pg_sequence_last_value(sequence), 0) THEN
                PERFORM setval(sequence, NEW.id);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        catch_up(table)
    # Databases already behind: catch up now.
    for table in TABLES:
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table} "
            f"HAVING max(id) > coalesce(pg_sequence_last_value("
            f"pg_get_serial_sequence('{table}', 'id')::regclass), 0)"
        )


def catch_up(table: str) -> None:
    """Keep `table.id`'s sequence ahead of hand-typed ids (used by later revisions too)."""
    op.execute(
        f"CREATE TRIGGER {table}_catch_up_id_sequence AFTER INSERT ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION catch_up_id_sequence()"
    )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_catch_up_id_sequence ON {table}")
    op.execute("DROP FUNCTION catch_up_id_sequence()")
