"""History (SPEC D5): every committed change to the studio, recorded by PostgreSQL.

- Row triggers on every table of the studio write each change to `history_changes` (the row
  before and after, as JSON), under an entry id the transaction draws once, whoever writes:
  the API or someone in pgAdmin. A TRUNCATE is recorded as the deletion of every row.
- At COMMIT, `bump_state_revision` (0003), which gives the transaction its revision, also
  writes the `history_entries` row: the revision, the time, where the change came from (`api`
  when the request set `pepper.request_id` for the transaction, else `sql`), the API key's
  name, what the transaction reverts (if it does), and the names of everything its changes
  refer to as they were then, so an entry can name things deleted since.
- A rolled-back transaction leaves nothing: its changes go with it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table of the studio and the columns of its primary key.
KEYS = {
    "devices": ("id",),
    "patchbay_points": ("id",),
    "ports": ("id",),
    "bays": ("id",),
    "bay_channels": ("bay_id", "number"),
    "cables": ("id",),
    "cable_ends": ("cable_id", "end_number"),
}

# At COMMIT: the names, as of then, of everything the entry's changes refer to; then the revision
# (the row every writer waits on, so it is held for as little as possible) and the entry.
# Each statement runs on a generic plan: planning them anew at every commit would cost more than
# running them. (That needs `history_changes.entry_id`'s statistics to say an entry has few
# changes, whatever the one import with 50,000 of them says: see upgrade.)
BUMP_WITH_HISTORY = """
    CREATE OR REPLACE FUNCTION bump_state_revision() RETURNS trigger LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan AS $$
    DECLARE
        new_revision bigint;
        entry bigint := nullif(current_setting('pepper.history_entry', true), '')::bigint;
        request text := nullif(current_setting('pepper.request_id', true), '');
        point_ids integer[];
        device_ids integer[];
        port_ids text[];
        bay_ids integer[];
        cable_ids integer[];
        whole_cables integer[];  -- cables changed themselves, whose ends may not have
        names jsonb;
    BEGIN
        -- Once per transaction; the setting is transaction-local.
        IF current_setting('pepper.state_revision_bumped', true) = 'yes' THEN
            RETURN NULL;
        END IF;
        PERFORM set_config('pepper.state_revision_bumped', 'yes', true);
        IF entry IS NOT NULL THEN
            -- One pass over the entry's row images (an empty set of ids is NULL).
            SELECT array_agg((image->>'id')::integer) FILTER (WHERE table_name = 'patchbay_points')
                   || array_agg((image->>'patchbay_id')::integer) FILTER (WHERE table_name = 'ports')
                   || array_agg((image->>'point_id')::integer)
                          FILTER (WHERE table_name = 'cable_ends'),
                   array_agg((image->>'id')::integer) FILTER (WHERE table_name = 'devices')
                   || array_agg((image->>'device_id')::integer) FILTER (WHERE table_name = 'ports'),
                   array_agg(image->>'id') FILTER (WHERE table_name = 'ports'),
                   array_agg((image->>'id')::integer) FILTER (WHERE table_name = 'bays')
                   || array_agg((image->>'bay_id')::integer)
                          FILTER (WHERE table_name IN ('bay_channels', 'patchbay_points')),
                   array_agg((image->>'cable_id')::integer) FILTER (WHERE table_name = 'cable_ends'),
                   array_agg((image->>'id')::integer) FILTER (WHERE table_name = 'cables')
              INTO point_ids, device_ids, port_ids, bay_ids, cable_ids, whole_cables
              FROM history_changes c, LATERAL (VALUES (c.before), (c.after)) AS v(image)
             WHERE c.entry_id = entry AND image IS NOT NULL;
            IF whole_cables IS NOT NULL THEN
                point_ids := point_ids || ARRAY(SELECT e.point_id FROM cable_ends e
                                                  WHERE e.cable_id = ANY(whole_cables));
                cable_ids := cable_ids || whole_cables;
            END IF;
            names := jsonb_build_object(
                'points', (SELECT coalesce(jsonb_object_agg(pp.id, pp.name), '{}')
                             FROM patchbay_points pp WHERE pp.id = ANY(point_ids)),
                'devices', (SELECT coalesce(jsonb_object_agg(d.id, d.name), '{}')
                              FROM devices d WHERE d.id = ANY(device_ids)),
                'ports', (SELECT coalesce(jsonb_object_agg(p.id, jsonb_build_array(d.name, p.label)),
                                          '{}')
                            FROM ports p JOIN devices d ON d.id = p.device_id
                           WHERE p.id = ANY(port_ids)),
                'bays', (SELECT coalesce(jsonb_object_agg(b.id, b.name), '{}')
                           FROM bays b WHERE b.id = ANY(bay_ids)),
                'cables', (SELECT coalesce(jsonb_object_agg(k.cable_id, k.points), '{}')
                             FROM (SELECT e.cable_id,
                                          jsonb_agg(e.point_id ORDER BY e.end_number) AS points
                                     FROM cable_ends e WHERE e.cable_id = ANY(cable_ids)
                                    GROUP BY e.cable_id) AS k));
        END IF;
        UPDATE state_revision SET revision = revision + 1 RETURNING revision INTO new_revision;
        PERFORM pg_notify('pepper_state', new_revision::text);
        IF entry IS NOT NULL THEN
            INSERT INTO history_entries (id, revision, at, source, request_id, actor, reverts, names)
            VALUES (entry, new_revision, clock_timestamp(),
                    CASE WHEN request IS NULL THEN 'sql' ELSE 'api' END, request,
                    nullif(current_setting('pepper.actor', true), ''),
                    nullif(current_setting('pepper.reverts', true), '')::bigint, names);
        END IF;
        RETURN NULL;
    END
    $$
"""

BUMP_WITHOUT_HISTORY = """
    CREATE OR REPLACE FUNCTION bump_state_revision() RETURNS trigger LANGUAGE plpgsql AS $$
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


def upgrade() -> None:
    op.execute("CREATE SEQUENCE history_entry_seq AS bigint")
    op.create_table(
        "history_entries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("reverts", sa.BigInteger(), nullable=True),
        sa.Column("names", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="history_entries_pkey"),
        sa.UniqueConstraint("revision", name="uq_history_entries_revision"),
        sa.CheckConstraint("source IN ('api', 'sql')", name=op.f("ck_history_entries_source")),
    )
    op.create_index("ix_history_entries_at", "history_entries", ["at"])
    op.create_table(
        "history_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("key", postgresql.JSONB(), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="history_changes_pkey"),
        sa.CheckConstraint(
            "op IN ('insert', 'update', 'delete')", name=op.f("ck_history_changes_op")
        ),
    )
    # No foreign key to the entry: the changes are written before their entry (at COMMIT).
    op.create_index("ix_history_changes_entry_id", "history_changes", ["entry_id", "id"])
    # Most entries have a change or two; one import or TRUNCATE can have 50,000, and a sample
    # that finds nothing else would make the planner expect that many for every entry.
    op.execute("ALTER TABLE history_changes ALTER COLUMN entry_id SET (n_distinct = -0.5)")
    op.execute(
        """
        CREATE FUNCTION history_entry() RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE
            entry bigint := nullif(current_setting('pepper.history_entry', true), '')::bigint;
        BEGIN
            IF entry IS NULL THEN
                entry := nextval('history_entry_seq');
                PERFORM set_config('pepper.history_entry', entry::text, true);
            END IF;
            RETURN entry;
        END
        $$
        """
    )
    op.execute(
        """
        -- The primary key of a row image: its value, or an object of its columns. (TG_ARGV, which
        -- the triggers pass as `columns`, counts from 0.)
        CREATE FUNCTION history_key(image jsonb, columns text[]) RETURNS jsonb
        LANGUAGE sql IMMUTABLE AS $$
            SELECT CASE WHEN cardinality(columns) = 1 THEN image -> columns[array_lower(columns, 1)]
                        ELSE (SELECT jsonb_object_agg(c, image -> c) FROM unnest(columns) AS c)
                   END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION record_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            before jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
            after jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
        BEGIN
            IF before IS NOT DISTINCT FROM after THEN
                RETURN NULL;  -- an UPDATE that changed nothing
            END IF;
            -- A one-column key inline: calling history_key() costs more than the rest.
            INSERT INTO history_changes (entry_id, table_name, key, op, before, after)
            VALUES (history_entry(), TG_TABLE_NAME,
                    CASE WHEN TG_NARGS = 1 THEN coalesce(after, before) -> TG_ARGV[0]
                         ELSE history_key(coalesce(after, before), TG_ARGV) END,
                    lower(TG_OP), before, after);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION record_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
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
    )
    for table, key in KEYS.items():
        arguments = ", ".join(f"'{column}'" for column in key)
        op.execute(
            f"CREATE TRIGGER {table}_record_history AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION record_change({arguments})"
        )
        op.execute(
            f"CREATE TRIGGER {table}_record_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION record_truncate({arguments})"
        )
    op.execute(BUMP_WITH_HISTORY)


def downgrade() -> None:
    op.execute(BUMP_WITHOUT_HISTORY)
    for table in KEYS:
        op.execute(f"DROP TRIGGER {table}_record_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_record_history ON {table}")
    op.execute("DROP FUNCTION record_truncate()")
    op.execute("DROP FUNCTION record_change()")
    op.execute("DROP FUNCTION history_key(jsonb, text[])")
    op.execute("DROP FUNCTION history_entry()")
    op.drop_table("history_changes")
    op.drop_table("history_entries")
    op.execute("DROP SEQUENCE history_entry_seq")
