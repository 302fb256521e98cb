"""History without gaps: every revision an entry, every entry a change.

- The triggers that bump the revision are renamed `<table>_state_revision_bump`, so that they
  sort after `<table>_record_history`. PostgreSQL fires a row's AFTER triggers in name order,
  and a bump deferred to COMMIT always came last; but after `SET CONSTRAINTS ALL IMMEDIATE`
  (pgAdmin users do that) the bump fired first, found no change recorded, and left the
  transaction without an entry, its changes orphaned.
- An UPDATE that changes nothing bumps no revision (it records no change either), and a
  TRUNCATE of an empty table neither records nor bumps: each revision has its entry.
- Changes left without an entry by the first bug are deleted: nothing can show or prune them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("devices", "patchbay_points", "ports", "bays", "bay_channels", "cables", "cable_ends")

# Where 0008's bump starts its work; the new guards go right before it.
_ONCE = "        -- Once per transaction; the setting is transaction-local.\n"
_GUARDS = """\
        -- A row that an UPDATE left as it was, or a TRUNCATE that found the table empty (it
        -- recorded nothing, so drew no entry): nothing changed, no revision.
        IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'TRUNCATE' AND entry IS NULL THEN
            RETURN NULL;
        END IF;
"""

RECORD_TRUNCATE = """
    CREATE OR REPLACE FUNCTION record_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- history_entry() for each row: an empty table draws no entry.
        EXECUTE format(
            'INSERT INTO history_changes (entry_id, table_name, key, op, before, after) '
            'SELECT history_entry(), %L, history_key(to_jsonb(t), $1), ''delete'', '
            'to_jsonb(t), NULL FROM %I.%I AS t', TG_TABLE_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME)
        USING TG_ARGV;
        RETURN NULL;
    END
    $$
"""
RECORD_TRUNCATE_0008 = """
    CREATE OR REPLACE FUNCTION record_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE format(
            'INSERT INTO history_changes (entry_id, table_name, key, op, before, after) '
            'SELECT $1, %L, history_key(to_jsonb(t), $2), ''delete'', to_jsonb(t), NULL '
            'FROM %I.%I AS t', TG_TABLE_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME)
        USING history_entry(), TG_ARGV;
        RETURN NULL;
    END
    $$
"""


def _history_0008() -> ModuleType:
    """Migration 0008, whose bump function this one extends (and gives back on downgrade)."""
    path = Path(__file__).with_name("0008_history.py")
    spec = importlib.util.spec_from_file_location("pepper_migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bump_with_history() -> str:
    old: str = _history_0008().BUMP_WITH_HISTORY
    assert old.count(_ONCE) == 1, "0008's bump function is as this migration expects"
    return old.replace(_ONCE, _GUARDS + _ONCE)


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"ALTER TRIGGER {table}_bump_state_revision ON {table} "
            f"RENAME TO {table}_state_revision_bump"
        )
    op.execute(bump_with_history())
    op.execute(RECORD_TRUNCATE)
    op.execute(
        "DELETE FROM history_changes c "
        "WHERE NOT EXISTS (SELECT 1 FROM history_entries e WHERE e.id = c.entry_id)"
    )


def downgrade() -> None:
    op.execute(RECORD_TRUNCATE_0008)
    op.execute(_history_0008().BUMP_WITH_HISTORY)
    for table in TABLES:
        op.execute(
            f"ALTER TRIGGER {table}_state_revision_bump ON {table} "
            f"RENAME TO {table}_bump_state_revision"
        )
