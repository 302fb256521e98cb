"""Planning a patch-list import (SPEC D6): the rows matched to the studio as one statement
read it (app/services/patch_list_import.py), every check (a 422 naming row and column), what to
create under provisional keys, and what changes. Nothing is written here: a dry run answers the
plan, a real run writes it.

Rows are matched to what exists so that importing a studio's own export changes nothing, and
importing it into an empty studio rebuilds it:

- bays by name, and a row's slot by (bay, channel, row); a bay row with an empty point cell is an
  empty slot (it makes the channel, with its mode, and no point);
- loose points by name: the k-th row of a name is the k-th loose point of that name, by id;
- devices by name and number (`Synth [2]`, see `patch_list`); ports by label within their
  device: a row takes the port of that label already on its point, else the next one of that
  label not taken by another row (in creation order), else a new one;
- a cable by its two points, in either order; a row whose cable label differs relabels it.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.core.errors import (
    ITEM_CABLE_TO_ITSELF,
    ITEM_JACK_PATCHED,
    PORT_NUMBERS_USED_UP,
    Conflict,
)
from app.models.bay import NormallingMode
from app.schemas.common import INT32_MAX
from app.services.patch_list import Row, bad_cell, device_cell

_DEFAULT_MODE = NormallingMode.HALF_NORMAL.value  # a new bay's, as POST /bays makes it


# Until it is written, a thing the plan makes is known by NEW + its place among the new things
# of its kind: never an id, which is a PostgreSQL integer (pgAdmin may type in any, negative
# ones too). Plain ints rather than objects: the garbage collector walks every object that can
# hold others, and a plan of 20,000 rows made of them stalled it (and /health) for 0.2 s.
NEW = 2**32
PortKey = str | int  # a port's id, or NEW + n for a new port
K = TypeVar("K")


def _the_one(pairs: Iterable[tuple[K, int]]) -> dict[K, int | None]:
    """The value of each key, None for a key that comes more than once."""
    found: dict[K, int | None] = {}
    for key, value in pairs:
        found[key] = None if key in found else value
    return found


def _pair(a: int, b: int) -> tuple[int, int]:
    """A cable's two points, in either order."""
    return (a, b) if a < b else (b, a)


@dataclass
class Made:
    """What a plan writes; new things in the order they are made (their keys less NEW)."""

    bays: list[str] = field(default_factory=list)
    channels: list[tuple[int, int, str]] = field(default_factory=list)  # of new bays, with modes
    modes: list[tuple[int, int, str]] = field(default_factory=list)  # changed, of other bays
    points: list[tuple[str, str, tuple[int, int, str] | None]] = field(default_factory=list)
    devices: list[tuple[str, str]] = field(default_factory=list)  # name, type
    # device, number, label, type, point
    ports: list[tuple[int, int, str, str, int | None]] = field(default_factory=list)
    last_numbers: dict[int, int] = field(default_factory=dict)  # of devices given new ports
    links: dict[str, int | None] = field(default_factory=dict)  # ports that move or lose theirs
    cables: list[tuple[int, int, str]] = field(default_factory=list)
    labels: list[tuple[int, str, str | None]] = field(default_factory=list)  # id, label, color


class Plan:
    """One import worked out against the studio as read: what to make and change, and what to
    answer. Nothing is written here."""

    def __init__(self, studio: dict[str, Any]) -> None:
        self.bays: dict[str, tuple[int, set[int]]] = {
            name: (bay, set(numbers)) for name, (bay, numbers) in studio["bays"].items()
        }
        self.modes: dict[tuple[int, int], str] = {(b, n): m for b, n, m in studio["modes"]}
        self.slots: dict[tuple[int, int, str], int] = {}
        self.loose: dict[str, list[int]] = {}  # by id
        self.names: dict[int, str] = {}
        for pid, name, bay, channel, jack in studio["points"]:
            self.names[pid] = name
            if bay is None:
                self.loose.setdefault(name, []).append(pid)
            else:
                self.slots[(bay, channel, jack)] = pid
        self.devices: dict[tuple[str, int], int] = {}  # by name and number
        self.cell_of: dict[int, str] = {}
        self.port_numbers: dict[int, int] = {}  # the highest each device gave out
        for device, name, number, highest in studio["devices"]:
            self.devices[(name, number)] = device
            self.cell_of[device] = device_cell(name, number)
            self.port_numbers[device] = highest
        self.ports: dict[tuple[int, str], list[PortKey]] = defaultdict(list)  # creation order
        self.port_point: dict[PortKey, int | None] = {}
        self.key_of: dict[PortKey, tuple[int, str]] = {}  # port -> (device, label)
        for port, device, label, point in studio["ports"]:
            self.ports[(device, label)].append(port)
            self.port_point[port] = point
            self.key_of[port] = (device, label)
        self.cables: dict[tuple[int, int], tuple[int | None, str]] = {
            _pair(a, b): (cable, label) for a, b, cable, label, _ in studio["cables"]
        }
        self.colors = {cable: color for *_, cable, _, color in studio["cables"]}
        self.plugged = {point for pair in self.cables for point in pair}
        self.made = Made()
        self.created: dict[str, list[Any]] = {
            k: [] for k in ("bays", "patchbay_points", "devices", "ports", "links", "cables")
        }
        self.changed: dict[str, list[Any]] = {
            k: [] for k in ("modes", "unlinked", "moved", "cables")
        }

    def bays_for(self, rows: list[Row]) -> None:
        wanted: dict[str, list[Row]] = {}
        for row in rows:
            if row.bay:
                wanted.setdefault(row.bay, []).append(row)
        for name, in_bay in wanted.items():
            if name not in self.bays:
                needed = max(row.channel for row in in_bay)
                key = NEW + len(self.made.bays)
                self.made.bays.append(name)
                self.bays[name] = (key, set(range(1, needed + 1)))
                self.modes.update({(key, n): _DEFAULT_MODE for n in range(1, needed + 1)})
                self.created["bays"].append({"name": name, "channels": needed})
            bay, numbers = self.bays[name]
            for row in in_bay:
                if row.channel not in numbers:
                    shown = ", ".join(map(str, sorted(numbers))) or "none"
                    message = f"bay {name} has no channel {row.channel} (its channels: {shown})"
                    raise bad_cell(row.number, "channel", message, row.channel)
            changes = {
                (bay, row.channel): row.mode.value
                for row in in_bay
                if row.mode is not None and self.modes[(bay, row.channel)] != row.mode.value
            }
            self.modes.update(changes)
            if bay >= NEW:  # a new bay's modes are part of making it
                self.made.channels += [(bay, n, self.modes[(bay, n)]) for n in sorted(numbers)]
            else:
                self.made.modes += [(bay, n, mode) for (_, n), mode in changes.items()]
                self.changed["modes"] += [
                    {"bay": name, "channel": n, "mode": mode} for (_, n), mode in changes.items()
                ]

    def points_for(self, rows: list[Row]) -> dict[int, int | None]:
        """The point of each row (by row number), new ones in the rows' order; None for an
        empty slot."""
        found: dict[int, int | None] = {}
        taken: dict[str, int] = defaultdict(int)  # loose points of a name used so far
        for row in rows:
            place: tuple[int, int, str] | None = None
            if row.bay:
                place = (self.bays[row.bay][0], row.channel, row.jack)
                if place in self.slots or not row.point:
                    found[row.number] = self.slots.get(place)
                    continue
            else:
                nth, taken[row.point] = taken[row.point], taken[row.point] + 1
                same_name = self.loose.get(row.point, [])
                if nth < len(same_name):
                    found[row.number] = same_name[nth]
                    continue
            point = found[row.number] = NEW + len(self.made.points)
            self.made.points.append((row.point, row.description, place))
            self.names[point] = row.point
            if place is not None:
                self.slots[place] = point
            self.created["patchbay_points"].append(row.point)
        return found

    def devices_for(self, rows: list[Row]) -> None:
        """The devices the rows name that the studio lacks, with their types (a new device's
        first row gives it), by name in the order the rows first name them, then by number;
        each new number goes on from the studio's devices of that name."""
        new: dict[str, dict[int, Row]] = {}  # by name, then number: the device's first row
        for row in rows:
            named = (row.device, row.device_number)
            if not row.device or named in self.devices:
                continue
            if row.device_number not in new.setdefault(row.device, {}):
                if not row.device_type:
                    raise bad_cell(row.number, "device type", "a new device needs a type", "")
                new[row.device][row.device_number] = row
        had = Counter(name for name, _ in self.devices)
        for name, numbered in new.items():
            for expected, number in enumerate(sorted(numbered), start=had[name] + 1):
                row = numbered[number]
                if number != expected:
                    message = f"no such device: the next new one of this name is {expected}"
                    raise bad_cell(row.number, "device", message, row.device_cell)
                key = NEW + len(self.made.devices)
                self.made.devices.append((name, row.device_type))
                self.devices[(name, number)] = key
                self.port_numbers[key] = 0
                self.cell_of[key] = row.device_cell
                self.created["devices"].append({"name": name, "type": row.device_type})

    def ports_for(self, rows: list[Row], points: dict[int, int | None]) -> None:
        """The port of each row that names one (a new one where none fits), and the links to
        make. Linear in the rows, whatever they repeat."""
        self.devices_for(rows)
        wired = [row for row in rows if row.port]
        holders = {point: port for port, point in self.port_point.items() if point is not None}
        chosen: dict[int, PortKey] = {}
        taken: set[PortKey] = set()
        # First the rows whose point already holds their port (same device, same label)...
        for row in wired:
            port = holders.get(points[row.number] or 0)
            key = (self.devices[(row.device, row.device_number)], row.port)
            if port is not None and port not in taken and self.key_of[port] == key:
                chosen[row.number] = port
                taken.add(port)
        # ...then the others, each the next port of its label that no row took, or a new one.
        free = {key: iter(ports) for key, ports in self.ports.items()}
        for row in wired:
            if row.number in chosen:
                continue
            key = (self.devices[(row.device, row.device_number)], row.port)
            port = next((p for p in free.get(key, iter(())) if p not in taken), None)
            if port is None:
                if row.port_type is None:
                    raise bad_cell(row.number, "port type", "a new port needs a type", "")
                port = NEW + len(self.made.ports)
                number = self._port_number(key[0])
                kind = row.port_type.value
                self.made.ports.append((key[0], number, row.port, kind, points[row.number]))
                self.created["ports"].append({"device": row.device_cell, "label": row.port})
            chosen[row.number] = port
            taken.add(port)
        self._links(wired, chosen, points, holders)

    def _port_number(self, device: int) -> int:
        """The number of a new port of the device (`dev-{device}-port-{n}`): the next after
        the highest it gave out; 409 past PostgreSQL's integers (a number typed in by hand)."""
        number = self.port_numbers[device] + 1
        if number > INT32_MAX:
            raise Conflict(PORT_NUMBERS_USED_UP)
        self.port_numbers[device] = number
        if device < NEW:
            self.made.last_numbers[device] = number
        return number

    def _links(
        self,
        wired: list[Row],
        chosen: dict[int, PortKey],
        points: dict[int, int | None],
        holders: dict[int, PortKey],
    ) -> None:
        """Each chosen port to its row's point: the ports that move, and those that lose their
        point to another (freed, and reported)."""
        wanted: list[int] = []
        for row in wired:
            port, point = chosen[row.number], points[row.number]
            assert point is not None, "a row with a port names its point"
            now = self.port_point.get(port)
            if now == point:
                continue
            wanted.append(point)
            if isinstance(port, str):
                self.made.links[port] = point
            shown = {"device": row.device_cell, "port": row.port}
            self.created["links"].append({**shown, "point": row.point})
            if now is not None:
                self.changed["moved"].append({**shown, "point": self.names[now], "to": row.point})
        losers = {holders[p] for p in wanted if p in holders} - set(self.made.links)
        for port in sorted(str(port) for port in losers):
            device, label = self.key_of[port]
            point = self.port_point[port]
            assert point is not None, "a port that loses its point had one"
            self.made.links[port] = None
            self.changed["unlinked"].append(
                {"device": self.cell_of[device], "port": label, "point": self.names[point]}
            )

    def cables_for(self, rows: list[Row], points: dict[int, int | None]) -> None:
        """The cables the rows name that are missing, and those whose label differs. A cable is
        on the rows of both its points, which must agree on its label."""
        other_end = self._cable_ends(rows, points)
        given: dict[tuple[int, int], str] = {}
        for row in rows:
            point = points[row.number]
            if not row.cable_to or point is None:
                continue
            other = other_end(row, point)
            if other == point:
                raise bad_cell(row.number, "cable to", ITEM_CABLE_TO_ITSELF, row.cable_to)
            pair = _pair(point, other)
            if pair in given:
                if given[pair] != row.cable_label:
                    message = "the row of the cable's other end gives it another label"
                    raise bad_cell(row.number, "cable label", message, row.cable_label)
                continue
            given[pair] = row.cable_label
            shown = {"points": (row.point, row.cable_to), "label": row.cable_label}
            if pair in self.cables:
                cable, label = self.cables[pair]
                if label != row.cable_label and cable is not None:
                    self.made.labels.append((cable, row.cable_label, self.colors[cable]))
                    self.changed["cables"].append(shown)
                continue
            if point in self.plugged or other in self.plugged:
                raise bad_cell(row.number, "cable to", ITEM_JACK_PATCHED, row.cable_to)
            self.made.cables.append((point, other, row.cable_label))
            self.cables[pair] = (None, row.cable_label)
            self.plugged.update(pair)
            self.created["cables"].append(shown)

    def _cable_ends(
        self, rows: list[Row], points: dict[int, int | None]
    ) -> Callable[[Row, int], int]:
        """How a row's `cable to` finds the other end: the point its cable goes to now, if that
        has the name; else the row of that name (of several, the one whose cable comes back);
        else the studio's only point of that name. 422 when it names no single point. Each a
        lookup, whatever the rows repeat."""
        placed = [(row, point) for row in rows if (point := points[row.number]) is not None]
        by_name = _the_one((row.point, point) for row, point in placed)
        coming_back = _the_one(((row.point, row.cable_to), point) for row, point in placed)
        only = _the_one((name, pid) for pid, name in self.names.items())
        plugged_to: dict[int, int] = {}
        for a, b in self.cables:
            plugged_to[a], plugged_to[b] = b, a

        def other_end(row: Row, point: int) -> int:
            now = plugged_to.get(point)
            if now is not None and self.names.get(now) == row.cable_to:
                return now
            end = by_name[row.cable_to] if row.cable_to in by_name else only.get(row.cable_to)
            if row.cable_to in by_name and end is None:
                end = coming_back.get((row.cable_to, row.point))
            if end is None:
                raise bad_cell(row.number, "cable to", "names no single point", row.cable_to)
            return end

        return other_end
