"""The patch list as a spreadsheet (SPEC D6): one CSV row per point, and back.

Export: a header, then every slot of every bay, bay by bay and channel by channel (top before
bottom), its point's row or, for a slot without a point, a row with an empty point cell (so
that a bay comes back with every channel and its mode); then the points in no bay by id.
RFC 4180 through Python's `csv` module, UTF-8. A cell a spreadsheet would run as a formula
(`=`, `+`, `-`, `@`, TAB or CR first) gets a leading `'`; so does a cell that already looks like
that, so that import, which removes one, gives back every value.

Devices that share a name: the device cell is the device's name, and when several devices have
that name, a number in brackets after it tells them apart: `Synth` is the first, `Synth [2]` the
second, and so on, counting first the devices of that name wired to a point (those the patch
list shows), then the others, each by age (id). A device whose own name ends in a space and a
bracketed number (`Mix [2]`) is written with its number after it (`Mix [2] [1]`), so that it
reads back as itself. Plain text, so a spreadsheet keeps it. Importing takes the n-th device of
the name, and makes the devices the studio lacks in their numbers' order; a new device's number
must follow on from the studio's devices of that name, without gaps (a 422 otherwise). So an
export imported into an empty studio makes every device it shows, and imported into the studio
it came from finds each one.

Bounds (SPEC G): at most 40,000 rows (blank ones too), 20,000 of them with a point, and the
bays they name at most 20,000 channels in all; any studio of up to 20,000 points and as many
empty slots exports within them. Reading decodes the body as it goes, one row at a time, and
stops at the first bound passed: a 413, before the studio is touched.

Reading checks every cell as the JSON API checks the same field (a 422 naming its row and
column); `patch_list_import` builds what the rows name.
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, text

from app.core.errors import Invalid, TooLarge, too_many
from app.models.bay import NormallingMode
from app.models.port import PortType
from app.schemas.common import MAX_CHANNELS, BayName, Description, Label, Name

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
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 40_000
MAX_POINTS = 20_000
MAX_BAY_CHANNELS = 20_000

# The devices, each with its number among the devices of its name: those wired to a point first
# (the ones a patch list shows), then by id. Export and import number them by this one rule.
NUMBERED_DEVICES = """
    (SELECT d.id, d.name, d.type, d.last_port_number,
            row_number() OVER (PARTITION BY d.name ORDER BY NOT EXISTS (
                SELECT FROM ports w WHERE w.device_id = d.id AND w.patchbay_id IS NOT NULL
            ), d.id) AS number
       FROM devices d)
"""
# Every slot of every bay (an empty one too, with an empty point cell, so that a bay comes back
# with all its channels and modes), then the points in no bay (SQL text: a read whose joins
# Core would only spell longer).
ROWS = text(f"""
    WITH places AS (
        SELECT c.bay_id, c.number AS channel, jack.row, jack.position, c.mode, pp.id AS point_id
          FROM bay_channels c
         CROSS JOIN (VALUES ('top', 1), ('bottom', 2)) AS jack(row, position)
          LEFT JOIN patchbay_points pp
                 ON pp.bay_id = c.bay_id AND pp.bay_channel = c.number AND pp.bay_row = jack.row
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, pp.id FROM patchbay_points pp WHERE pp.bay_id IS NULL
    )
    SELECT b.name, pl.channel, pl.row, pl.mode::text, pp.name, pp.description,
           d.name, d.type, p.label, p.type::text, other.name, k.label, d.number
      FROM places pl
      LEFT JOIN bays b ON b.id = pl.bay_id
      LEFT JOIN patchbay_points pp ON pp.id = pl.point_id
      LEFT JOIN ports p ON p.patchbay_id = pp.id
      LEFT JOIN {NUMBERED_DEVICES} d ON d.id = p.device_id
      LEFT JOIN cable_ends mine ON mine.point_id = pp.id
      LEFT JOIN cables k ON k.id = mine.cable_id
      LEFT JOIN cable_ends theirs
             ON theirs.cable_id = mine.cable_id AND theirs.end_number <> mine.end_number
      LEFT JOIN patchbay_points other ON other.id = theirs.point_id
     ORDER BY pl.bay_id IS NULL, pl.bay_id, pl.channel, pl.position, pp.id
""")
_NUMBERED = re.compile(r"(.*\S) \[([1-9][0-9]*)\]", re.DOTALL)


def neutralised(value: str) -> str:
    """A cell a spreadsheet will show as text (and that `restored` gives back)."""
    if value.startswith(_FORMULA) or (value.startswith("'") and value[1:2] in ("'", *_FORMULA)):
        return "'" + value
    return value


def restored(value: str) -> str:
    if value.startswith("'") and value[1:2] in ("'", *_FORMULA):
        return value[1:]
    return value


def device_cell(name: str, number: int) -> str:
    """How a patch list names the `number`-th device of a name (see the module's docstring)."""
    if number > 1 or _NUMBERED.fullmatch(name):
        return f"{name} [{number}]"
    return name


def device_named(cell: str) -> tuple[str, int]:
    """The name and number a device cell gives (`device_cell` the other way)."""
    numbered = _NUMBERED.fullmatch(cell)
    return (numbered[1], int(numbered[2])) if numbered else (cell, 1)


def read_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """The patch list's rows, read in one snapshot (`export_csv` writes them)."""
    return [tuple(row) for row in conn.execute(ROWS)]


def export_csv(rows: list[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    device = COLUMNS.index("device")
    for *cells, number in rows:
        if number is not None:
            cells[device] = device_cell(cells[device], number)
        writer.writerow(["" if cell is None else neutralised(str(cell)) for cell in cells])
    return out.getvalue()


# --- Reading a patch list -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Row:
    number: int  # the record's number in the file, the header being 1
    bay: str
    channel: int
    jack: str  # "top" or "bottom" ("" for a loose point)
    mode: NormallingMode | None
    point: str  # "" for an empty slot of a bay
    description: str
    device: str  # the device's name...
    device_number: int  # ...and its number among the devices of that name (1 unless given)
    device_type: str
    port: str
    port_type: PortType | None
    cable_to: str
    cable_label: str

    @property
    def device_cell(self) -> str:
        return device_cell(self.device, self.device_number)


def bad_cell(row: int, column: str, message: str, value: Any) -> Invalid:
    return Invalid(("body", row, column), message, value)


# A cell holds what the same field of a JSON body may hold (SPEC B7), checked by the same types.
_NAME, _BAY_NAME = TypeAdapter(Name), TypeAdapter(BayName)
_LABEL, _DESCRIPTION = TypeAdapter(Label), TypeAdapter(Description)
_CHANNEL = re.compile(r"[0-9]{1,2}")
_JACKS = {"top": "top", "bottom": "bottom"}
_MODES = {mode.value: mode for mode in NormallingMode}
_PORT_TYPES = {kind.value.lower(): kind for kind in PortType}


class _Cells:
    """One CSV row's cells, checked as they are read."""

    def __init__(self, number: int, cells: list[str]) -> None:
        self.number = number
        self.cells = dict(zip(COLUMNS, cells, strict=True))

    def text(self, column: str, kind: TypeAdapter[str] = _NAME) -> str:
        """The cell's text, "" when blank (a blank cell is an empty one)."""
        return self.checked(column, restored(self.cells[column]), kind)

    def checked(self, column: str, value: str, kind: TypeAdapter[str] = _NAME) -> str:
        if not value.strip():
            return ""
        try:
            return kind.validate_python(value)
        except ValidationError as exc:
            raise bad_cell(self.number, column, exc.errors()[0]["msg"], value) from None

    def device(self) -> tuple[str, int]:
        name, number = device_named(restored(self.cells["device"]))
        return self.checked("device", name), number

    def choice(self, column: str, choices: dict[str, Any]) -> Any:
        value = self.cells[column].strip()
        if not value:
            return None
        if value.lower() not in choices:
            raise bad_cell(self.number, column, "one of " + ", ".join(choices), value)
        return choices[value.lower()]

    def channel(self) -> int:
        given = self.cells["channel"].strip()
        # ASCII digits only: "²" is a digit to str.isdigit(), not to int().
        if not _CHANNEL.fullmatch(given) or not 1 <= int(given) <= MAX_CHANNELS:
            raise bad_cell(self.number, "channel", f"a channel from 1 to {MAX_CHANNELS}", given)
        return int(given)


def _row(number: int, raw: list[str]) -> Row:
    cells = _Cells(number, raw)
    bay = cells.text("bay", _BAY_NAME)
    channel, jack, mode = 0, "", None
    if bay:
        channel = cells.channel()
        jack = cells.choice("row", _JACKS) or ""
        if not jack:
            raise bad_cell(number, "row", "top or bottom", "")
        mode = cells.choice("mode", _MODES)
    device, device_number = cells.device()
    row = Row(
        number=number,
        bay=bay,
        channel=channel,
        jack=jack,
        mode=mode,
        point=cells.text("point"),
        description=cells.text("description", _DESCRIPTION),
        device=device,
        device_number=device_number,
        device_type=cells.text("device type"),
        port=cells.text("port"),
        port_type=cells.choice("port type", _PORT_TYPES),
        cable_to=cells.text("cable to"),
        cable_label=cells.text("cable label", _LABEL),
    )
    if not row.point:
        # Only a bay's slot may be empty, and an empty slot holds nothing.
        if not row.bay:
            raise bad_cell(number, "point", "a loose point needs its name", "")
        held = ("device", row.device), ("port", row.port), ("cable to", row.cable_to)
        for column, value in held:
            if value:
                raise bad_cell(number, column, "an empty slot (no point) holds nothing", value)
    if row.port and not row.device:
        raise bad_cell(number, "device", "a port needs its device", "")
    return row


class _Bounds:
    """The rows read so far against the bounds, and each slot's first row."""

    def __init__(self) -> None:
        self.points = 0
        self.channels: dict[str, int] = {}  # the highest channel each bay is named with
        self.in_all = 0  # their sum
        self.slots: set[tuple[str, int, str]] = set()

    def count(self, row: Row) -> None:
        self.points += bool(row.point)
        if self.points > MAX_POINTS:
            raise TooLarge(too_many("rows with a point", MAX_POINTS))
        if not row.bay:
            return
        slot = (row.bay, row.channel, row.jack)
        if slot in self.slots:
            raise bad_cell(row.number, "row", "this slot is on an earlier row already", row.jack)
        self.slots.add(slot)
        highest = self.channels.get(row.bay, 0)
        if row.channel > highest:
            self.channels[row.bay] = row.channel
            self.in_all += row.channel - highest
            if self.in_all > MAX_BAY_CHANNELS:
                raise TooLarge(too_many("bay channels", MAX_BAY_CHANNELS))


def _records(lines: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """The CSV records after the header, numbered (the header is 1), up to the bound."""
    reader = csv.reader(lines, strict=True)
    number = 1  # of the record being read
    try:
        header = next(reader, None)
        if header is None or [cell.strip().lower() for cell in header] != list(COLUMNS):
            raise Invalid(("body", 1), "the header must be: " + ",".join(COLUMNS), header)
        for number, cells in enumerate(reader, start=2):
            if number > MAX_ROWS + 1:
                raise TooLarge(too_many("rows", MAX_ROWS))
            yield number, cells
    except csv.Error as exc:
        # The record after the last one read whole (a record may span lines).
        raise Invalid(("body", number + 1), f"not CSV: {exc}", None) from None


def parse(body: bytes) -> list[Row]:
    """The rows of a patch list (UTF-8, with or without a byte order mark)."""
    # Decoded as it is read (the text is never whole in memory), split at CR, LF or CRLF only.
    lines = io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline="")
    rows: list[Row] = []
    bounds = _Bounds()
    try:
        for number, cells in _records(lines):
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) != len(COLUMNS):
                raise Invalid(("body", number), f"{len(COLUMNS)} columns expected", len(cells))
            row = _row(number, cells)
            bounds.count(row)
            rows.append(row)
    except UnicodeDecodeError as exc:
        # `exc.object` is the chunk that failed, which ends where the reading stopped.
        at = lines.buffer.tell() - len(exc.object) + exc.start
        raise Invalid(("body",), "not UTF-8 text", f"byte {at}") from None
    return rows
