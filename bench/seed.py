"""The two studios the benchmark loads: fresh databases, migrated by Alembic, filled by SQL.

Also a command for seeding the database behind a server you run yourself (for BENCH_URL):

    python -m bench.seed postgresql://postgres@127.0.0.1:5432/pepper small
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from app.core.config import Settings
from scripts.embedded_db import with_database

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Studio:
    name: str
    devices: int
    ports_per_device: int
    points: int
    linked_ports: int  # the first ports in id order hold points 1..linked_ports

    @property
    def ports(self) -> int:
        return self.devices * self.ports_per_device

    @property
    def database(self) -> str:
        return f"pepper_bench_{self.name}"


# /state is about 27 kB of JSON for the small studio and 1.6 MB for the large one
# (descriptions and labels are there to give the rows a realistic width).
SMALL = Studio("small", devices=30, ports_per_device=8, points=96, linked_ports=96)
LARGE = Studio("large", devices=1000, ports_per_device=16, points=4000, linked_ports=4000)
STUDIOS = {studio.name: studio for studio in (SMALL, LARGE)}


def recreate_database(admin_url: str, name: str) -> str:
    """Drop and create database `name`; return a URL for it."""
    drop_database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    # FORCE ends sessions a crashed run may have left behind (PostgreSQL 13+).
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def migrate(database_url: str) -> None:
    """Bring the schema to head the way deployments do, through Alembic."""
    config = Config(str(ROOT / "alembic.ini"))
    # Alembic's env.py builds a SQLAlchemy engine: it needs the psycopg 3 driver named.
    config.attributes["database_url"] = Settings(database_url=database_url).database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


_POINTS = """
    INSERT INTO patchbay_points (id, name, description)
    SELECT n, 'A' || n, 'Row A, jack ' || n FROM generate_series(1, %(points)s) AS n
"""

_DEVICES = """
    INSERT INTO devices (id, name, type, last_port_number)
    SELECT d, 'Synth ' || d, 'Synth', %(ports_per_device)s
      FROM generate_series(1, %(devices)s) AS d
"""

# Sorted, so `position` (filled by its sequence per inserted row) follows device and number.
_PORTS = """
    INSERT INTO ports (id, device_id, label, type, patchbay_id)
    SELECT format('dev-%%s-port-%%s', d, n), d, kind || ' ' || n, kind::port_type,
           CASE WHEN g <= %(linked_ports)s THEN g END
      FROM generate_series(1, %(devices)s) AS d,
           generate_series(1, %(ports_per_device)s) AS n,
           LATERAL (SELECT (d - 1) * %(ports_per_device)s + n AS g,
                           CASE WHEN mod(n, 2) = 1 THEN 'Input' ELSE 'Output' END AS kind) AS port
     ORDER BY d, n
"""

# The ids above were given explicitly; move the serial sequences past them, so a device or
# point created through the API later does not collide with a seeded one.
_SEQUENCES = """
    SELECT setval(pg_get_serial_sequence('devices', 'id'), %(devices)s),
           setval(pg_get_serial_sequence('patchbay_points', 'id'), %(points)s)
"""


def seed(database_url: str, studio: Studio) -> None:
    """Fill an empty, migrated database with `studio`."""
    params = {
        "devices": studio.devices,
        "ports_per_device": studio.ports_per_device,
        "points": studio.points,
        "linked_ports": studio.linked_ports,
    }
    with psycopg.connect(database_url) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM devices)").fetchone() != (False,):
            raise SystemExit("the database already has devices; seed an empty one")
        for statement in (_POINTS, _DEVICES, _PORTS, _SEQUENCES):
            conn.execute(statement, params)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Done now rather than by autovacuum in the middle of a measured run, and so the
        # first scenario starts with fresh planner statistics and a set visibility map.
        conn.execute("VACUUM ANALYZE")


def prepare(admin_url: str, studio: Studio) -> str:
    """A fresh database holding `studio`; returns its URL."""
    url = recreate_database(admin_url, studio.database)
    migrate(url)
    seed(url, studio)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description="Migrate an empty database and seed a studio.")
    parser.add_argument("database_url", help="e.g. postgresql://postgres@127.0.0.1:5432/pepper")
    parser.add_argument("studio", choices=sorted(STUDIOS))
    args = parser.parse_args()
    migrate(args.database_url)
    seed(args.database_url, STUDIOS[args.studio])


if __name__ == "__main__":
    main()
