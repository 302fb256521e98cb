"""Alembic owns the schema: models agree with it, it round-trips, and replicas can race it."""

import os
import subprocess
import sys
from collections.abc import Callable

import psycopg
from alembic import command
from sqlalchemy import create_engine, inspect, text

from tests.conftest import ROOT, alembic_config, sqlalchemy_url
from tests.helpers import current_revision, head

SEED_TABLES = {"devices", "patchbay_points", "ports"}


def test_models_and_migrations_agree(server_url: str, database_url: str) -> None:
    # Raises if autogenerate would find anything to add, drop or change.
    command.check(alembic_config(server_url))


def test_downgrade_and_upgrade_round_trip(scratch_database: Callable[[str], str]) -> None:
    url = scratch_database("roundtrip")
    config = alembic_config(url)
    command.upgrade(config, "head")
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        before = {t: inspect(conn).get_columns(t) for t in SEED_TABLES}
    command.downgrade(config, "base")
    with engine.connect() as conn:
        assert SEED_TABLES.isdisjoint(inspect(conn).get_table_names())
        assert conn.scalar(text("SELECT count(*) FROM pg_type WHERE typname = 'port_type'")) == 0
    command.upgrade(config, "head")
    with engine.connect() as conn:
        after = {t: inspect(conn).get_columns(t) for t in SEED_TABLES}
    engine.dispose()
    assert repr(before) == repr(after)
    assert current_revision(url) == head()


def test_first_revision_is_the_seed_schema(scratch_database: Callable[[str], str]) -> None:
    url = scratch_database("seed")
    command.upgrade(alembic_config(url), "001_create_schema")
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        inspector = inspect(conn)
        columns = {t: [c["name"] for c in inspector.get_columns(t)] for t in SEED_TABLES}
        unique = inspector.get_unique_constraints("ports")
        enums = inspector.get_enums()
    engine.dispose()
    assert columns == {
        "devices": ["id", "name", "type", "created_at"],
        "patchbay_points": ["id", "name", "description", "type", "created_at"],
        "ports": ["id", "device_id", "label", "type", "patchbay_id", "created_at"],
    }
    assert [(u["name"], u["column_names"]) for u in unique] == [
        ("uq_ports_patchbay_id", ["patchbay_id"])
    ]
    assert [(e["name"], e["labels"]) for e in enums] == [
        ("port_type", ["Input", "Output", "Other"])
    ]


def test_upgrading_an_existing_studio_keeps_port_order(
    scratch_database: Callable[[str], str],
) -> None:
    """A database of the earlier service: ports in id-string order must come out numbered."""
    url = scratch_database("legacy")
    command.upgrade(alembic_config(url), "001_create_schema")
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO devices (id, name, type) VALUES (5, 'Mixer', 'Mixer')")
        for n in (10, 2, 1, 12, 11, 3):  # inserted out of order, all in one transaction
            conn.execute(
                "INSERT INTO ports (id, device_id, label, type) VALUES (%s, 5, %s, 'Input')",
                (f"dev-5-port-{n}", f"Ch {n}"),
            )
    command.upgrade(alembic_config(url), "head")
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM ports ORDER BY device_id, position")]
        last = conn.execute("SELECT last_port_number FROM devices").fetchone()
        conn.execute("INSERT INTO ports (id, device_id, label, type) VALUES ('x', 5, 'x', 'Other')")
        newest = conn.execute("SELECT id FROM ports ORDER BY position DESC LIMIT 1").fetchone()
    assert ids == [f"dev-5-port-{n}" for n in (1, 2, 3, 10, 11, 12)]
    assert last == (12,)
    assert newest == ("x",)


def test_replicas_migrating_at_once_all_succeed(scratch_database: Callable[[str], str]) -> None:
    url = scratch_database("race")
    env = {**os.environ, "DATABASE_URL": url}
    upgrades = [
        subprocess.Popen(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0].decode() for process in upgrades]
    assert [process.returncode for process in upgrades] == [0, 0, 0], outputs
    assert sum("Running upgrade  -> 001_create_schema" in output for output in outputs) == 1
    assert current_revision(url) == head()
    with psycopg.connect(url) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert tables >= SEED_TABLES
