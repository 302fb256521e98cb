"""A studio document as `POST /import` reads it (SPEC D6, G), in the request's worker thread,
a piece at a time (app/services/json_pieces.py), into the rows of the studio's tables.

The items of its lists are read and validated in chunks; a device's ports and a scene's links,
cables and modes too, since one device or scene may hold tens of thousands. Counts are checked
as items arrive: 413 at the first item past a bound (app/schemas/studio.py), before the rest
is read and long before the studio is locked. Then what JSON Schema cannot say: ids unique,
references resolved, one slot per point, one port and one plug per jack, and scenes that can
be applied.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.models import ELECTRICAL_DEFAULTS
from app.schemas import studio as s
from app.schemas.scene import SceneCable, SceneLink, SceneMode
from app.services.json_pieces import (
    Chunks,
    Errors,
    Limit,
    Loc,
    Reader,
    decoded,
    json_objects,
    not_json,
)
from app.services.studio_rules import SceneCheck, check

# No valid document runs this long without an object's brace: its longest object, a point,
# holds three fields of 10,000 characters, 360,000 characters when written as `\u` escapes.
_STRETCH = 384 * 1024
# Nor holds an item read whole of more objects than this (a bay and its 96 channels).
_OBJECTS = 200
# The columns of each table's rows, in the order the rows hold them.
COLUMNS = {
    "bays": ("id", "name", "description"),
    "bay_channels": ("bay_id", "number", "mode"),
    "patchbay_points": ("id", "name", "description", "type", "bay_id", "bay_channel", "bay_row"),
    "devices": ("id", "name", "type", "last_port_number"),
    "ports": ("id", "device_id", "label", "type", "patchbay_id", "n"),
    "cables": ("id", "label", "color"),
    "cable_ends": ("cable_id", "end_number", "point_id"),
    "port_electrical": ("port_id", "level", "phantom", "phantom_safe"),
}
Row = tuple[Any, ...]


@dataclass
class Document:
    """A document's rows by table (tuples, in COLUMNS' order, in the document's order), its
    scenes as rows of JSON text, and where the items that `_check` names stood."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: {name: [] for name in COLUMNS})
    scenes: list[str] = field(default_factory=list)
    scene_keys: list[tuple[int, str]] = field(default_factory=list)  # (id, name)
    # Each point a channel names: (bay index, channel index, field), the point, its slot.
    slots: list[tuple[Loc, int, tuple[int, int, str]]] = field(default_factory=list)
    port_places: list[tuple[int, int]] = field(default_factory=list)  # (device, port) indexes
    # Each item of `electrical`, with its index: rows are made of those that set a value.
    electrical: list[tuple[int, s.StudioElectrical]] = field(default_factory=list)
    # Each table's rows (and the scenes') as the JSON array that the import's `:rows` takes.
    written: dict[str, str] = field(default_factory=dict)

    def ids(self, table: str) -> list[Any]:
        return [row[0] for row in self.rows[table]]


_LIST_OF: dict[type[BaseModel], TypeAdapter[list[Any]]] = {
    model: TypeAdapter(list[model])  # type: ignore[valid-type]
    for model in (s.StudioBay, s.StudioPoint, s.StudioPort, s.StudioCable, s.StudioElectrical)
}
_SCENE_LISTS: dict[str, TypeAdapter[list[Any]]] = {
    "links": TypeAdapter(list[SceneLink]),
    "cables": TypeAdapter(list[SceneCable]),
    "modes": TypeAdapter(list[SceneMode]),
}
# What Pydantic says of a value that stands where a document, a device or a scene should.
_WHOLE: dict[str, TypeAdapter[Any]] = {
    "document": TypeAdapter(s.StudioDocument),
    "devices": TypeAdapter(s.StudioDevice),
    "scenes": TypeAdapter(s.StudioScene),
}
_ANY_LIST: TypeAdapter[list[Any]] = TypeAdapter(list[Any])


class _Reading:
    """One document being read: its rows so far, its errors, its counts against the bounds."""

    def __init__(self, text: str) -> None:
        self.reader = Reader(text, _OBJECTS)
        self.errors = Errors()
        self.doc = Document()
        self.channels = Limit("channels", s.MAX_CHANNELS)
        self.ports = Limit("ports", s.MAX_PORTS)
        self.scene_items = Limit("scene links, cables and modes", s.MAX_SCENE_ITEMS)

    def _valid(self, model: type[BaseModel], value: Any, loc: Loc) -> Any:
        """`value` validated, or None with its errors noted."""
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self.errors.add(exc, loc)
            return None

    def _refused(self, whole: TypeAdapter[Any], loc: Loc) -> None:
        """What stands where an object or a list should: Pydantic says what is wrong with it."""
        try:
            whole.validate_python(self.reader.value())
        except ValidationError as exc:
            self.errors.add(exc, loc)

    def _members(self, loc: Loc) -> Iterator[str]:
        seen: set[str] = set()
        for key in self.reader.members():
            if key in seen:
                self.errors.note((*loc, key), "appears twice in this object", key)
            seen.add(key)
            yield key

    def _list(self, loc: Loc, limit: Limit, chunks: Chunks) -> None:
        """The list at `loc`, each item read whole and validated in chunks."""
        if self.reader.peek() != "[":
            self._refused(chunks.adapter, loc)
            return
        for _ in self.reader.items():
            limit.take()
            start = self.reader.at
            chunks.add(self.reader.value(), self.reader.at - start)
        chunks.flush()

    def _walked(self, loc: Loc, limit: Limit, walk: Callable[[int], None]) -> None:
        """The list at `loc`, each item walked by `walk`."""
        if self.reader.peek() != "[":
            self._refused(_ANY_LIST, loc)
            return
        for n in self.reader.items():
            limit.take()
            walk(n)

    def _chunks(self, model: type[BaseModel], loc: Loc, take: Any) -> Chunks:
        return Chunks(self.errors, _LIST_OF[model], loc, take)

    def _object(
        self, loc: Loc, whole: TypeAdapter[Any], lists: dict[str, Callable[[Loc], None]]
    ) -> dict[str, Any] | None:
        """The object at `loc`: its lists read by `lists`, its other members returned (None,
        with the error noted, when it is not an object)."""
        if self.reader.peek() != "{":
            self._refused(whole, loc)
            return None
        fields: dict[str, Any] = {}
        for key in self._members(loc):
            if key in lists:
                lists[key]((*loc, key))
            else:
                fields[key] = self.reader.value()
        return fields

    def document(self) -> Document:
        def items(model: type[BaseModel], what: str, bound: int, take: Any) -> Any:
            return lambda at: self._list(at, Limit(what, bound), self._chunks(model, at, take))

        lists = {
            "bays": items(s.StudioBay, "bays", s.MAX_BAYS, self._bays),
            "patchbay_points": items(s.StudioPoint, "patchbay points", s.MAX_POINTS, self._points),
            "devices": lambda at: self._walked(at, Limit("devices", s.MAX_DEVICES), self._device),
            "cables": items(s.StudioCable, "cables", s.MAX_CABLES, self._cables),
            "scenes": lambda at: self._walked(at, Limit("scenes", s.MAX_SCENES), self._scene),
            "electrical": items(
                s.StudioElectrical, "electrical values", s.MAX_PORTS, self._electrical
            ),
        }
        fields = self._object((), _WHOLE["document"], lists)
        if fields is not None:
            if self.reader.peek():
                self.reader.fail("Extra data")
            self._valid(s.StudioDocumentFields, fields, ())
        if self.errors:
            raise RequestValidationError(self.errors)
        return self.doc

    def _bays(self, first: int, bays: list[s.StudioBay]) -> None:
        rows = self.doc.rows
        for b, bay in enumerate(bays, start=first):
            rows["bays"].append((bay.id, bay.name, bay.description))
            for c, channel in enumerate(bay.channels):
                self.channels.take()
                rows["bay_channels"].append((bay.id, channel.number, channel.mode.value))
                for name, row in (("top_point_id", "top"), ("bottom_point_id", "bottom")):
                    point = getattr(channel, name)
                    if point is not None:
                        slot = (bay.id, channel.number, row)
                        self.doc.slots.append((("bays", b, "channels", c, name), point, slot))

    def _points(self, first: int, points: list[s.StudioPoint]) -> None:
        self.doc.rows["patchbay_points"] += [
            (point.id, point.name, point.description, point.type) for point in points
        ]

    def _cables(self, first: int, cables: list[s.StudioCable]) -> None:
        for cable in cables:
            self.doc.rows["cables"].append((cable.id, cable.label, cable.color))
            self.doc.rows["cable_ends"] += [
                (cable.id, n, point) for n, point in enumerate(cable.points, start=1)
            ]

    def _electrical(self, first: int, values: list[s.StudioElectrical]) -> None:
        self.doc.electrical += enumerate(values, start=first)

    def _device(self, d: int) -> None:
        loc: Loc = ("devices", d)
        ports: list[s.StudioPort] = []

        def read_ports(at: Loc) -> None:
            chunks = self._chunks(s.StudioPort, at, lambda _, got: ports.extend(got))
            self._list(at, self.ports, chunks)

        fields = self._object(loc, _WHOLE["devices"], {"ports": read_ports})
        if fields is None:
            return
        device = self._valid(s.StudioDeviceFields, fields, loc)
        if device is None:
            return
        rows = self.doc.rows
        rows["devices"].append((device.id, device.name, device.type, device.last_port_number))
        for p, port in enumerate(ports):
            n = len(rows["ports"])
            rows["ports"].append(
                (port.id, device.id, port.label, port.type.value, port.patchbay_id, n)
            )
            self.doc.port_places.append((d, p))

    def _scene(self, n: int) -> None:
        loc: Loc = ("scenes", n)
        written: dict[str, list[bytes]] = {}
        scene_check = SceneCheck(self.errors, loc)

        def read_list(at: Loc) -> None:
            written[str(at[-1])] = self._scene_list(at, scene_check)

        fields = self._object(loc, _WHOLE["scenes"], dict.fromkeys(_SCENE_LISTS, read_list))
        if fields is None:
            return
        for key in _SCENE_LISTS.keys() - written.keys():
            error = {"type": "missing", "loc": ("body", *loc, key), "msg": "Field required"}
            self.errors.append({**error, "input": fields})
        self.errors.stop_if_full()
        scene = self._valid(s.StudioSceneFields, fields, loc)
        if scene is None or self.errors:
            return
        content = ",".join(
            f'"{key}":[' + b",".join(part for part in written[key] if part).decode() + "]"
            for key in _SCENE_LISTS
        )
        self.doc.scenes.append(scene.model_dump_json()[:-1] + ',"content":{' + content + "}}")
        self.doc.scene_keys.append((scene.id, scene.name))

    def _scene_list(self, loc: Loc, check: SceneCheck) -> list[bytes]:
        """One of a scene's lists, checked, as the JSON its content holds (without brackets)."""
        key = str(loc[-1])
        adapter, written = _SCENE_LISTS[key], []

        def take(first: int, items: list[Any]) -> None:
            check.items(key, first, items)
            written.append(adapter.dump_json(items)[1:-1])

        self._list(loc, self.scene_items, Chunks(self.errors, adapter, loc, take))
        return written


def read(body: bytes) -> Document:
    """The document's rows, each point in its slot; a 422 naming the first bad items (FastAPI's
    shape), or a 413 at the first item past a bound. Run it in a worker thread."""
    try:
        doc = _Reading(decoded(body, _STRETCH)).document()
    except RecursionError:
        raise not_json("nested too deeply", 0) from None
    except ValueError as exc:  # json's JSONDecodeError, or a number of too many digits
        raise not_json(getattr(exc, "msg", str(exc)), getattr(exc, "pos", 0)) from None
    check(doc)
    doc.rows["port_electrical"] = [
        (value.port_id, value.level and value.level.value, value.phantom, value.phantom_safe)
        for _, value in doc.electrical
        if (value.level, value.phantom, value.phantom_safe) != _NO_VALUES
    ]
    slots = {point: slot for _, point, slot in doc.slots}
    points = doc.rows["patchbay_points"]
    points[:] = [(*point, *slots.get(point[0], _NO_SLOT)) for point in points]
    doc.written = {
        table: json_objects(columns, doc.rows[table]) for table, columns in COLUMNS.items()
    }
    doc.written["scenes"] = "[" + ",".join(doc.scenes) + "]"
    return doc


_NO_SLOT = (None, None, None)
_NO_VALUES = tuple(ELECTRICAL_DEFAULTS.values())  # level, phantom, phantom_safe
