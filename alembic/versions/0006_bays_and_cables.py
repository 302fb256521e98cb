"""Bays with normalled channels, the slot of each point, and patch cables (SPEC D1, D2).

- `bays`, and `bay_channels` numbered 1..N (N at most 96), each with a `normalling_mode`.
- A point's slot is on the point itself (`bay_id`, `bay_channel`, `bay_row`), so a point sits
  in at most one slot by construction; `uq_patchbay_points_slot` keeps one point per slot, and
  the slot's channel must exist. Deleting a bay's channels (the bay) deletes the points in
  them, unless one still holds a port or a plug (their foreign keys refuse).
- `cables` and their two `cable_ends`; `uq_cable_ends_point_id`: a jack holds at most one
  plug, so a cable's two ends are two different jacks. A deferred check makes sure every cable
  has exactly its two ends at commit, however it was written.
- The state revision (0003) and the id sequences' catch-up (0005) cover the new tables.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODES = ("normal", "half-normal", "half-normal-top", "parallel", "thru")
normalling_mode = postgresql.ENUM(*MODES, name="normalling_mode", create_type=False)
NEW_TABLES = ("bays", "bay_channels", "cables", "cable_ends")


def upgrade() -> None:
    normalling_mode.create(op.get_bind())
    op.create_table(
        "bays",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="bays_pkey"),
        sa.UniqueConstraint("name", name="uq_bays_name"),
    )
    op.create_table(
        "bay_channels",
        sa.Column("bay_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("mode", normalling_mode, nullable=False, server_default=sa.text("'half-normal'")),
        sa.PrimaryKeyConstraint("bay_id", "number", name="bay_channels_pkey"),
        sa.ForeignKeyConstraint(
            ["bay_id"], ["bays.id"], name="bay_channels_bay_id_fkey", ondelete="CASCADE"
        ),
        sa.CheckConstraint("number BETWEEN 1 AND 96", name=op.f("ck_bay_channels_number")),
    )
    op.add_column("patchbay_points", sa.Column("bay_id", sa.Integer(), nullable=True))
    op.add_column("patchbay_points", sa.Column("bay_channel", sa.Integer(), nullable=True))
    op.add_column("patchbay_points", sa.Column("bay_row", sa.Text(), nullable=True))
    op.create_foreign_key(
        "patchbay_points_bay_channel_fkey",
        "patchbay_points",
        "bay_channels",
        ["bay_id", "bay_channel"],
        ["bay_id", "number"],
        ondelete="CASCADE",
    )
    op.create_unique_constraint(
        "uq_patchbay_points_slot", "patchbay_points", ["bay_id", "bay_channel", "bay_row"]
    )
    op.create_check_constraint(
        op.f("ck_patchbay_points_slot"),
        "patchbay_points",
        "(bay_id IS NULL AND bay_channel IS NULL AND bay_row IS NULL) OR "
        "(bay_id IS NOT NULL AND bay_channel IS NOT NULL AND bay_row IS NOT NULL "
        "AND bay_row IN ('top', 'bottom'))",
    )
    op.create_table(
        "cables",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("color", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="cables_pkey"),
    )
    op.create_table(
        "cable_ends",
        sa.Column("cable_id", sa.Integer(), nullable=False),
        sa.Column("end_number", sa.SmallInteger(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cable_id", "end_number", name="cable_ends_pkey"),
        sa.ForeignKeyConstraint(
            ["cable_id"], ["cables.id"], name="cable_ends_cable_id_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["point_id"], ["patchbay_points.id"], name="cable_ends_point_id_fkey"
        ),
        sa.UniqueConstraint("point_id", name="uq_cable_ends_point_id"),
        sa.CheckConstraint("end_number IN (1, 2)", name=op.f("ck_cable_ends_end_number")),
    )
    op.execute(
        """
        CREATE FUNCTION check_cable_has_two_ends() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            touched integer[];
            cable integer;
        BEGIN
            IF TG_TABLE_NAME = 'cables' THEN
                touched := ARRAY[NEW.id];
            ELSIF TG_OP = 'INSERT' THEN
                touched := ARRAY[NEW.cable_id];
            ELSIF TG_OP = 'DELETE' THEN
                touched := ARRAY[OLD.cable_id];
            ELSE
                touched := ARRAY[OLD.cable_id, NEW.cable_id];
            END IF;
            FOREACH cable IN ARRAY touched LOOP
                IF EXISTS (SELECT 1 FROM cables WHERE id = cable)
                   AND (SELECT count(*) FROM cable_ends WHERE cable_id = cable) <> 2 THEN
                    RAISE EXCEPTION 'cable % must have exactly two ends', cable
                        USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_cables_two_ends';
                END IF;
            END LOOP;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER cables_have_two_ends AFTER INSERT ON cables "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_cable_has_two_ends()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER cable_ends_make_two AFTER INSERT OR UPDATE OR DELETE "
        "ON cable_ends DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION check_cable_has_two_ends()"
    )
    for table in NEW_TABLES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_bump_state_revision "
            f"AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION bump_state_revision()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_truncate_bumps_state_revision AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_state_revision()"
        )
    for table in ("bays", "cables"):
        op.execute(
            f"CREATE TRIGGER {table}_catch_up_id_sequence AFTER INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION catch_up_id_sequence()"
        )


def downgrade() -> None:
    op.drop_table("cable_ends")
    op.drop_table("cables")
    op.execute("DROP FUNCTION check_cable_has_two_ends()")
    op.drop_constraint("ck_patchbay_points_slot", "patchbay_points")
    op.drop_constraint("uq_patchbay_points_slot", "patchbay_points")
    op.drop_constraint("patchbay_points_bay_channel_fkey", "patchbay_points")
    for column in ("bay_row", "bay_channel", "bay_id"):
        op.drop_column("patchbay_points", column)
    op.drop_table("bay_channels")
    op.drop_table("bays")
    normalling_mode.drop(op.get_bind())
