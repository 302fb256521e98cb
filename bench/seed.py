"""The studios the benchmark loads: fresh databases, migrated by Alembic, filled by SQL.

  small, large      devices and loose points (no bays, no cables); the first ports hold points
  bays              42 bays x 48 channels, a point in each slot, 1,000 devices whose ports are
                    wired to those points, and 2,000 patch cables (BAY_LAYOUT below)
  bays-flat         the bays studio's devices, ports and points (same ids, names and wiring),
                    but loose: no bays, no channels, no cables

Later scenarios reuse a seeded studio: `prepare` it once and `clone` it into a database of
their own for each server that changes it (CREATE DATABASE ... TEMPLATE, a file copy, much
quicker than seeding again; the studio's database must have no open sessions meanwhile).

Also a command for seeding the database behind a server you run yourself (for BENCH_URL):

    python -m bench.seed postgresql://postgres@127.0.0.1:5432/pepper small
"""

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from app.core.config import Settings
from scripts.embedded_db import with_database

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BayLayout:
    """Bays of normalled channels, a point in each slot, ports wired to them, patch cables.

    Channel c (1..bays x channels, bay by bay) of bay b is channel n there; its top point has
    id 2c - 1 and is named "{bay name} {n}T", its bottom point id 2c and "{bay name} {n}B",
    the ids and names `POST /bays` with `create_points` gives when bays are created in order.
    Bay b is named "Bay A" .. "Bay Z", "Bay AA", ...

    Modes, by bay: the first ones half-normal (every 12th channel normal), then whole bays
    normal, parallel (mults) and thru (tie lines), see `mode_bays`.

    Wiring: with d = (c - 1) mod devices + 1 and k = (c - 1) div devices, the top jack holds
    device d's output port 1 + k and the bottom jack its input port 8 + k, as a studio wires
    outputs above the inputs they are normalled to. On every other channel of the thru bays
    the rows are swapped (the input on top), and on every 20th device's first channel the
    bottom holds its Other port 16 instead.

    Cables (ids 1..cables): cable i goes from the i-th top jack to the s-th bottom jack, with
    s = (7(i - 1) + 5) mod cables + 1, counting the jacks in id order and leaving out, in the
    first `unplugged` bays, the top of channel channels/2 - 1 and the bottom of channel
    channels/4 - 1 (half-normal channels: on the second the normal stays made). Every third
    cable has a label, every other one a color. `flat`: the same points and wiring, no bays,
    no channels, no cables.
    """

    bays: int
    channels: int  # per bay
    cables: int
    flat: bool = False

    @property
    def channel_count(self) -> int:
        return self.bays * self.channels

    @property
    def points(self) -> int:
        return 2 * self.channel_count

    @property
    def unplugged(self) -> int:
        """Jacks of each row that hold no plug."""
        return self.channel_count - self.cables

    def mode_bays(self) -> dict[str, int]:
        """How many bays of each mode, in the order they come."""
        parallel = thru = max(1, self.bays // 14)
        normal = max(1, self.bays // 10)
        return {
            "half-normal": self.bays - normal - parallel - thru,
            "normal": normal,
            "parallel": parallel,
            "thru": thru,
        }

    def check(self, devices: int, ports_per_device: int) -> None:
        # The wiring above needs ports 1..7 as outputs, 8..15 as inputs and 16, and at most
        # seven channels per device; the cables' permutation needs 7 prime to their count.
        assert ports_per_device == 16 and self.channel_count <= 7 * devices
        assert 0 <= self.unplugged <= self.bays and self.channels >= 8
        assert self.cables == 0 or math.gcd(7, self.cables) == 1

    def top_point(self, bay: int, channel: int) -> int:
        return 2 * ((bay - 1) * self.channels + channel) - 1

    def bottom_point(self, bay: int, channel: int) -> int:
        return self.top_point(bay, channel) + 1


@dataclass(frozen=True)
class Studio:
    name: str
    devices: int
    ports_per_device: int
    points: int
    linked_ports: int  # without a layout: the first ports in id order hold points 1..linked_ports
    layout: BayLayout | None = None  # points in bay slots, wired and patched as it says

    @property
    def ports(self) -> int:
        return self.devices * self.ports_per_device

    @property
    def database(self) -> str:
        return "pepper_bench_" + self.name.replace("-", "_")

    @property
    def bays(self) -> int:
        return 0 if self.layout is None or self.layout.flat else self.layout.bays

    @property
    def cables(self) -> int:
        return 0 if self.layout is None or self.layout.flat else self.layout.cables


# /state is about 27 kB of JSON for the small studio and 1.6 MB for the large one
# (descriptions and labels are there to give the rows a realistic width).
SMALL = Studio("small", devices=30, ports_per_device=8, points=96, linked_ports=96)
LARGE = Studio("large", devices=1000, ports_per_device=16, points=4000, linked_ports=4000)
BAY_LAYOUT = BayLayout(bays=42, channels=48, cables=2000)
BAYS = Studio(
    "bays",
    devices=1000,
    ports_per_device=16,
    points=BAY_LAYOUT.points,
    linked_ports=BAY_LAYOUT.points,  # every point holds a port
    layout=BAY_LAYOUT,
)
BAYS_FLAT = Studio(
    "bays-flat",
    devices=BAYS.devices,
    ports_per_device=BAYS.ports_per_device,
    points=BAYS.points,
    linked_ports=BAYS.linked_ports,
    layout=BayLayout(BAY_LAYOUT.bays, BAY_LAYOUT.channels, BAY_LAYOUT.cables, flat=True),
)
STUDIOS = {studio.name: studio for studio in (SMALL, LARGE, BAYS, BAYS_FLAT)}


def recreate_database(admin_url: str, name: str, template: str | None = None) -> str:
    """Drop and create database `name` (a copy of `template`, if given); return a URL for it."""
    drop_database(admin_url, name)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(create)
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


# --- small and large: loose points, the first ports wired ---------------------------------------
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

# --- bays and bays-flat (BayLayout) -------------------------------------------------------------
# Every channel of the layout: c counts them bay by bay, b is the bay, n the channel in it.
_CHANNELS = """
    SELECT c, (c - 1) / %(channels)s + 1 AS b, (c - 1) %% %(channels)s + 1 AS n
      FROM generate_series(1, %(layout_bays)s * %(channels)s) AS c
"""
# Bay b's name: Bay A .. Bay Z, Bay AA, Bay AB, ...
_BAY_NAME = """'Bay ' || CASE WHEN b <= 26 THEN chr(64 + b)
                        ELSE chr(64 + (b - 1) / 26) || chr(65 + (b - 1) %% 26) END"""

_BAYS = f"""
    INSERT INTO bays (id, name)
    SELECT b, {_BAY_NAME} FROM generate_series(1, %(layout_bays)s) AS b
"""

_BAY_CHANNELS = f"""
    INSERT INTO bay_channels (bay_id, number, mode)
    SELECT b, n, CASE
               WHEN b > %(layout_bays)s - %(thru)s THEN 'thru'
               WHEN b > %(layout_bays)s - %(thru)s - %(parallel)s THEN 'parallel'
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

# Devices of eight kinds in turn ("Synth 8", "Drum Machine 1", ...).
_BAY_DEVICES = """
    INSERT INTO devices (id, name, type, last_port_number)
    SELECT d, kind || ' ' || d, kind, %(ports_per_device)s
      FROM generate_series(1, %(devices)s) AS d,
           LATERAL (SELECT (ARRAY['Synth', 'Drum Machine', 'Effect', 'Compressor', 'Mixer',
                                  'Preamp', 'Interface', 'Sampler'])[d %% 8 + 1] AS kind) AS k
"""

# Ports 1-7 outputs (OUT n), 8-15 inputs (IN 1-8), 16 an Other port (SYNC) on every fourth
# device and an input (IN 9) on the others. `wired`: device d's port n holds `point` (see
# BayLayout). Sorted, so `position` follows device and number.
_BAY_PORTS = f"""
    WITH wiring AS (
        SELECT c, (c - 1) %% %(devices)s + 1 AS d, (c - 1) / %(devices)s AS k,
               b > %(layout_bays)s - %(thru)s AND n %% 2 = 0 AS swapped
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


def _jacks(row: str) -> str:
    """The jacks of a row ('top' or 'bottom') that take a plug, numbered `r` in id order."""
    point, channel = (
        ("2 * c - 1", "%(channels)s / 2 - 1") if row == "top" else ("2 * c", "%(channels)s / 4 - 1")
    )
    return f"""
        SELECT row_number() OVER (ORDER BY c) AS r, {point} AS point
          FROM ({_CHANNELS}) AS channel
         WHERE NOT (b <= %(unplugged)s AND n = {channel})
    """


# Cable i: end 1 in the i-th top jack, end 2 in the s-th bottom jack (a permutation of i).
_CABLE_ENDS = f"""
    INSERT INTO cable_ends (cable_id, end_number, point_id)
    SELECT i, 1, top.point
      FROM generate_series(1, %(cables)s) AS i JOIN ({_jacks("top")}) AS top ON top.r = i
    UNION ALL
    SELECT i, 2, bottom.point
      FROM generate_series(1, %(cables)s) AS i
      JOIN ({_jacks("bottom")}) AS bottom ON bottom.r = (7 * (i - 1) + 5) %% %(cables)s + 1
"""

# The ids above were given explicitly; move the serial sequences past them, so rows created
# through the API later do not collide with seeded ones.
_SEQUENCES = """
    SELECT setval(pg_get_serial_sequence('devices', 'id'), %(devices)s),
           setval(pg_get_serial_sequence('patchbay_points', 'id'), %(points)s),
           setval(pg_get_serial_sequence('bays', 'id'), greatest(%(bay_count)s, 1),
                  %(bay_count)s > 0),
           setval(pg_get_serial_sequence('cables', 'id'), greatest(%(cable_count)s, 1),
                  %(cable_count)s > 0)
"""


def _statements(studio: Studio) -> tuple[list[str], dict[str, Any]]:
    """The statements that seed `studio`, in order, and their parameters."""
    params: dict[str, Any] = {
        "devices": studio.devices,
        "ports_per_device": studio.ports_per_device,
        "points": studio.points,
        "linked_ports": studio.linked_ports,
        "bay_count": studio.bays,
        "cable_count": studio.cables,
    }
    layout = studio.layout
    if layout is None:
        return [_POINTS, _DEVICES, _PORTS, _SEQUENCES], params
    layout.check(studio.devices, studio.ports_per_device)
    modes = layout.mode_bays()
    params |= {
        # bays-flat is laid out and wired by the same figures, without the bays themselves.
        "layout_bays": layout.bays,
        "channels": layout.channels,
        "cables": layout.cables,
        "half_normal": modes["half-normal"],
        "parallel": modes["parallel"],
        "thru": modes["thru"],
        "unplugged": layout.unplugged,
        "in_bays": not layout.flat,
    }
    statements = [_BAY_POINTS, _BAY_DEVICES, _BAY_PORTS]
    if not layout.flat:
        statements = [_BAYS, _BAY_CHANNELS, *statements, _CABLES, _CABLE_ENDS]
    return [*statements, _SEQUENCES], params


def seed(database_url: str, studio: Studio) -> None:
    """Fill an empty, migrated database with `studio`."""
    statements, params = _statements(studio)
    with psycopg.connect(database_url) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM devices)").fetchone() != (False,):
            raise SystemExit("the database already has devices; seed an empty one")
        for statement in statements:
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


def clone(admin_url: str, studio: Studio, name: str) -> str:
    """A copy of `studio`'s prepared database, named `name`, for a scenario that changes it;
    returns its URL. Nothing may be connected to the studio's database meanwhile."""
    return recreate_database(admin_url, name, template=studio.database)


def main() -> None:
    parser = argparse.ArgumentParser(description="Migrate an empty database and seed a studio.")
    parser.add_argument("database_url", help="e.g. postgresql://postgres@127.0.0.1:5432/pepper")
    parser.add_argument("studio", choices=sorted(STUDIOS))
    args = parser.parse_args()
    migrate(args.database_url)
    seed(args.database_url, STUDIOS[args.studio])


if __name__ == "__main__":
    main()
