"""The patch list as a spreadsheet (SPEC D6): one CSV row per point, and back.

Export: a header, then every point, bay by bay and channel by channel (top before bottom), then
the points in no bay by id. RFC 4180 through Python's `csv` module, UTF-8. A cell a
spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`; so does a
cell that already looks like that, so that import, which removes one, gives back every value.

Import builds what is missing, matching by name: bays (with the channels the rows name), the
points in their slots (or loose points by name), devices by name, ports by label within their
device, links, and cables. It runs in one transaction with the studio's tables held (EXCLUSIVE:
reads go on, writes wait); a dry run does the same and rolls back, so what it reports is exactly
what the real run would do. A bad cell is a 422 naming its row and column.
"""

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import psycopg

from app.core.errors import Invalid
from app.db.pool import Connection
from app.models.bay import NormallingMode
from app.models.port import PortType
from app.schemas.bay import BayCreate
from app.schemas.common import MAX_BAY_NAME_LENGTH, MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from app.schemas.device import DeviceCreate
from app.schemas.port import PortCreate
from app.services import bays, devices
from app.services.cables import NewCable, insert_cables
from app.services.locks import relink

COLUMNS = (
    "bay",
    "channel",
    "row",
    "mode",
    "point",
    "description",
    "device",
    "device type",
    "port",
    "port type",
    "cable to",
    "cable label",
)
_FORMULA = ("=", "+", "-", "@")

ROWS = """
    SELECT b.name, pp.bay_channel, pp.bay_row, c.mode::text, pp.name, pp.description,
           d.name, d.type, p.label, p.type::text, other.name, k.label
      FROM patchbay_points pp
      LEFT JOIN bays b ON b.id = pp.bay_id
      LEFT JOIN bay_channels c ON c.bay_id = pp.bay_id AND c.number = pp.bay_channel
      LEFT JOIN ports p ON p.patchbay_id = pp.id
      LEFT JOIN devices d ON d.id = p.device_id
      LEFT JOIN cable_ends mine ON mine.point_id = pp.id
      LEFT JOIN cables k ON k.id = mine.cable_id
      LEFT JOIN cable_ends theirs
             ON theirs.cable_id = mine.cable_id AND theirs.end_number <> mine.end_number
      LEFT JOIN patchbay_points other ON other.id = theirs.point_id
     ORDER BY pp.bay_id IS NULL, pp.bay_id, pp.bay_channel, pp.bay_row = 'bottom', pp.id
"""
_LOCK = (
    "LOCK TABLE devices, bays, bay_channels, patchbay_points, ports, cables, cable_ends "
    "IN EXCLUSIVE MODE"
)
# The studio by name, as the import finds it.
_SNAPSHOT = """
    SELECT json_build_object(
        'bays', (SELECT coalesce(json_object_agg(b.name, json_build_array(b.id,
                    (SELECT count(*) FROM bay_channels c WHERE c.bay_id = b.id))), '{}')
                   FROM (SELECT DISTINCT ON (name) * FROM bays ORDER BY name, id) AS b),
        'modes', (SELECT coalesce(json_agg(json_build_array(c.bay_id, c.number, c.mode)), '[]')
                    FROM bay_channels c),
        'points', (SELECT coalesce(json_agg(json_build_array(pp.id, pp.name, pp.bay_id,
                      pp.bay_channel, pp.bay_row) ORDER BY pp.id), '[]') FROM patchbay_points pp),
        'devices', (SELECT coalesce(json_object_agg(d.name, d.id), '{}')
                      FROM (SELECT DISTINCT ON (name) * FROM devices ORDER BY name, id) AS d),
        'ports', (SELECT coalesce(json_agg(json_build_array(p.id, p.device_id, p.label,
                     p.patchbay_id) ORDER BY p.position DESC), '[]') FROM ports p),
        'cables', (SELECT coalesce(json_agg(json_build_array(a.point_id, b.point_id)), '[]')
                     FROM cable_ends a JOIN cable_ends b
                       ON b.cable_id = a.cable_id AND b.end_number = 2 AND a.end_number = 1)
    )::text
"""
_NEW_POINT = """
    INSERT INTO patchbay_points (name, description, bay_id, bay_channel, bay_row)
    VALUES (%(name)s, %(description)s, %(bay)s, %(channel)s, %(row)s) RETURNING id
"""


def neutralised(value: str) -> str:
    """A cell a spreadsheet will show as text (and that `restored` gives back)."""
    if value.startswith(_FORMULA) or (value.startswith("'") and value[1:2] in ("'", *_FORMULA)):
        return "'" + value
    return value


def restored(value: str) -> str:
    if value.startswith("'") and value[1:2] in ("'", *_FORMULA):
        return value[1:]
    return value


def export_csv(rows: list[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if cell is None else neutralised(str(cell)) for cell in row])
    return out.getvalue()


# --- Reading a patch list -----------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    number: int  # in the file, the header being row 1
    bay: str
    channel: int
    jack: str  # "top" or "bottom" ("" for a loose point)
    mode: NormallingMode | None
    point: str
    description: str
    device: str
    device_type: str
    port: str
    port_type: PortType | None
    cable_to: str
    cable_label: str


def _bad(row: int, column: str, message: str, value: Any) -> Invalid:
    return Invalid(("body", row, column), message, value)


class _Cells:
    """One CSV row's cells, checked as they are read."""

    def __init__(self, number: int, cells: list[str]) -> None:
        self.number = number
        self.cells = dict(zip(COLUMNS, cells, strict=True))

    def text(self, column: str, limit: int = MAX_NAME_LENGTH, *, required: bool = False) -> str:
        value = restored(self.cells[column])
        if "\x00" in value:
            raise _bad(self.number, column, "must not contain NUL characters", value)
        if len(value) > limit:
            raise _bad(self.number, column, f"at most {limit} characters", value[:100])
        if not value.strip():
            if required:
                raise _bad(self.number, column, "must not be blank", value)
            return ""  # a blank cell is an empty one
        return value

    def choice(self, column: str, choices: dict[str, Any]) -> Any:
        value = self.cells[column].strip()
        if not value:
            return None
        if value.lower() not in choices:
            raise _bad(self.number, column, "one of " + ", ".join(choices), value)
        return choices[value.lower()]


def _row(number: int, raw: list[str]) -> Row:
    cells = _Cells(number, raw)
    bay = cells.text("bay", MAX_BAY_NAME_LENGTH)
    channel, jack, mode = 0, "", None
    if bay:
        given = cells.cells["channel"].strip()
        if not given.isdigit() or not 1 <= int(given) <= 96:
            raise _bad(number, "channel", "a channel number from 1 to 96", given)
        channel = int(given)
        jack = cells.choice("row", {"top": "top", "bottom": "bottom"}) or ""
        if not jack:
            raise _bad(number, "row", "top or bottom", "")
        mode = cells.choice("mode", {m.value: m for m in NormallingMode})
    row = Row(
        number=number,
        bay=bay,
        channel=channel,
        jack=jack,
        mode=mode,
        point=cells.text("point", required=True),
        description=cells.text("description", MAX_DESCRIPTION_LENGTH),
        device=cells.text("device"),
        device_type=cells.text("device type"),
        port=cells.text("port"),
        port_type=cells.choice("port type", {t.value.lower(): t for t in PortType}),
        cable_to=cells.text("cable to"),
        cable_label=cells.text("cable label"),
    )
    if row.port and not row.device:
        raise _bad(number, "device", "a port needs its device", "")
    return row


def parse(body: bytes) -> list[Row]:
    """The rows of a patch list (UTF-8, with or without a byte order mark)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(("body",), "not UTF-8 text", f"byte {exc.start}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = next(reader, None)
        if header is None or [cell.strip().lower() for cell in header] != list(COLUMNS):
            raise Invalid(("body", 1), "the header must be: " + ",".join(COLUMNS), header)
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) != len(COLUMNS):
                raise Invalid(("body", number), f"{len(COLUMNS)} columns expected", len(cells))
            rows.append(_row(number, cells))
    except csv.Error as exc:
        raise Invalid(("body", reader.line_num), f"not CSV: {exc}", None) from None
    return rows


# --- Importing ----------------------------------------------------------------------------------
class _Import:
    """One import: the studio by name as it goes, and what it created and changed."""

    def __init__(self, conn: Connection, studio: dict[str, Any]) -> None:
        self.conn = conn
        self.bays: dict[str, list[int]] = studio["bays"]  # name -> [id, channels]
        self.modes = {(bay, n): mode for bay, n, mode in studio["modes"]}
        self.slots: dict[tuple[int, int, str], int] = {
            (b, n, r): pid for pid, _, b, n, r in studio["points"] if b is not None
        }
        self.loose: dict[str, int] = {
            name: pid for pid, name, b, *_ in reversed(studio["points"]) if b is None
        }
        self.by_name: dict[str, list[int]] = {}
        for pid, name, *_ in studio["points"]:
            self.by_name.setdefault(name, []).append(pid)
        self.devices: dict[str, int] = studio["devices"]
        self.ports = {
            (device, label): (pid, point) for pid, device, label, point in studio["ports"]
        }
        self.cables = {frozenset(pair) for pair in studio["cables"]}
        self.plugged = {point for pair in studio["cables"] for point in pair}
        self.created: dict[str, list[Any]] = {
            k: [] for k in ("bays", "patchbay_points", "devices", "ports", "links", "cables")
        }
        self.changed: dict[str, list[Any]] = {"modes": []}

    async def bays_for(self, rows: list[Row]) -> None:
        wanted: dict[str, list[Row]] = {}
        for row in rows:
            if row.bay:
                wanted.setdefault(row.bay, []).append(row)
        for name, in_bay in wanted.items():
            needed = max(row.channel for row in in_bay)
            new = name not in self.bays
            if new:
                data = BayCreate(name=name, channels=needed, create_points=False)
                bay_id, _ = await bays.create_bay(self.conn, data=data)
                self.bays[name] = [bay_id, needed]
                self.modes.update({(bay_id, n): data.mode.value for n in range(1, needed + 1)})
                self.created["bays"].append({"name": name, "channels": needed})
            elif self.bays[name][1] < needed:
                row = next(r for r in in_bay if r.channel > self.bays[name][1])
                raise _bad(
                    row.number,
                    "channel",
                    f"bay {name} has {self.bays[name][1]} channels",
                    row.channel,
                )
            bay_id = self.bays[name][0]
            changes = {
                (bay_id, row.channel): row.mode.value
                for row in in_bay
                if row.mode is not None and self.modes[(bay_id, row.channel)] != row.mode.value
            }
            await bays.set_each_mode(self.conn, [(b, n, mode) for (b, n), mode in changes.items()])
            if not new:  # a new bay's modes are part of making it
                self.changed["modes"] += [
                    {"bay": name, "channel": n, "mode": mode} for (_, n), mode in changes.items()
                ]

    async def point_of(self, row: Row) -> int:
        if row.bay:
            bay_id = self.bays[row.bay][0]
            slot = (bay_id, row.channel, row.jack)
            if slot not in self.slots:
                self.slots[slot] = await self._new_point(row, bay_id)
            return self.slots[slot]
        if row.point not in self.loose:
            self.loose[row.point] = await self._new_point(row, None)
        return self.loose[row.point]

    async def _new_point(self, row: Row, bay_id: int | None) -> int:
        params = {
            "name": row.point,
            "description": row.description,
            "bay": bay_id,
            "channel": row.channel if bay_id else None,
            "row": row.jack or None,
        }
        found = await (await self.conn.execute(_NEW_POINT, params)).fetchone()
        assert found is not None
        self.by_name.setdefault(row.point, []).append(int(found[0]))
        self.created["patchbay_points"].append(row.point)
        return int(found[0])

    async def device_of(self, row: Row) -> int:
        if row.device not in self.devices:
            if not row.device_type:
                raise _bad(row.number, "device type", "a new device needs a type", "")
            data = DeviceCreate(name=row.device, type=row.device_type, ports=[])
            self.devices[row.device], _ = await devices.create_device(self.conn, data=data)
            self.created["devices"].append({"name": row.device, "type": row.device_type})
        return self.devices[row.device]

    async def port_of(self, row: Row) -> tuple[str, int | None]:
        device_id = await self.device_of(row)
        if (device_id, row.port) not in self.ports:
            if row.port_type is None:
                raise _bad(row.number, "port type", "a new port needs a type", "")
            data_port = PortCreate(label=row.port, type=row.port_type)
            port_id, _ = await devices.add_port(self.conn, device_id=device_id, data=data_port)
            self.ports[(device_id, row.port)] = (port_id, None)
            self.created["ports"].append({"device": row.device, "label": row.port})
        return self.ports[(device_id, row.port)]

    async def cable(self, row: Row, point: int, points_of_rows: dict[str, int]) -> None:
        other = points_of_rows.get(row.cable_to)
        if other is None:
            named = self.by_name.get(row.cable_to, [])
            if len(named) != 1:
                raise _bad(row.number, "cable to", "names no single point", row.cable_to)
            other = named[0]
        if other == point:
            raise _bad(row.number, "cable to", "a cable joins two different points", row.cable_to)
        if frozenset((point, other)) in self.cables:
            return
        if point in self.plugged or other in self.plugged:
            raise _bad(row.number, "cable to", "jack already patched", row.cable_to)
        await insert_cables(self.conn, [NewCable((point, other), row.cable_label, None)])
        self.cables.add(frozenset((point, other)))
        self.plugged |= {point, other}
        self.created["cables"].append(
            {"points": [row.point, row.cable_to], "label": row.cable_label}
        )


async def import_rows(conn: Connection, *, rows: list[Row], dry_run: bool) -> dict[str, Any]:
    """Build what the rows name and the studio lacks; a dry run rolls it all back. Returns what
    was (or would be) created and changed."""
    try:
        async with conn.transaction():
            report = await _import(conn, rows)
            if dry_run:
                raise psycopg.Rollback
    except psycopg.errors.IntegrityError as exc:
        # A name the rows use twice for different things, or the like: name the constraint.
        raise Invalid(
            ("body",), f"the rows contradict each other ({exc.diag.constraint_name})", None
        ) from exc
    return {"dry_run": dry_run, **report}


async def _import(conn: Connection, rows: list[Row]) -> dict[str, Any]:
    await conn.execute(_LOCK)
    found = await (await conn.execute(_SNAPSHOT)).fetchone()
    assert found is not None
    work = _Import(conn, json.loads(found[0]))
    await work.bays_for(rows)
    points = {row.point: await work.point_of(row) for row in rows}
    targets: dict[str, int | None] = {}
    for row in (r for r in rows if r.device and not r.port):
        await work.device_of(row)
    for row in (r for r in rows if r.port):
        port_id, current = await work.port_of(row)
        if current != points[row.point] and port_id not in targets:
            targets[port_id] = points[row.point]
            work.created["links"].append(
                {"device": row.device, "port": row.port, "point": row.point}
            )
    if targets:
        await relink(conn, targets)
    for row in (r for r in rows if r.cable_to):
        await work.cable(row, points[row.point], points)
    return {"create": work.created, "change": work.changed}
