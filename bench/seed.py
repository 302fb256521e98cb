"""The databases the benchmark loads: studios seeded by SQL, copies of them, the earlier service's.

  small, large   loose points (no bays, no cables); the first ports hold them
  bays           42 bays x 48 channels, a point in each slot, 1,000 devices whose ports are wired
                 to those points, and 2,000 patch cables (BAY_LAYOUT)
  bays-flat      the bays studio's devices, ports and points (same ids, names and wiring), loose
  net            16 parallel bays x 24 channels, each channel cabled to the next: one net of 768
                 points, a port on each (NET)
  copies         of a studio, for what changes it (CREATE DATABASE ... TEMPLATE: a file copy)
  earlier        tests/fixtures/earlier_service_schema.sql holding the small studio's rows

The schema comes from the checkout under test: its Alembic migrates one template database,
which every Pepper database is a copy of. A command seeds the database of a server of your own:

    python -m bench.seed postgresql://postgres@127.0.0.1:5432/pepper small
"""

import argparse
import math
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from scripts.embedded_db import with_database

ROOT = Path(__file__).resolve().parent.parent
EARLIER_SCHEMA = ROOT / "tests" / "fixtures" / "earlier_service_schema.sql"


@dataclass(frozen=True)
class BayLayout:
    """Bays of normalled channels, a point in each slot, ports wired to them, patch cables.

    Channel c (1..bays x channels, bay by bay) of bay b is channel n there; its top point has
    id 2c - 1 and is named "{bay name} {n}T", its bottom point id 2c and "{bay name} {n}B", as
    `POST /bays` with `create_points` names them. Bays are "Bay A" .. "Bay Z", "Bay AA", ...
    Modes by bay (`mode_bays`): half-normal (every 12th channel normal), normal, parallel, thru.

    Wiring: with d = (c - 1) mod devices + 1 and k = (c - 1) div devices, the top jack holds
    device d's output port 1 + k and the bottom jack its input port 8 + k; swapped on every
    other channel of the thru bays; every 20th device's first bottom jack holds its port 16.

    Cable i (1..cables) goes from the i-th top jack to the s-th bottom jack, s = (7(i - 1) + 5)
    mod cables + 1, counting jacks in id order without, in the first `unplugged` bays, the top of
    channel channels/2 - 1 and the bottom of channel channels/4 - 1 (`free_jacks` of bay A).
    Every third cable has a label, every other one a color. `flat`: the same points and wiring,
    no bays, no cables. `chain`: every bay parallel, cable i from the bottom of channel i to the
    top of channel i + 1, all the points one net.
    """

    bays: int
    channels: int  # per bay
    cables: int
    flat: bool = False
    chain: bool = False

    @property
    def channel_count(self) -> int:
        return self.bays * self.channels

    @property
    def unplugged(self) -> int:
        return self.channel_count - self.cables

    def free_jacks(self) -> tuple[int, int]:
        """A top and a bottom jack of bay A that hold no plug."""
        return self.channels - 3, self.channels // 2 - 2

    def mode_bays(self) -> dict[str, int]:
        if self.chain:
            return {"half_normal": 0, "parallel": self.bays, "thru": 0}
        parallel = thru = max(1, self.bays // 14)
        half_normal = self.bays - max(1, self.bays // 10) - parallel - thru
        return {"half_normal": half_normal, "parallel": parallel, "thru": thru}


@dataclass(frozen=True)
class Studio:
    name: str
    devices: int
    ports_per_device: int
    points: int
    layout: BayLayout | None = None  # without one, ports 1..points in id order hold the points


# Descriptions and labels give the rows a realistic width: /state is about 27 kB for the small
# studio, 1.6 MB for the large one.
SMALL = Studio("small", devices=30, ports_per_device=8, points=96)
LARGE = Studio("large", devices=1000, ports_per_device=16, points=4000)
BAY_LAYOUT = BayLayout(bays=42, channels=48, cables=2000)
BAYS = Studio("bays", 1000, 16, 2 * BAY_LAYOUT.channel_count, BAY_LAYOUT)
BAYS_FLAT = replace(BAYS, name="bays-flat", layout=replace(BAY_LAYOUT, flat=True))
# 16 bays x 24 channels chained by 383 cables: one net of 768 points, a port on each.
NET = Studio("net", 64, 16, 768, BayLayout(bays=16, channels=24, cables=383, chain=True))
STUDIOS = {studio.name: studio for studio in (SMALL, LARGE, BAYS, BAYS_FLAT, NET)}
# Each other database, and the one it is made from (made first).
MADE_FROM = {
    "small-no-history": "small",
    "bays-scenes": "bays",
    "bays-export": "bays",
    "empty": "template",
    "empty-json": "template",
    "empty-csv": "template",
    "earlier": "small",
}


def database_name(name: str) -> str:
    return "pepper_bench_" + name.replace("-", "_")


_POINTS = """
    INSERT INTO patchbay_points (id, name, description)
    SELECT n, 'A' || n, 'Row A, jack ' || n FROM generate_series(1, %(points)s) AS n
"""
_DEVICES = """
    INSERT INTO devices (id, name, type, last_port_number)
    SELECT d, 'Synth ' || d, 'Synth', %(ports_per_device)s FROM generate_series(1, %(devices)s) AS d
"""
# Sorted, so `position` (from its sequence, per inserted row) follows device and number.
_PORTS = """
    INSERT INTO ports (id, device_id, label, type, patchbay_id)
    SELECT format('dev-%%s-port-%%s', d, n), d, kind || ' ' || n, kind::port_type,
           CASE WHEN g <= %(points)s THEN g END
      FROM generate_series(1, %(devices)s) AS d,
           generate_series(1, %(ports_per_device)s) AS n,
           LATERAL (SELECT (d - 1) * %(ports_per_device)s + n AS g,
                           CASE WHEN mod(n, 2) = 1 THEN 'Input' ELSE 'Output' END AS kind) AS port
     ORDER BY d, n
"""
# Every channel of the layout: c counts them bay by bay, b is the bay, n the channel in it.
_CHANNELS = """
    SELECT c, (c - 1) / %(channels)s + 1 AS b, (c - 1) %% %(channels)s + 1 AS n
      FROM generate_series(1, %(bays)s * %(channels)s) AS c
"""
_BAY_NAME = """'Bay ' || CASE WHEN b <= 26 THEN chr(64 + b)
                        ELSE chr(64 + (b - 1) / 26) || chr(65 + (b - 1) %% 26) END"""
_BAYS = f"""
    INSERT INTO bays (id, name)
    SELECT b, {_BAY_NAME} FROM generate_series(1, %(bays)s) AS b
"""
_BAY_CHANNELS = f"""
    INSERT INTO bay_channels (bay_id, number, mode)
    SELECT b, n, CASE
               WHEN b > %(bays)s - %(thru)s THEN 'thru'
               WHEN b > %(bays)s - %(thru)s - %(parallel)s THEN 'parallel'
               WHEN b > %(half_normal)s THEN 'normal'
               WHEN n %% 12 = 0 THEN 'normal'
               ELSE 'half-normal'
           END::normalling_mode
      FROM ({_CHANNELS}) AS channel
"""
# Top then bottom, channel by channel: the ids and names POST /bays gives.
_BAY_POINTS = f"""
    INSERT INTO patchbay_points (id, name, bay_id, bay_channel, bay_row)
    SELECT 2 * c - jack.before, {_BAY_NAME} || ' ' || n || jack.suffix,
           CASE WHEN %(in_bays)s THEN b END, CASE WHEN %(in_bays)s THEN n END,
           CASE WHEN %(in_bays)s THEN jack.row END
      FROM ({_CHANNELS}) AS channel,
           (VALUES (1, 'top', 'T'), (0, 'bottom', 'B')) AS jack(before, row, suffix)
     ORDER BY c, jack.before DESC
"""
_BAY_DEVICES = """
    INSERT INTO devices (id, name, type, last_port_number)
    SELECT d, kind || ' ' || d, kind, %(ports_per_device)s
      FROM generate_series(1, %(devices)s) AS d,
           LATERAL (SELECT (ARRAY['Synth', 'Drum Machine', 'Effect', 'Compressor', 'Mixer',
                                  'Preamp', 'Interface', 'Sampler'])[d %% 8 + 1] AS kind) AS k
"""
# Ports 1-7 outputs, 8-15 inputs, 16 an Other port (SYNC) on every fourth device and an input
# on the others; `wired`: device d's port n holds `point` (see BayLayout).
_BAY_PORTS = f"""
    WITH wiring AS (
        SELECT c, (c - 1) %% %(devices)s + 1 AS d, (c - 1) / %(devices)s AS k,
               b > %(bays)s - %(thru)s AND n %% 2 = 0 AS swapped
          FROM ({_CHANNELS}) AS channel
    ), wired AS (
        SELECT d, CASE WHEN swapped THEN 8 + k ELSE 1 + k END AS n, 2 * c - 1 AS point
          FROM wiring
        UNION ALL
        SELECT d, CASE WHEN swapped THEN 1 + k WHEN k = 0 AND d %% 20 = 0 THEN 16 ELSE 8 + k END,
               2 * c
          FROM wiring
    )
    INSERT INTO ports (id, device_id, label, type, patchbay_id)
    SELECT format('dev-%%s-port-%%s', d, n), d, port.label, port.kind::port_type, wired.point
      FROM generate_series(1, %(devices)s) AS d
     CROSS JOIN generate_series(1, %(ports_per_device)s) AS n
     CROSS JOIN LATERAL (
           SELECT CASE WHEN n <= 7 THEN 'Output' WHEN n = 16 AND d %% 4 = 0 THEN 'Other'
                       ELSE 'Input' END AS kind,
                  CASE WHEN n <= 7 THEN 'OUT ' || n WHEN n = 16 AND d %% 4 = 0 THEN 'SYNC'
                       ELSE 'IN ' || n - 7 END AS label) AS port
      LEFT JOIN wired USING (d, n)
     ORDER BY d, n
"""
_CABLES = """
    INSERT INTO cables (id, label, color)
    SELECT i, CASE WHEN i %% 3 = 0 THEN 'Patch ' || i ELSE '' END,
           CASE WHEN i %% 2 = 0
                THEN (ARRAY['red', 'blue', 'green', 'yellow', 'white'])[i / 2 %% 5 + 1] END
      FROM generate_series(1, %(cables)s) AS i
"""
# The jacks of a row that take a plug, numbered r in id order.
_JACKS = f"""
    SELECT row_number() OVER (ORDER BY c) AS r, {{point}} AS point FROM ({_CHANNELS}) AS channel
     WHERE NOT (b <= %(unplugged)s AND n = %(channels)s / {{every}} - 1)
"""
_CABLE_ENDS = f"""
    INSERT INTO cable_ends (cable_id, end_number, point_id)
    SELECT i, 1, top.point FROM generate_series(1, %(cables)s) AS i
      JOIN ({_JACKS.format(point="2 * c - 1", every=2)}) AS top ON top.r = i
    UNION ALL
    SELECT i, 2, bottom.point FROM generate_series(1, %(cables)s) AS i
      JOIN ({_JACKS.format(point="2 * c", every=4)}) AS bottom
        ON bottom.r = (7 * (i - 1) + 5) %% %(cables)s + 1
"""
_CHAIN_ENDS = """
    INSERT INTO cable_ends (cable_id, end_number, point_id)
    SELECT i, e, 2 * i + e - 1 FROM generate_series(1, %(cables)s) AS i, (VALUES (1), (2)) AS e(e)
"""


def seed(database_url: str, studio: Studio) -> None:
    """Fill an empty, migrated database with `studio`."""
    layout = studio.layout
    patched = layout is not None and not layout.flat
    params: dict[str, Any] = vars(studio)
    statements = [_POINTS, _DEVICES, _PORTS]
    if layout is not None:
        # The wiring needs ports 1..16 and at most 7 channels a device; the cables' permutation
        # needs 7 prime to their count.
        assert studio.ports_per_device == 16 and layout.channel_count <= 7 * studio.devices
        assert layout.chain or 0 <= layout.unplugged <= layout.bays
        assert layout.unplugged == 1 if layout.chain else math.gcd(7, layout.cables) == 1
        params |= vars(layout) | layout.mode_bays() | {"unplugged": layout.unplugged}
        params |= {"in_bays": patched}
        statements = [_BAY_POINTS, _BAY_DEVICES, _BAY_PORTS]
        if patched:
            ends = _CHAIN_ENDS if layout.chain else _CABLE_ENDS
            statements = [_BAYS, _BAY_CHANNELS, *statements, _CABLES, ends]
    with psycopg.connect(database_url) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM devices)").fetchone() != (False,):
            raise SystemExit("the database already has devices; seed an empty one")
        for statement in statements:
            conn.execute(statement, params)
        ids_past(conn, "devices", "patchbay_points", "bays", "cables")
    vacuum(database_url)


def ids_past(conn: psycopg.Connection[Any], *tables: str) -> None:
    """Each table's id sequence past the ids given, so that rows created through the API do not
    collide with them."""
    for table in tables:
        sequence = f"pg_get_serial_sequence('{table}', 'id')"
        conn.execute(
            f"SELECT setval({sequence}, coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
        )


def vacuum(database_url: str) -> None:
    # Now rather than by autovacuum in a measured run; fresh statistics, a set visibility map.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def migrate(database_url: str, app_dir: Path) -> None:
    """`alembic upgrade head` of the checkout under test, as deployments run it."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(app_dir)}
    command = [sys.executable, "-m", "alembic", "upgrade", "head"]
    done = subprocess.run(
        command, cwd=app_dir, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"alembic upgrade head failed in {app_dir}:\n{done.stderr[-3000:]}")


def create(admin_url: str, name: str, template: str | None = None) -> str:
    """Database `name` made anew (a copy of database `template`, if given); its URL."""
    drop(admin_url, name)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(name)))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(database_name(template)))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement)
    return with_database(admin_url, database_name(name))


def drop(admin_url: str, name: str) -> None:
    # FORCE ends sessions a crashed run may have left behind (PostgreSQL 13+).
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement.format(sql.Identifier(database_name(name))))


def make(admin_url: str, name: str, app_dir: Path) -> str:
    """Database `name` ("template", a studio or a key of MADE_FROM; what it is made from must
    exist, with no one connected to it); its URL."""
    if name == "template":
        url = create(admin_url, name)
        migrate(url, app_dir)
    elif name == "earlier":
        url = create(admin_url, name)
        with psycopg.connect(url) as conn:
            conn.execute(EARLIER_SCHEMA.read_text())
        copy_small(with_database(admin_url, database_name("small")), url)
    else:
        url = create(admin_url, name, template=MADE_FROM.get(name, "template"))
        if name in STUDIOS:
            seed(url, STUDIOS[name])
        elif name == "small-no-history":
            disable_history(url)
    return url


def copy_small(source_url: str, url: str) -> None:
    """The small studio's points, devices and ports, ids and wiring kept, into the earlier
    service's schema (which has fewer columns)."""
    columns = {
        "patchbay_points": "id, name, description, type",
        "devices": "id, name, type",
        "ports": "id, device_id, label, type, patchbay_id",
    }
    with psycopg.connect(source_url) as source, psycopg.connect(url) as target:
        for table, listed in columns.items():
            with (
                source.cursor().copy(f"COPY (SELECT {listed} FROM {table}) TO STDOUT") as out,
                target.cursor().copy(f"COPY {table} ({listed}) FROM STDIN") as into,
            ):
                for data in out:
                    into.write(data)
        ids_past(target, "patchbay_points", "devices")
    vacuum(url)


def disable_history(database_url: str) -> None:
    """Turn off every `<table>_record_history` trigger (migration 0008): no changed rows are
    recorded, no entries written; the revision still moves and events still go out."""
    triggers = r"""
        SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE NOT t.tgisinternal AND t.tgname LIKE '%\_record\_history'"""
    with psycopg.connect(database_url) as conn:
        found = conn.execute(triggers).fetchall()
        for table, trigger in found:
            statement = sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}")
            conn.execute(statement.format(sql.Identifier(table), sql.Identifier(trigger)))
    if not found:
        raise RuntimeError("no *_record_history triggers found: has the schema changed?")


# What makes scene B of the bays studio (see change_patch).
_CABLES_OUT = """
    DELETE FROM cables k USING cable_ends a, cable_ends b
     WHERE k.id %% %(every)s = 0
       AND a.cable_id = k.id AND a.end_number = 1 AND b.cable_id = k.id AND b.end_number = 2
    RETURNING k.id, a.point_id, b.point_id
"""
_CABLES_IN = """
    WITH made AS (
        INSERT INTO cables (label)
        SELECT 'Moved ' || n FROM generate_series(1, cardinality(%(a)s::integer[])) AS n
        RETURNING id
    ), numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM made)
    INSERT INTO cable_ends (cable_id, end_number, point_id)
    SELECT id, e, CASE e WHEN 1 THEN (%(a)s::integer[])[n] ELSE (%(b)s::integer[])[n] END
      FROM numbered, (VALUES (1), (2)) AS ends(e)
"""
# The ports on the top jacks of channels 1-250 (points 1, 3 .. 499) and 251-500 (501 .. 999).
_SWAPS = """
    SELECT id, patchbay_id + CASE WHEN patchbay_id < 500 THEN 500 ELSE -500 END FROM ports
     WHERE mod(patchbay_id, 2) = 1 AND patchbay_id < 1000
"""
_PORTS_TO = """
    UPDATE ports p SET patchbay_id = m.point
      FROM unnest(%(ids)s::text[], %(points)s::integer[]) AS m(id, point) WHERE p.id = m.id
"""


def change_patch(database_url: str) -> None:
    """In one transaction, as someone in pgAdmin would, on the bays studio: every 8th cable
    (250) unplugged and the freed jacks plugged again crosswise (the k-th top to the (k+1)-th
    bottom: 250 new cables); the ports on the top jacks of channels 1-250 swap points with those
    of channels 251-500. A patch sheet back is 1,500 steps: 250 + 250 cables, 500 + 500 links."""
    with psycopg.connect(database_url) as conn:
        out = sorted(conn.execute(_CABLES_OUT, {"every": 8}).fetchall())
        bottoms = [row[2] for row in out[1:] + out[:1]]
        conn.execute(_CABLES_IN, {"a": [row[1] for row in out], "b": bottoms})
        ids, points = zip(*conn.execute(_SWAPS).fetchall(), strict=True)
        # A point holds one port: all are freed before any is taken.
        conn.execute("UPDATE ports SET patchbay_id = NULL WHERE id = ANY(%s)", [list(ids)])
        conn.execute(_PORTS_TO, {"ids": list(ids), "points": list(points)})


def main() -> None:
    parser = argparse.ArgumentParser(description="Migrate an empty database and seed a studio.")
    parser.add_argument("database_url", help="e.g. postgresql://postgres@127.0.0.1:5432/pepper")
    parser.add_argument("studio", choices=sorted(STUDIOS))
    args = parser.parse_args()
    migrate(args.database_url, ROOT)
    seed(args.database_url, STUDIOS[args.studio])


if __name__ == "__main__":
    main()
