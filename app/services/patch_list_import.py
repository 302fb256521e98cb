"""Importing a patch list (SPEC D6): build what the rows name and the studio lacks.

How rows are matched to what exists: app/services/patch_list_plan.py.

The import plans first, from the studio as one statement reads it: every check (a 422 naming
row and column), what to create (under provisional keys) and what changes. A dry run stops
there and writes nothing. Planning rather than inserting and rolling back, because sequences do
not roll back (SPEC G: a dry run consumes no ids), and because a dry run, the default, then
costs the rows' checking and not the writes. The real run takes the studio's tables (reads go
on, writes wait) before it reads, and writes the plan in a few statements per kind of thing,
whatever the number of rows. Both answer the plan: what is (or would be) created, and what
changes: channel modes, cable labels, ports that lose their point to another (`unlinked`), and
ports that move from one point to another (`moved`: the point each leaves, and `to`).
"""

import json
from collections import Counter
from typing import Any

import sqlalchemy.exc
from sqlalchemy import (
    Connection,
    text,
)

from app.core.errors import (
    Invalid,
    constraint_error,
    violated,
)
from app.schemas.patchbay_point import PointCreate
from app.services import bays, cables, devices, patchbay_points
from app.services.locks import lock_studio, relink
from app.services.patch_list import NUMBERED_DEVICES, Row
from app.services.patch_list_plan import NEW, Made, Plan

# The studio by name, as the import finds it, and the highest port number each device gave out
# or holds (an id `dev-{id}-port-{n}` typed in by hand, whichever device has it): a new port goes
# on from there (SQL text: PostgreSQL builds it as JSON).
_SNAPSHOT = text(f"""
    WITH typed AS (  -- port numbers typed in by hand, as `devices.add_ports` counts them
        SELECT substring(id FROM '^dev-([0-9]+)-port-') AS device,
               max(substring(id FROM '-port-([0-9]{{1,9}})$')::integer) AS number
          FROM ports WHERE id LIKE 'dev-%-port-%' GROUP BY 1
    )
    SELECT json_build_object(
        'bays', (SELECT coalesce(json_object_agg(b.name, json_build_array(b.id,
                    array(SELECT number FROM bay_channels c WHERE c.bay_id = b.id))), '{{}}')
                   FROM (SELECT DISTINCT ON (name) * FROM bays ORDER BY name, id) AS b),
        'modes', (SELECT coalesce(json_agg(json_build_array(c.bay_id, c.number, c.mode)), '[]')
                    FROM bay_channels c),
        'points', (SELECT coalesce(json_agg(json_build_array(pp.id, pp.name, pp.bay_id,
                      pp.bay_channel, pp.bay_row) ORDER BY pp.id), '[]') FROM patchbay_points pp),
        'devices', (SELECT coalesce(json_agg(json_build_array(d.id, d.name, d.number,
                       greatest(d.last_port_number, typed.number))), '[]')
                      FROM {NUMBERED_DEVICES} d
                      LEFT JOIN typed ON typed.device = d.id::text),
        'ports', (SELECT coalesce(json_agg(json_build_array(p.id, p.device_id, p.label,
                     p.patchbay_id) ORDER BY p.position), '[]') FROM ports p),
        'cables', (SELECT coalesce(json_agg(json_build_array(a.point_id, b.point_id, k.id,
                      k.label, k.color)), '[]')
                     FROM cables k
                     JOIN cable_ends a ON a.cable_id = k.id AND a.end_number = 1
                     JOIN cable_ends b ON b.cable_id = k.id AND b.end_number = 2)
    )::text
""")
# --- Writing the plan ----------------------------------------------------------------------------
# Bays, channels, devices and ports in one statement each, for any number (one at a time,
# through `bays.create_bay` and `devices.create_device` / `add_ports`, 20,000 devices took 24 s
# under the studio's lock).


def _id(key: int, made: list[int]) -> int:
    """The id of what a key names, `made` being the ids of the new ones of its kind."""
    return made[key - NEW] if key >= NEW else key


def _id_or_none(key: int | None, made: list[int]) -> int | None:
    return None if key is None else _id(key, made)


def _make_bays(conn: Connection, made: Made) -> list[int]:
    if not made.bays:
        return []
    bay_ids = bays.insert_bays(conn, [(name, "") for name in made.bays])
    channels = [(_id(bay, bay_ids), number, mode) for bay, number, mode in made.channels]
    bays.insert_channels(conn, channels)
    return bay_ids


def _make_devices(conn: Connection, made: Made) -> list[int]:
    if not made.devices:
        return []
    ports = Counter(device for device, *_ in made.ports)
    # A new device's highest port number: as many as it gets, from 1 on.
    made_devices = [(name, kind, ports[NEW + n]) for n, (name, kind) in enumerate(made.devices)]
    return devices.insert_devices(conn, made_devices)


def _make_ports(conn: Connection, made: Made, made_devices: list[int], points: list[int]) -> None:
    if not made.ports:
        return
    devices.set_last_port_numbers(conn, made.last_numbers)
    rows = []
    for key, number, label, kind, point in made.ports:
        owner = _id(key, made_devices)
        rows.append((f"dev-{owner}-port-{number}", owner, label, kind, _id_or_none(point, points)))
    devices.insert_ports(conn, rows)


def _write(conn: Connection, made: Made) -> None:
    """Write a plan, parents first; ports move (or are freed) before new ones take their
    points."""
    bay_ids = _make_bays(conn, made)
    bays.set_each_mode(conn, made.modes)
    slots = [place and (_id(place[0], bay_ids), *place[1:]) for *_, place in made.points]
    news = [PointCreate(name=name, description=about) for name, about, _ in made.points]
    points = patchbay_points.insert_points(conn, news, slots)
    if made.links:
        relink(conn, {port: _id_or_none(point, points) for port, point in made.links.items()})
    _make_ports(conn, made, _make_devices(conn, made), points)
    plugged = [((_id(a, points), _id(b, points)), label) for a, b, label in made.cables]
    cables.insert_cables(conn, [cables.NewCable(pair, label, None) for pair, label in plugged])
    cables.relabel(conn, made.labels)


def import_rows(conn: Connection, *, rows: list[Row], dry_run: bool) -> str:
    """Build what the rows name and the studio lacks (a dry run only plans it). Returns the
    answer's JSON: what was (or would be) created and changed."""
    if not dry_run:
        lock_studio(conn)  # before the read: the plan is written against what it read
    plan = Plan(json.loads(conn.execute(_SNAPSHOT).scalar_one()))
    plan.bays_for(rows)
    points = plan.points_for(rows)
    plan.ports_for(rows, points)
    plan.cables_for(rows, points)
    if not dry_run:
        try:
            _write(conn, plan.made)
        except sqlalchemy.exc.IntegrityError as exc:
            known = constraint_error(exc)
            if known is not None:
                raise known from exc
            constraint, _, _ = violated(exc)
            message = f"the rows contradict each other ({constraint})"
            raise Invalid(("body",), message, None) from exc
    return _encoded({"dry_run": dry_run, "create": plan.created, "change": plan.changed})


def _encoded(value: Any) -> str:
    """Compact JSON, a list a slice at a time: in one `json.dumps`, the answer to 20,000 rows
    (3 MB) held the GIL, and so /health, for 60 ms."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_encoded(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        step = 1000
        slices = (
            json.dumps(value[n : n + step], separators=(",", ":"))
            for n in range(0, len(value), step)
        )
        return "[" + ",".join(part[1:-1] for part in slices) + "]"
    return json.dumps(value)
