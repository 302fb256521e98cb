"""What JSON Schema cannot say about a studio document (SPEC D4, D6): ids unique, references
resolved, one slot per point, one port and one plug per jack, and scenes that can be applied.
A 422 names the item, as Pydantic's do."""

from typing import TYPE_CHECKING, Any

from app.core.errors import (
    ITEM_CABLE_TO_ITSELF,
    ITEM_JACK_PATCHED,
    Invalid,
)
from app.schemas.scene import SceneCable, SceneLink
from app.services.electrical import refuse_impossible
from app.services.json_pieces import Errors, Loc

if TYPE_CHECKING:
    from app.services.studio_document import Document

# The `msg` of a 422 naming an item that breaks a rule across items (beside the checks, as
# Pydantic's stand beside the schemas; those the patch list shares are in app/core/errors.py).
NOT_A_POINT = "not a point of this document"
NOT_A_PORT = "not a port of this document"
IN_A_SLOT = "point already in a slot"
PORT_TWICE = "port id appears twice"
HELD = "point already held by a port"
CHANNEL_TWICE = "channel appears twice"


class SceneCheck:
    """What a scene must hold to be applied (SPEC D4): each port and each point once among its
    links, each jack once among its cables and never both ends of one, each channel once among
    its modes. The item is named in the 422."""

    def __init__(self, errors: Errors, loc: Loc) -> None:
        self.errors, self.loc = errors, loc
        self.seen: dict[str, set[Any]] = {"ports": set(), "points": set(), "jacks": set()}
        self.seen["channels"] = set()

    def items(self, key: str, first: int, items: list[Any]) -> None:
        for n, item in enumerate(items, start=first):
            where = (*self.loc, key, n)
            if isinstance(item, SceneLink):
                self._once("ports", item.port_id, (*where, "port_id"), PORT_TWICE)
                if item.patchbay_id is not None:
                    self._once("points", item.patchbay_id, (*where, "patchbay_id"), HELD)
            elif isinstance(item, SceneCable):
                if item.points[0] == item.points[1]:
                    self.errors.note((*where, "points"), ITEM_CABLE_TO_ITSELF, item.points)
                    continue
                for e, point in enumerate(item.points):
                    self._once("jacks", point, (*where, "points", e), ITEM_JACK_PATCHED)
            else:
                channel = (item.bay_id, item.channel)
                self._once("channels", channel, (*where, "channel"), CHANNEL_TWICE)

    def _once(self, kind: str, value: Any, loc: Loc, msg: str) -> None:
        if value in self.seen[kind]:
            self.errors.note(loc, msg, value)
        self.seen[kind].add(value)


def _once(values: list[Any], loc: tuple[str, str], what: str) -> None:
    """422 naming the first item that repeats a value that must be unique."""
    seen: set[Any] = set()
    for n, value in enumerate(values):
        if value in seen:
            raise Invalid(("body", loc[0], n, loc[1]), f"{what} {value!r} appears twice", value)
        seen.add(value)


def _known(points: set[int], point: int | None, loc: Loc) -> None:
    if point is not None and point not in points:
        raise Invalid(("body", *loc), NOT_A_POINT, point)


def check(doc: "Document") -> None:
    """What JSON Schema cannot say about a document: ids unique, references resolved, each
    point in one slot, holding one port and one plug at most. 422 naming the item."""
    rows = doc.rows
    _once(doc.ids("bays"), ("bays", "id"), "bay id")
    _once([bay[1] for bay in rows["bays"]], ("bays", "name"), "bay name")
    _once(doc.ids("patchbay_points"), ("patchbay_points", "id"), "point id")
    _once(doc.ids("devices"), ("devices", "id"), "device id")
    _once(doc.ids("cables"), ("cables", "id"), "cable id")
    _once([scene[0] for scene in doc.scene_keys], ("scenes", "id"), "scene id")
    _once([scene[1] for scene in doc.scene_keys], ("scenes", "name"), "scene name")
    points = set(doc.ids("patchbay_points"))
    slotted: set[int] = set()
    for loc, point, _ in doc.slots:
        _known(points, point, loc)
        if point in slotted:
            raise Invalid(("body", *loc), IN_A_SLOT, point)
        slotted.add(point)
    ports: set[str] = set()
    held: set[int] = set()
    for (port, _, _, _, point, _), (d, p) in zip(rows["ports"], doc.port_places, strict=True):
        loc = ("devices", d, "ports", p)
        if port in ports:
            raise Invalid(("body", *loc, "id"), PORT_TWICE, port)
        ports.add(port)
        _known(points, point, (*loc, "patchbay_id"))
        if point in held:
            raise Invalid(("body", *loc, "patchbay_id"), HELD, point)
        if point is not None:
            held.add(point)
    _check_electrical(doc)
    plugged: set[int] = set()
    ends = rows["cable_ends"]
    for n in range(0, len(ends), 2):
        loc = ("cables", n // 2, "points")
        pair = (ends[n][2], ends[n + 1][2])
        if pair[0] == pair[1]:
            raise Invalid(("body", *loc), ITEM_CABLE_TO_ITSELF, list(pair))
        for e, point in enumerate(pair):
            _known(points, point, (*loc, e))
            if point in plugged:
                raise Invalid(("body", *loc, e), ITEM_JACK_PATCHED, point)
            plugged.add(point)


def _check_electrical(doc: "Document") -> None:
    """Each item names a port of the document, once, with values its type can have."""
    types = {port[0]: port[3] for port in doc.rows["ports"]}
    seen: set[str] = set()
    for n, value in doc.electrical:
        loc = ("body", "electrical", n)
        if value.port_id not in types:
            raise Invalid((*loc, "port_id"), NOT_A_PORT, value.port_id)
        if value.port_id in seen:
            raise Invalid((*loc, "port_id"), PORT_TWICE, value.port_id)
        seen.add(value.port_id)
        refuse_impossible(
            loc, types[value.port_id], phantom=value.phantom, phantom_safe=value.phantom_safe
        )
