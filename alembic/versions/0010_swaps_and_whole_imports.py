"""Swaps in one statement, cables that lose an end, scenes in an import's history.

- Pepper's own unique constraints (a plug per jack, a point per slot, bay and scene names) are
  checked at the end of each statement instead of row by row (`DEFERRABLE INITIALLY
  IMMEDIATE`): a revert or an import that swaps two cables' points, two points' slots or two
  bays' names does it in one UPDATE. Nothing else changes: every statement is still checked
  when it ends. (`uq_ports_patchbay_id` is the earlier service's and stays as it was: the
  writes that move ports free the points first.)
- A TRUNCATE that empties `cable_ends` (pgAdmin's `TRUNCATE patchbay_points CASCADE` does)
  deletes the cables with it: a cable exists only while both its ends do.
- An import replaces the scenes too. When a transaction sets `pepper.record_scenes` (the
  imports and reverts do), its changes to `scenes` are recorded in its history entry and count
  as a change of the state, so that reverting the import brings its scenes back. The scenes'
  own endpoints set nothing: saving a scene still changes no revision. (The revision's guard
  against an UPDATE that changes nothing compares the rows as jsonb: a scene's `json` content
  has no equality operator.)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> (table, columns)
UNIQUE = {
    "uq_cable_ends_point_id": ("cable_ends", "point_id"),
    "uq_patchbay_points_slot": ("patchbay_points", "bay_id, bay_channel, bay_row"),
    "uq_bays_name": ("bays", "name"),
    "uq_scenes_name": ("scenes", "name"),
}
RECORDING_SCENES = "current_setting('pepper.record_scenes', true) = 'on'"


_ROWS_EQUAL = "IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN"
_IMAGES_EQUAL = "IF TG_OP = 'UPDATE' AND to_jsonb(OLD) IS NOT DISTINCT FROM to_jsonb(NEW) THEN"


def _history_0009() -> ModuleType:
    """Migration 0009, whose bump function this one amends (and gives back on downgrade)."""
    path = Path(__file__).with_name("0009_history_gaps.py")
    spec = importlib.util.spec_from_file_location("pepper_migration_0009", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bump_with_history() -> str:
    """0009's bump function, comparing the rows of an UPDATE as jsonb."""
    old: str = _history_0009().bump_with_history()
    assert old.count(_ROWS_EQUAL) == 1, "0009's bump function is as this migration expects"
    return old.replace(_ROWS_EQUAL, _IMAGES_EQUAL)


def _recreate_unique(deferrable: bool) -> None:
    when = " DEFERRABLE INITIALLY IMMEDIATE" if deferrable else ""
    for name, (table, columns) in UNIQUE.items():
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {name}, "
            f"ADD CONSTRAINT {name} UNIQUE ({columns}){when}"
        )


def upgrade() -> None:
    _recreate_unique(deferrable=True)
    op.execute(bump_with_history())
    op.execute(
        """
        CREATE FUNCTION delete_cables_without_ends() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM cables;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER cable_ends_truncate_deletes_cables AFTER TRUNCATE ON cable_ends "
        "FOR EACH STATEMENT EXECUTE FUNCTION delete_cables_without_ends()"
    )
    op.execute(
        "CREATE TRIGGER scenes_record_history AFTER INSERT OR UPDATE OR DELETE ON scenes "
        f"FOR EACH ROW WHEN ({RECORDING_SCENES}) EXECUTE FUNCTION record_change('id')"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER scenes_state_revision_bump "
        "AFTER INSERT OR UPDATE OR DELETE ON scenes DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW WHEN ({RECORDING_SCENES}) EXECUTE FUNCTION bump_state_revision()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER scenes_state_revision_bump ON scenes")
    op.execute("DROP TRIGGER scenes_record_history ON scenes")
    op.execute("DROP TRIGGER cable_ends_truncate_deletes_cables ON cable_ends")
    op.execute("DROP FUNCTION delete_cables_without_ends()")
    op.execute(_history_0009().bump_with_history())
    _recreate_unique(deferrable=False)
