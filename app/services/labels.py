"""Designation strips for a bay (SPEC D6): an SVG to print at 1:1, every size in millimetres.

Two strips, the top row's above the bottom row's, each cut into one cell per channel. Nothing in
the document depends on a font being present: every text is sized from a conservative estimate
of its width (`text_width.text_ems`), shrunk to fit its cell and cut with an ellipsis below a
minimum size, so a name never runs into the next cell whatever font the printing machine picks.
"""

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from app.core.errors import BAY_NOT_FOUND, NotFound
from app.db.shapes import array, json_object
from app.services.text_width import fit

# The front panel of a 19-inch rack unit.
DEFAULT_WIDTH_MM = 482.6
MIN_WIDTH_MM = 100.0
MAX_WIDTH_MM = 1000.0
# A 19-inch strip is wider than A4 or Letter paper: in 2 pieces each fits it in landscape.
MAX_PARTS = 4

# The layout, in millimetres (one user unit of the viewBox).
STRIP_HEIGHT = 10.0
CAPTION_ROOM = 7.0  # above each strip, for the caption that says which strip it is
BOTTOM_MARGIN = 3.0
CUT_LINE = 0.2
PADDING = 0.3  # between a cell's text and its sides (less in narrow cells)
NUMBER_BASELINE = 2.3  # below the strip's top
NAME_MIDDLE = 6.4  # the middle of the name's line, below the strip's top
CAPTION_SIZE = (1.6, 2.5)
NUMBER_SIZE = (1.0, 1.8)
NAME_SIZE = (1.5, 3.5)  # 1.5 mm is about 4.3 pt: "Bay A 48T" fits a 48-channel 19" strip
FONT_FAMILY = "Arial, Helvetica, 'Liberation Sans', 'DejaVu Sans', sans-serif"

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
CONTENT_SECURITY_POLICY = "default-src 'none'"


def _slot_name(row: str) -> str:
    return (
        "(SELECT pp.name FROM patchbay_points pp WHERE pp.bay_id = c.bay_id"
        f" AND pp.bay_channel = c.number AND pp.bay_row = '{row}')"
    )


# The bay's name and its channels by number, each with the names of the points in its slots
# (SQL text: PostgreSQL builds it as JSON).
BAY_LABELS = text(f"""
    SELECT {
    json_object(
        name="b.name",
        channels=array(
            json_object(number="c.number", top=_slot_name("top"), bottom=_slot_name("bottom")),
            "bay_channels c WHERE c.bay_id = b.id",
            "c.number",
        ),
    )
}
      FROM bays b WHERE b.id = :id
""")


@dataclass(frozen=True)
class Channel:
    number: int
    top: str | None  # the name of the point in the top slot, None for an empty slot
    bottom: str | None


@dataclass(frozen=True)
class Piece:
    """A strip, or a piece of one: (channel number, point name or None) per cell."""

    row: str
    part: int
    caption: str
    cells: list[tuple[int, str | None]]


@dataclass(frozen=True)
class Labels:
    filename: str
    svg: bytes


def read_bay(conn: Connection, *, bay_id: int) -> dict[str, Any]:
    """The bay's name and channels, as the strips show them."""
    bay: dict[str, Any] | None = conn.execute(BAY_LABELS, {"id": bay_id}).scalar()
    if bay is None:
        raise NotFound(BAY_NOT_FOUND)
    return bay


def bay_labels(bay: dict[str, Any], *, bay_id: int, width_mm: float, parts: int = 1) -> Labels:
    """The bay's strips (from `read_bay`), `width_mm` wide, in `parts` pieces each."""
    name = str(bay["name"])
    channels = [Channel(c["number"], c["top"], c["bottom"]) for c in bay["channels"]]
    svg = render(name, channels, width_mm=width_mm, parts=parts)
    return Labels(filename=f"{ascii_slug(name) or f'bay-{bay_id}'}-labels.svg", svg=svg)


# --- The document --------------------------------------------------------------------------------
# Characters XML 1.0 cannot carry (a point name typed into pgAdmin may hold any but NUL).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def printable(text: str) -> str:
    """The text as one line of XML text: tabs and line breaks as spaces (which is how SVG shows
    them), characters XML cannot hold as U+FFFD."""
    return _NOT_XML.sub("\ufffd", re.sub("[\t\n\r]", " ", text))


def _mm(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _is_rtl(text: str) -> bool:
    """True when the first strongly directional character is right-to-left (Hebrew, Arabic...):
    the ellipsis then goes on the left, where such a text ends."""
    for char in text:
        direction = unicodedata.bidirectional(char)
        if direction in ("R", "AL"):
            return True
        if direction == "L":
            return False
    return False


def _text(
    parent: ET.Element,
    text: str,
    *,
    x: float,
    y: float,
    size: float,
    css_class: str,
    fill: str = "#000",
    anchor: str = "middle",
) -> None:
    attributes = {"x": _mm(x), "y": _mm(y), "font-size": _mm(size), "text-anchor": anchor}
    element = ET.SubElement(parent, "text", {"class": css_class, **attributes, "fill": fill})
    if _is_rtl(text):
        element.set("direction", "rtl")
    element.text = text


def _room(cell_width: float) -> float:
    """The width a cell's texts may take."""
    return cell_width - 2 * min(PADDING, cell_width / 10)


def _common_size(channels: list[Channel], cell_width: float) -> float:
    """The names' font size: the one at which at least half the names fit whole, so that most
    cells look alike; only longer names are set smaller."""
    names = [name for c in channels for name in (c.top, c.bottom) if name]
    room = _room(cell_width)
    sizes = sorted(fit(printable(name), width=room, sizes=NAME_SIZE)[1] for name in names)
    return sizes[(len(sizes) - 1) // 2] if sizes else NAME_SIZE[1]


def _strip(
    svg: ET.Element, piece: Piece, *, top: float, cell_width: float, name_size: float
) -> None:
    """A strip (or a piece of one) from x = 0, with its caption above it."""
    width = max(len(piece.cells), 1) * cell_width
    caption, size = fit(piece.caption, width=width, sizes=CAPTION_SIZE)
    y = top - 2.0
    _text(svg, caption, x=0, y=y, size=size, css_class="caption", fill="#555", anchor="start")
    attributes = {"class": "strip", "data-row": piece.row, "data-part": str(piece.part)}
    strip = ET.SubElement(svg, "g", attributes)
    for index, (number, name) in enumerate(piece.cells):
        if index:
            x = _mm(index * cell_width)
            divider = {"x1": x, "y1": _mm(top), "x2": x, "y2": _mm(top + STRIP_HEIGHT)}
            ET.SubElement(strip, "line", {**divider, "stroke": "#999", "stroke-width": "0.1"})
        left = index * cell_width
        _cell(strip, number, name, left=left, top=top, width=cell_width, name_size=name_size)
    # Drawn last, over the dividers, and inside the strip: its outer edge is the strip's edge.
    inset = CUT_LINE / 2
    box = {"x": _mm(inset), "y": _mm(top + inset)}
    box |= {"width": _mm(width - CUT_LINE), "height": _mm(STRIP_HEIGHT - CUT_LINE)}
    line = {"fill": "none", "stroke": "#000", "stroke-width": _mm(CUT_LINE)}
    ET.SubElement(strip, "rect", {"class": "cut", **box, **line})


def _cell(
    strip: ET.Element,
    number: int,
    name: str | None,
    *,
    left: float,
    top: float,
    width: float,
    name_size: float,
) -> None:
    """A channel's cell: its number, small, above the name of the point in its slot."""
    cell = ET.SubElement(strip, "g", {"class": "cell", "data-channel": str(number)})
    room = _room(width)
    middle = left + width / 2
    digits, size = fit(str(number), width=room, sizes=NUMBER_SIZE)
    if digits.isdigit():  # a channel number cut short would name another channel
        y = top + NUMBER_BASELINE
        _text(cell, digits, x=middle, y=y, size=size, css_class="channel", fill="#555")
    text, size = fit(printable(name or ""), width=room, sizes=(NAME_SIZE[0], name_size))
    if text:
        # Cap height is about 0.7 em: the baseline 0.35 em below the line's middle.
        y = top + NAME_MIDDLE + 0.35 * size
        _text(cell, text, x=middle, y=y, size=size, css_class="name")


def _pieces(name: str, channels: list[Channel], parts: int) -> list[Piece]:
    """Each row's strip, in `parts` pieces of consecutive channels (the first ones one channel
    longer when they do not divide evenly)."""
    parts = max(1, min(parts, len(channels)))
    size, longer = divmod(len(channels), parts)
    bounds = [part * size + min(part, longer) for part in range(parts + 1)]
    pieces = []
    for row in ("top", "bottom"):
        for part in range(parts):
            chunk = channels[bounds[part] : bounds[part + 1]]
            caption = f"{name} \u2013 {row} row"
            if parts > 1:
                span = f"{chunk[0].number}\u2013{chunk[-1].number}"
                caption += f", part {part + 1} of {parts} (channels {span})"
            cells = [(c.number, c.top if row == "top" else c.bottom) for c in chunk]
            pieces.append(Piece(row, part + 1, caption, cells))
    return pieces


def render(bay_name: str, channels: list[Channel], *, width_mm: float, parts: int = 1) -> bytes:
    """The SVG document: the top row's strip above the bottom row's, each in `parts` pieces."""
    name = printable(bay_name)
    pieces = _pieces(name, channels, parts)
    cell_width = round(width_mm, 3) / max(len(channels), 1)
    width = max(max(len(piece.cells), 1) * cell_width for piece in pieces)
    height = len(pieces) * (CAPTION_ROOM + STRIP_HEIGHT) + BOTTOM_MARGIN
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NAMESPACE,
            "version": "1.1",
            "width": f"{_mm(width)}mm",
            "height": f"{_mm(height)}mm",
            "viewBox": f"0 0 {_mm(width)} {_mm(height)}",
            "font-family": FONT_FAMILY,
        },
    )
    ET.SubElement(svg, "title").text = f"{name}: designation strips"
    ET.SubElement(svg, "desc").text = (
        f"Designation strips for the top and bottom rows of {name}, {_mm(width_mm)} mm wide."
        " Print at 100 % (actual size, not fit to page) and cut along the black lines."
    )
    name_size = _common_size(channels, cell_width)
    for index, piece in enumerate(pieces):
        top = CAPTION_ROOM + index * (STRIP_HEIGHT + CAPTION_ROOM)
        _strip(svg, piece, top=top, cell_width=cell_width, name_size=name_size)
    document: bytes = ET.tostring(svg, encoding="utf-8", xml_declaration=True)
    return document


def ascii_slug(name: str) -> str:
    """The name as a safe ASCII file name part: accents dropped, anything else but letters,
    digits, dots and underscores as dashes."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._]+", "-", plain).strip("-.")[:100].strip("-.")
