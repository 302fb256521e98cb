"""Importing a patch list (SPEC D6): build what the rows name and the studio lacks.

Rows are matched to what exists so that importing a studio's own export changes nothing, and
importing it into an empty studio rebuilds it:

- bays by name, and a row's slot by (bay, channel, row); a bay row with an empty point cell is an
  empty slot (it makes the channel, with its mode, and no point);
- loose points by name: the k-th row of a name is the k-th loose point of that name, by id;
- devices by name; ports by label within their device: a row takes the port of that label
  already on its point, else the next one of that label not taken by another row (in creation
  order), else a new one;
- a cable by its two points, in either order; a row whose cable label differs relabels it.

It runs in one transaction with the studio's tables held (reads go on, writes wait); a dry run
does the same and rolls back, so what it reports is exactly what the real run would do: what
it creates, and what it changes (channel modes, ports that lose their point to another, cable
labels).
"""

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, text

from app.core.errors import (
    ITEM_CABLE_TO_ITSELF,
    ITEM_JACK_PATCHED,
    Invalid,
    constraint_error,
    violated,
)
from app.schemas.bay import BayCreate
from app.schemas.patchbay_point import PointCreate
from app.schemas.port import PortCreate
from app.services import bays, cables, devices, patchbay_points
from app.services.locks import lock_studio, relink
from app.services.patch_list import Row, bad_cell

# The studio by name, as the import finds it (SQL text: PostgreSQL builds it as JSON).
_SNAPSHOT = text("""
    SELECT json_build_object(
        'bays', (SELECT coalesce(json_object_agg(b.name, json_build_array(b.id,
                    array(SELECT number FROM bay_channels c WHERE c.bay_id = b.id))), '{}')
                   FROM (SELECT DISTINCT ON (name) * FROM bays ORDER BY name, id) AS b),
        'modes', (SELECT coalesce(json_agg(json_build_array(c.bay_id, c.number, c.mode)), '[]')
                    FROM bay_channels c),
        'points', (SELECT coalesce(json_agg(json_build_array(pp.id, pp.name, pp.bay_id,
                      pp.bay_channel, pp.bay_row) ORDER BY pp.id), '[]') FROM patchbay_points pp),
        'devices', (SELECT coalesce(json_object_agg(d.name, d.id), '{}')
                      FROM (SELECT DISTINCT ON (name) * FROM devices ORDER BY name, id) AS d),
        'ports', (SELECT coalesce(json_agg(json_build_array(p.id, p.device_id, p.label,
                     p.patchbay_id, d.name) ORDER BY p.position), '[]')
                    FROM ports p JOIN devices d ON d.id = p.device_id),
        'cables', (SELECT coalesce(json_agg(json_build_array(a.point_id, b.point_id, k.id,
                      k.label, k.color)), '[]')
                     FROM cables k
                     JOIN cable_ends a ON a.cable_id = k.id AND a.end_number = 1
                     JOIN cable_ends b ON b.cable_id = k.id AND b.end_number = 2)
    )::text
""")


def _port_of(row: Row) -> PortCreate:
    assert row.port_type is not None, "checked when the row asked for a new port"
    return PortCreate(label=row.port, type=row.port_type)


class _Import:
    """One import: the studio by name as it goes, and what it created and changed."""

    def __init__(self, conn: Connection, studio: dict[str, Any]) -> None:
        self.conn = conn
        # name -> (id, channel numbers)
        self.bays = {name: (bay, set(numbers)) for name, (bay, numbers) in studio["bays"].items()}
        self.modes = {(bay, n): mode for bay, n, mode in studio["modes"]}
        self.slots: dict[tuple[int, int, str], int] = {
            (b, n, r): pid for pid, _, b, n, r in studio["points"] if b is not None
        }
        self.loose: dict[str, list[int]] = defaultdict(list)  # by id
        self.names: dict[int, str] = {}
        for pid, name, bay, *_ in studio["points"]:
            self.names[pid] = name
            if bay is None:
                self.loose[name].append(pid)
        self.devices: dict[str, int] = studio["devices"]
        self.ports: dict[tuple[int | None, str], list[str]] = defaultdict(list)  # creation order
        self.port_point: dict[str, int | None] = {}
        self.port_names: dict[str, tuple[str, str]] = {}
        self.key_of: dict[str, tuple[int | None, str]] = {}  # port -> (device, label)
        for pid, device, label, point, device_name in studio["ports"]:
            self.ports[(device, label)].append(pid)
            self.port_point[pid] = point
            self.port_names[pid] = (device_name, label)
            self.key_of[pid] = (device, label)
        self.cables: dict[frozenset[int], tuple[int | None, str, str | None]] = {
            frozenset((a, b)): (cable, label, color)
            for a, b, cable, label, color in studio["cables"]
        }
        self.plugged = {point for pair in self.cables for point in pair}
        self.created: dict[str, list[Any]] = {
            k: [] for k in ("bays", "patchbay_points", "devices", "ports", "links", "cables")
        }
        self.changed: dict[str, list[Any]] = {"modes": [], "unlinked": [], "cables": []}

    def bays_for(self, rows: list[Row]) -> None:
        wanted: dict[str, list[Row]] = {}
        for row in rows:
            if row.bay:
                wanted.setdefault(row.bay, []).append(row)
        for name, in_bay in wanted.items():
            new = name not in self.bays
            if new:
                needed = max(row.channel for row in in_bay)
                data = BayCreate(name=name, channels=needed, create_points=False)
                bay_id, _ = bays.create_bay(self.conn, data=data)
                self.bays[name] = (bay_id, set(range(1, needed + 1)))
                self.modes.update({(bay_id, n): data.mode.value for n in range(1, needed + 1)})
                self.created["bays"].append({"name": name, "channels": needed})
            bay_id, numbers = self.bays[name]
            for row in in_bay:
                if row.channel not in numbers:
                    shown = ", ".join(map(str, sorted(numbers))) or "none"
                    message = f"bay {name} has no channel {row.channel} (its channels: {shown})"
                    raise bad_cell(row.number, "channel", message, row.channel)
            changes = {
                (bay_id, row.channel): row.mode.value
                for row in in_bay
                if row.mode is not None and self.modes[(bay_id, row.channel)] != row.mode.value
            }
            bays.set_each_mode(self.conn, [(b, n, mode) for (b, n), mode in changes.items()])
            if not new:  # a new bay's modes are part of making it
                self.changed["modes"] += [
                    {"bay": name, "channel": n, "mode": mode} for (_, n), mode in changes.items()
                ]

    def points_for(self, rows: list[Row]) -> dict[int, int | None]:
        """The point of each row (by row number), made where missing (in one statement, in
        the rows' order); None for an empty slot."""
        found: dict[int, int | None] = {}
        making: list[tuple[Row, tuple[int, int, str] | None]] = []
        taken: dict[str, int] = defaultdict(int)  # loose points of a name used so far
        for row in rows:
            if row.bay:
                in_bay = (int(self.bays[row.bay][0]), row.channel, row.jack)
                if in_bay in self.slots or not row.point:
                    found[row.number] = self.slots.get(in_bay)
                else:
                    making.append((row, in_bay))
                continue
            if taken[row.point] < len(self.loose[row.point]):
                found[row.number] = self.loose[row.point][taken[row.point]]
            else:
                making.append((row, None))
            taken[row.point] += 1
        new = [PointCreate(name=row.point, description=row.description) for row, _ in making]
        made = patchbay_points.insert_points(self.conn, new, [place for _, place in making])
        for (row, place), point in zip(making, made, strict=True):
            found[row.number] = point
            self.names[point] = row.point
            if place is None:
                self.loose[row.point].append(point)
            else:
                self.slots[place] = point
            self.created["patchbay_points"].append(row.point)
        return found

    def plan_devices(self, rows: list[Row]) -> dict[str, str]:
        """The devices the rows name that the studio lacks, with their types, in the order
        the rows first name them (a new device's first row gives its type)."""
        new: dict[str, str] = {}
        for row in rows:
            if row.device and row.device not in self.devices and row.device not in new:
                if not row.device_type:
                    raise bad_cell(row.number, "device type", "a new device needs a type", "")
                new[row.device] = row.device_type
        return new

    def ports_for(self, rows: list[Row], points: dict[int, int | None]) -> dict[str, int | None]:
        """The port of each row that names one, made where missing (with the devices the rows
        add): where each port goes. Linear in the rows, whatever they repeat."""
        new_devices = self.plan_devices(rows)
        wired = [row for row in rows if row.port]
        holders = {point: port for port, point in self.port_point.items() if point is not None}
        chosen: dict[int, str] = {}
        taken: set[str] = set()
        # First the rows whose point already holds their port (same device, same label)...
        for row in wired:
            port = holders.get(points[row.number] or 0)
            device = self.devices.get(row.device)
            if (
                port is not None
                and port not in taken
                and self.key_of.get(port) == (device, row.port)
            ):
                chosen[row.number] = port
                taken.add(port)
        # ...then the others, each the next port of its label that no row took, or a new one.
        free = {key: iter(ports) for key, ports in self.ports.items()}
        needed: dict[str, list[Row]] = defaultdict(list)  # new ports, by device name
        for row in wired:
            if row.number in chosen:
                continue
            key = (self.devices.get(row.device), row.port)
            port = next((p for p in free.get(key, iter(())) if p not in taken), None)
            if port is not None:
                chosen[row.number] = port
                taken.add(port)
            elif row.port_type is None:
                raise bad_cell(row.number, "port type", "a new port needs a type", "")
            else:
                needed[row.device].append(row)
        chosen.update(self._make_ports(new_devices, needed))
        targets: dict[str, int | None] = {}
        for row in wired:
            port, point = chosen[row.number], points[row.number]
            assert point is not None, "a row with a port names its point"
            if self.port_point.get(port) != point:
                targets[port] = point
                self.created["links"].append(
                    {"device": row.device, "port": row.port, "point": row.point}
                )
        return targets

    def _make_ports(
        self, new_devices: dict[str, str], needed: dict[str, list[Row]]
    ) -> dict[int, str]:
        """Make the new devices with their new ports, and the new ports of the others, a few
        statements per device; the port of each row."""
        made: dict[int, str] = {}
        for name, device_type in new_devices.items():
            rows = needed.pop(name, [])
            ports = [_port_of(row) for row in rows]
            device_id, ids = devices.insert_device(
                self.conn, name=name, type=device_type, ports=ports
            )
            self.devices[name] = device_id
            self.created["devices"].append({"name": name, "type": device_type})
            made.update(self._record_ports(device_id, rows, ids))
        for name, rows in needed.items():
            device_id = self.devices[name]
            ports = [_port_of(row) for row in rows]
            added = devices.add_ports(self.conn, device_id=device_id, ports=ports)
            made.update(self._record_ports(device_id, rows, added))
        return made

    def _record_ports(self, device_id: int, rows: list[Row], ids: list[str]) -> dict[int, str]:
        for row, port in zip(rows, ids, strict=True):
            self.ports[(device_id, row.port)].append(port)
            self.port_point[port] = None
            self.port_names[port] = (row.device, row.port)
            self.created["ports"].append({"device": row.device, "label": row.port})
        return {row.number: port for row, port in zip(rows, ids, strict=True)}

    def link(self, targets: dict[str, int | None]) -> None:
        if not targets:
            return
        _, losers = relink(self.conn, targets)
        for port in losers:
            device, label = self.port_names[port]
            point = self.port_point[port]
            self.changed["unlinked"].append(
                {"device": device, "port": label, "point": self.names.get(point or 0)}
            )

    def cables_for(self, rows: list[Row], points: dict[int, int | None]) -> None:
        """Plug the cables the rows name that are missing, relabel those whose label differs
        (one statement each, for all of them). A cable is on the rows of both its points,
        which must agree on its label."""
        other_end = self._cable_ends(rows, points)
        given: dict[frozenset[int], str] = {}
        new: list[cables.NewCable] = []
        relabelled: list[tuple[int, str, str | None]] = []
        for row in rows:
            point = points[row.number]
            if not row.cable_to or point is None:
                continue
            other = other_end(row, point)
            if other == point:
                raise bad_cell(row.number, "cable to", ITEM_CABLE_TO_ITSELF, row.cable_to)
            pair = frozenset((point, other))
            if pair in given:
                if given[pair] != row.cable_label:
                    message = "the row of the cable's other end gives it another label"
                    raise bad_cell(row.number, "cable label", message, row.cable_label)
                continue
            given[pair] = row.cable_label
            shown = {"points": [row.point, row.cable_to], "label": row.cable_label}
            if pair in self.cables:
                cable, label, color = self.cables[pair]
                if label != row.cable_label and cable is not None:
                    relabelled.append((cable, row.cable_label, color))
                    self.changed["cables"].append(shown)
                continue
            if point in self.plugged or other in self.plugged:
                raise bad_cell(row.number, "cable to", ITEM_JACK_PATCHED, row.cable_to)
            new.append(cables.NewCable((point, other), row.cable_label, None))
            self.cables[pair] = (None, row.cable_label, None)
            self.plugged |= pair
            self.created["cables"].append(shown)
        cables.insert_cables(self.conn, new)
        cables.relabel(self.conn, relabelled)

    def _cable_ends(
        self, rows: list[Row], points: dict[int, int | None]
    ) -> Callable[[Row, int], int]:
        """How a row's `cable to` finds the other end: the point its cable goes to now, if that
        has the name; else the row of that name (of several, the one whose cable comes back);
        else the studio's only point of that name. 422 when it names no single point."""
        named_rows: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            if points[row.number] is not None:
                named_rows[row.point].append(row)
        named_points: dict[str, list[int]] = defaultdict(list)
        for pid, name in self.names.items():
            named_points[name].append(pid)
        plugged_to: dict[int, int] = {}
        for pair in self.cables:
            a, b = tuple(pair)
            plugged_to[a], plugged_to[b] = b, a

        def other_end(row: Row, point: int) -> int:
            now = plugged_to.get(point)
            if now is not None and self.names.get(now) == row.cable_to:
                return now
            candidates = named_rows.get(row.cable_to, [])
            if len(candidates) > 1:
                candidates = [other for other in candidates if other.cable_to == row.point]
            ends = (
                [points[other.number] for other in candidates]
                if row.cable_to in named_rows
                else named_points.get(row.cable_to, [])
            )
            if len(ends) != 1 or ends[0] is None:
                raise bad_cell(row.number, "cable to", "names no single point", row.cable_to)
            return ends[0]

        return other_end


def import_rows(conn: Connection, *, rows: list[Row], dry_run: bool) -> dict[str, Any]:
    """Build what the rows name and the studio lacks; a dry run rolls it all back. Returns what
    was (or would be) created and changed."""
    try:
        with conn.begin_nested() as work:
            report = _import(conn, rows)
            if dry_run:
                work.rollback()
    except sqlalchemy.exc.IntegrityError as exc:
        known = constraint_error(exc)
        if known is not None:
            raise known from exc
        constraint, _, _ = violated(exc)
        raise Invalid(("body",), f"the rows contradict each other ({constraint})", None) from exc
    return {"dry_run": dry_run, **report}


def _import(conn: Connection, rows: list[Row]) -> dict[str, Any]:
    lock_studio(conn)
    work = _Import(conn, json.loads(conn.execute(_SNAPSHOT).scalar_one()))
    work.bays_for(rows)
    points = work.points_for(rows)
    work.link(work.ports_for(rows, points))
    work.cables_for(rows, points)
    return {"create": work.created, "change": work.changed}
