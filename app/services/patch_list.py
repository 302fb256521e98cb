"""The patch list as a spreadsheet (SPEC D6): one CSV row per point, and back.

Export: a header, then every slot of every bay, bay by bay and channel by channel (top before
bottom), its point's row or, for a slot without a point, a row with an empty point cell (so
that a bay comes back with every channel and its mode); then the points in no bay by id.
RFC 4180 through Python's `csv` module, UTF-8. A cell a spreadsheet would run as a formula
(`=`, `+`, `-`, `@` first) gets a leading `'`; so does a cell that already looks like that, so
that import, which removes one, gives back every value.

Reading checks every cell as the JSON API checks the same field (a 422 naming its row and
column); `patch_list_import` builds what the rows name.
"""

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, text

from app.core.errors import Invalid
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
_FORMULA = ("=", "+", "-", "@")

# Every slot of every bay (an empty one too, with an empty point cell, so that a bay comes back
# with all its channels and modes), then the points in no bay (SQL text: a read whose joins
# Core would only spell longer).
ROWS = text("""
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
           d.name, d.type, p.label, p.type::text, other.name, k.label
      FROM places pl
      LEFT JOIN bays b ON b.id = pl.bay_id
      LEFT JOIN patchbay_points pp ON pp.id = pl.point_id
      LEFT JOIN ports p ON p.patchbay_id = pp.id
      LEFT JOIN devices d ON d.id = p.device_id
      LEFT JOIN cable_ends mine ON mine.point_id = pp.id
      LEFT JOIN cables k ON k.id = mine.cable_id
      LEFT JOIN cable_ends theirs
             ON theirs.cable_id = mine.cable_id AND theirs.end_number <> mine.end_number
      LEFT JOIN patchbay_points other ON other.id = theirs.point_id
     ORDER BY pl.bay_id IS NULL, pl.bay_id, pl.channel, pl.position, pp.id
""")


def neutralised(value: str) -> str:
    """A cell a spreadsheet will show as text (and that `restored` gives back)."""
    if value.startswith(_FORMULA) or (value.startswith("'") and value[1:2] in ("'", *_FORMULA)):
        return "'" + value
    return value


def restored(value: str) -> str:
    if value.startswith("'") and value[1:2] in ("'", *_FORMULA):
        return value[1:]
    return value


def read_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """The patch list's rows, read in one snapshot (`export_csv` writes them)."""
    return [tuple(row) for row in conn.execute(ROWS)]


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
    number: int  # the record's number in the file, the header being 1
    bay: str
    channel: int
    jack: str  # "top" or "bottom" ("" for a loose point)
    mode: NormallingMode | None
    point: str  # "" for an empty slot of a bay
    description: str
    device: str
    device_type: str
    port: str
    port_type: PortType | None
    cable_to: str
    cable_label: str


def bad_cell(row: int, column: str, message: str, value: Any) -> Invalid:
    return Invalid(("body", row, column), message, value)


# A cell holds what the same field of a JSON body may hold (SPEC B7), checked by the same types.
_NAME, _BAY_NAME = TypeAdapter(Name), TypeAdapter(BayName)
_LABEL, _DESCRIPTION = TypeAdapter(Label), TypeAdapter(Description)
_CHANNEL = re.compile(r"[0-9]{1,2}")


class _Cells:
    """One CSV row's cells, checked as they are read."""

    def __init__(self, number: int, cells: list[str]) -> None:
        self.number = number
        self.cells = dict(zip(COLUMNS, cells, strict=True))

    def text(self, column: str, kind: TypeAdapter[str] = _NAME) -> str:
        """The cell's text, "" when blank (a blank cell is an empty one)."""
        value = restored(self.cells[column])
        if not value.strip():
            return ""
        try:
            return kind.validate_python(value)
        except ValidationError as exc:
            raise bad_cell(self.number, column, exc.errors()[0]["msg"], value) from None

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
        jack = cells.choice("row", {"top": "top", "bottom": "bottom"}) or ""
        if not jack:
            raise bad_cell(number, "row", "top or bottom", "")
        mode = cells.choice("mode", {m.value: m for m in NormallingMode})
    row = Row(
        number=number,
        bay=bay,
        channel=channel,
        jack=jack,
        mode=mode,
        point=cells.text("point"),
        description=cells.text("description", _DESCRIPTION),
        device=cells.text("device"),
        device_type=cells.text("device type"),
        port=cells.text("port"),
        port_type=cells.choice("port type", {t.value.lower(): t for t in PortType}),
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


def parse(body: bytes) -> list[Row]:
    """The rows of a patch list (UTF-8, with or without a byte order mark)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(("body",), "not UTF-8 text", f"byte {exc.start}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[Row] = []
    slots: set[tuple[str, int, str]] = set()
    number = 1  # of the record being read
    try:
        header = next(reader, None)
        if header is None or [cell.strip().lower() for cell in header] != list(COLUMNS):
            raise Invalid(("body", 1), "the header must be: " + ",".join(COLUMNS), header)
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) != len(COLUMNS):
                raise Invalid(("body", number), f"{len(COLUMNS)} columns expected", len(cells))
            row = _row(number, cells)
            if row.bay:
                slot = (row.bay, row.channel, row.jack)
                if slot in slots:
                    raise bad_cell(
                        number, "row", "this slot is on an earlier row already", row.jack
                    )
                slots.add(slot)
            rows.append(row)
    except csv.Error as exc:
        # The record after the last one read whole (a record may span lines).
        raise Invalid(("body", number + 1), f"not CSV: {exc}", None) from None
    return rows
