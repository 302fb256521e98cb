"""Patch safety (SPEC E1): what each port is, electrically.

- `port_electrical`: a row per port that has any value set (a CHECK keeps rows of defaults
  out, so "reset to defaults" is deleting the row), going with its port (ON DELETE CASCADE).
  `level` is text with a CHECK of the six levels (null: unknown).
- The values are part of the state: the table gets the history triggers and the revision bump
  every table of the studio has (0003, 0008, 0009): `record_change('port_id')` per row, the
  TRUNCATE recorded as the deletion of every row, the deferred `port_electrical_state_revision_bump`
  constraint trigger (named to fire after the recording one) and the TRUNCATE bump.
- The entry written at COMMIT also keeps the names of the ports whose electrical rows changed,
  so that a summary can name a port deleted since (0010's bump function, one line longer).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = ("mic", "instrument", "line", "speaker", "headphone", "digital")
TABLE = "port_electrical"

# The ports an entry names: 0010's bump gathers them from `ports` rows only.
_PORT_IDS = "array_agg(image->>'id') FILTER (WHERE table_name = 'ports'),\n"
_WITH_ELECTRICAL = (
    "array_agg(image->>'id') FILTER (WHERE table_name = 'ports')\n"
    "                   || array_agg(image->>'port_id') FILTER (WHERE table_name = 'port_electrical'),\n"
)


def _history_0010() -> ModuleType:
    """Migration 0010, whose bump function this one extends (and gives back on downgrade)."""
    path = Path(__file__).with_name("0010_swaps_and_whole_imports.py")
    spec = importlib.util.spec_from_file_location("pepper_migration_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bump_with_electrical() -> str:
    old: str = _history_0010().bump_with_history()
    assert old.count(_PORT_IDS) == 1, "0010's bump function is as this migration expects"
    return old.replace(_PORT_IDS, _WITH_ELECTRICAL)


def upgrade() -> None:
    levels = ", ".join(f"'{level}'" for level in LEVELS)
    op.create_table(
        TABLE,
        sa.Column("port_id", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=True),
        sa.Column("phantom", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("phantom_safe", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.ForeignKeyConstraint(
            ["port_id"], ["ports.id"], name="port_electrical_port_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("port_id", name="port_electrical_pkey"),
        sa.CheckConstraint(f"level IN ({levels})", name=op.f("ck_port_electrical_level")),
        sa.CheckConstraint(
            "level IS NOT NULL OR phantom OR NOT phantom_safe",
            name=op.f("ck_port_electrical_not_all_defaults"),
        ),
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_record_history AFTER INSERT OR UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION record_change('port_id')"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_record_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION record_truncate('port_id')"
    )
    op.execute(
        f"CREATE CONSTRAINT TRIGGER {TABLE}_state_revision_bump "
        f"AFTER INSERT OR UPDATE OR DELETE ON {TABLE} DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION bump_state_revision()"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_truncate_bumps_state_revision AFTER TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_state_revision()"
    )
    op.execute(bump_with_electrical())


def downgrade() -> None:
    op.execute(_history_0010().bump_with_history())
    # Its triggers go with it.
    op.drop_table(TABLE)
