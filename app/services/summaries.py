"""One line per history entry, naming things by name (SPEC D5): "Linked Juno-106 OUT L to Bay A
3T". Worked out from the entry's changes and the names PostgreSQL kept at its commit, so it
can name things deleted since. An entry too large to read row by row (an import) is told by
how many rows of each kind it added, replaced, changed and removed: "Added 20,000 points"."""

import json
from collections import defaultdict
from typing import Any

from app.models import ELECTRICAL_DEFAULTS

# At most this many phrases, then "and N more changes".
MAX_PHRASES = 3

Change = dict[str, Any]

# Each table the history records and its primary key (migrations 0008 and 0010); parents first.
KEYS = {
    "devices": ("id",),
    "bays": ("id",),
    "bay_channels": ("bay_id", "number"),
    "patchbay_points": ("id",),
    "ports": ("id",),
    "port_electrical": ("port_id",),
    "cables": ("id",),
    "cable_ends": ("cable_id", "end_number"),
    "scenes": ("id",),
}
# Columns that only grow, whatever a revert or an import says: a device's highest port number
# (port ids are never given out twice).
ONLY_GROW = {"devices": "last_port_number"}


class Names:
    """Names of what an entry refers to: those kept at the commit, and those in the rows the
    entry itself deleted or changed."""

    def __init__(self, names: dict[str, dict[str, Any]], changes: list[Change]) -> None:
        self.points: dict[int, str] = {int(k): v for k, v in names.get("points", {}).items()}
        self.devices: dict[int, str] = {int(k): v for k, v in names.get("devices", {}).items()}
        self.bays: dict[int, str] = {int(k): v for k, v in names.get("bays", {}).items()}
        self.ports: dict[str, tuple[str, str]] = {
            k: (v[0], v[1]) for k, v in names.get("ports", {}).items()
        }
        self.cables: dict[int, list[int]] = {int(k): v for k, v in names.get("cables", {}).items()}
        images = [(c["table"], image) for c in changes for image in (c["before"], c["after"])]
        for table, image in (pair for pair in images if pair[1] is not None):
            if table == "patchbay_points":
                self.points.setdefault(image["id"], image["name"])
            elif table == "devices":
                self.devices.setdefault(image["id"], image["name"])
            elif table == "bays":
                self.bays.setdefault(image["id"], image["name"])
        # A cable's ends from its rows only when it was gone at the commit: a moved plug's
        # rows name both the point it left and the one it went to.
        gone = set()
        for table, image in (pair for pair in images if pair[1] is not None):
            if table == "ports":
                device = self.devices.get(image["device_id"], f"device {image['device_id']}")
                self.ports.setdefault(image["id"], (device, image["label"]))
            elif table == "cable_ends" and (
                image["cable_id"] in gone or image["cable_id"] not in self.cables
            ):
                gone.add(image["cable_id"])
                ends = self.cables.setdefault(image["cable_id"], [])
                if image["point_id"] not in ends:
                    ends.append(image["point_id"])

    def point(self, point_id: int | None) -> str:
        return self.points.get(point_id, f"point {point_id}") if point_id is not None else "-"

    def port(self, port_id: str) -> str:
        device, label = self.ports.get(port_id, ("", port_id))
        return f"{device} {label}".strip()

    def device_of_port(self, port_id: str, device_id: int) -> str:
        return self.ports.get(port_id, (self.devices.get(device_id, ""), ""))[0]

    def bay(self, bay_id: int) -> str:
        return self.bays.get(bay_id, f"bay {bay_id}")

    def cable(self, cable_id: int) -> str:
        """Where the cable goes: "between Bay A 1T and Bay B 2B"."""
        ends = self.cables.get(cable_id, [])
        if len(ends) != 2:
            return f"number {cable_id}"
        return f"between {self.point(ends[0])} and {self.point(ends[1])}"


def _quoted(value: str | None) -> str:
    return "none" if value is None else f'"{value}"'


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _ports(changes: list[Change], names: Names, folded: set[int]) -> list[str]:
    phrases: list[str] = []
    for change in changes:
        before, after = change["before"], change["after"]
        port = names.port(change["key"])
        if change["op"] == "insert" and after["device_id"] not in folded:
            phrases.append(f"Added port {port}")
        elif change["op"] == "delete" and before["device_id"] not in folded:
            phrases.append(f"Removed port {port}")
        elif change["op"] == "update":
            old, new = before["patchbay_id"], after["patchbay_id"]
            if old != new and new is None:
                phrases.append(f"Unlinked {port} from {names.point(old)}")
            elif old != new and old is None:
                phrases.append(f"Linked {port} to {names.point(new)}")
            elif old != new:
                phrases.append(f"Moved {port} from {names.point(old)} to {names.point(new)}")
            if before["label"] != after["label"]:
                device = names.device_of_port(change["key"], after["device_id"])
                old_name = f"{device} {before['label']}".strip()
                phrases.append(f"Renamed port {old_name} to {after['label']}")
            if before["type"] != after["type"]:
                phrases.append(f"Changed the type of port {port} to {after['type']}")
    # A take-over reads best with the link first.
    return sorted(phrases, key=lambda phrase: phrase.startswith("Unlinked"))


def _devices(changes: list[Change], ports: list[Change]) -> tuple[list[str], set[int]]:
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for port in ports:
        image = port["after"] or port["before"]
        counts[(port["op"], image["device_id"])] += 1
    phrases, folded = [], set()
    for change in changes:
        before, after = change["before"], change["after"]
        if change["op"] in ("insert", "delete"):
            device = after or before
            folded.add(device["id"])
            n = counts[(change["op"], device["id"])]
            verb = "Added" if change["op"] == "insert" else "Removed"
            phrases.append(
                f"{verb} device {device['name']}" + (f" with {_count(n, 'port')}" if n else "")
            )
            continue
        if before["name"] != after["name"]:
            phrases.append(f"Renamed device {before['name']} to {after['name']}")
        if before["type"] != after["type"]:
            phrases.append(f"Changed the type of device {after['name']} to {after['type']}")
    return phrases, folded


def _bays(
    changes: list[Change], channels: list[Change], points: list[Change]
) -> tuple[list[str], set[int]]:
    phrases, folded = [], set()
    for change in changes:
        before, after = change["before"], change["after"]
        bay = after or before
        if change["op"] in ("insert", "delete"):
            folded.add(bay["id"])
            n = sum(1 for c in channels if (c["after"] or c["before"])["bay_id"] == bay["id"])
            jacks = sum(
                1
                for p in points
                if p["op"] == change["op"] and (p["after"] or p["before"])["bay_id"] == bay["id"]
            )
            what = _count(n, "channel") + (f" and {_count(jacks, 'point')}" if jacks else "")
            verb = "Added" if change["op"] == "insert" else "Removed"
            phrases.append(
                f"{verb} bay {bay['name']} ({what})" if n else f"{verb} bay {bay['name']}"
            )
        elif before["name"] != after["name"]:
            phrases.append(f"Renamed bay {before['name']} to {after['name']}")
        elif before["description"] != after["description"]:
            phrases.append(f"Changed the description of bay {after['name']}")
    return phrases, folded


def _channels(changes: list[Change], names: Names, folded: set[int]) -> list[str]:
    modes: dict[tuple[int, str], list[int]] = defaultdict(list)
    phrases = []
    for change in changes:
        channel = change["after"] or change["before"]
        if channel["bay_id"] in folded:
            continue
        if change["op"] == "update":
            modes[(channel["bay_id"], channel["mode"])].append(channel["number"])
        else:
            verb = (
                "Added channel {} to {}"
                if change["op"] == "insert"
                else "Removed channel {} from {}"
            )
            phrases.append(verb.format(channel["number"], names.bay(channel["bay_id"])))
    for (bay, mode), numbers in modes.items():
        numbers.sort()
        span = (
            f"channel {numbers[0]}"
            if len(numbers) == 1
            else f"channels {numbers[0]}-{numbers[-1]}"
            if numbers == list(range(numbers[0], numbers[-1] + 1))
            else f"{len(numbers)} channels"
        )
        phrases.append(f"Set {names.bay(bay)} {span} to {mode}")
    return phrases


def _slot(image: dict[str, Any], names: Names) -> str:
    row = "T" if image["bay_row"] == "top" else "B"
    return f"{names.bay(image['bay_id'])} {image['bay_channel']}{row}"


def _points(changes: list[Change], names: Names, folded: set[int]) -> list[str]:
    added = [c for c in changes if c["op"] == "insert" and c["after"]["bay_id"] not in folded]
    removed = [c for c in changes if c["op"] == "delete" and c["before"]["bay_id"] not in folded]
    phrases = _added_and_removed(added, removed, "point")
    for change in (c for c in changes if c["op"] == "update"):
        before, after = change["before"], change["after"]
        if (
            before["bay_id"] != after["bay_id"]
            or before["bay_channel"] != after["bay_channel"]
            or before["bay_row"] != after["bay_row"]
        ):
            if after["bay_id"] is None:
                phrases.append(f"Took {after['name']} out of {_slot(before, names)}")
            else:
                phrases.append(f"Put {after['name']} in {_slot(after, names)}")
        if before["name"] != after["name"]:
            phrases.append(f"Renamed point {before['name']} to {after['name']}")
        elif (before["description"], before["type"]) != (after["description"], after["type"]):
            phrases.append(f"Changed point {after['name']}")
    return phrases


def _added_and_removed(added: list[Change], removed: list[Change], word: str) -> list[str]:
    """Each row by name, or how many when there are more than two."""
    phrases = []
    for verb, group, side in (("Added", added, "after"), ("Removed", removed, "before")):
        if len(group) > 2:
            phrases.append(f"{verb} {_count(len(group), word)}")
        phrases += [f"{verb} {word} {c[side]['name']}" for c in group if len(group) <= 2]
    return phrases


def _scenes(changes: list[Change]) -> list[str]:
    """Scenes change with the state only in an import or a revert (migration 0010)."""
    added = [c for c in changes if c["op"] == "insert"]
    removed = [c for c in changes if c["op"] == "delete"]
    phrases = _added_and_removed(added, removed, "scene")
    for change in (c for c in changes if c["op"] == "update"):
        before, after = change["before"], change["after"]
        if before["name"] != after["name"]:
            phrases.append(f"Renamed scene {before['name']} to {after['name']}")
        elif any(before[k] != after[k] for k in ("description", "content", "updated_at")):
            phrases.append(f"Changed scene {after['name']}")
    return phrases


def _electrical(changes: list[Change], names: Names) -> list[str]:
    """What changed of ports' electrical values; a device with more than two ports changed is
    one phrase."""
    by_device: dict[str, list[str]] = defaultdict(list)
    for change in changes:
        by_device[names.ports.get(change["key"], ("", ""))[0]].append(change["key"])
    phrases = []
    for device, ports in by_device.items():
        if len(ports) > 2 and device:
            phrases.append(f"Set the electrical values of {len(ports)} ports of {device}")
            continue
        for change in (c for c in changes if c["key"] in ports):
            before = change["before"] or ELECTRICAL_DEFAULTS
            after = change["after"] or ELECTRICAL_DEFAULTS
            port = names.port(change["key"])
            if before["level"] != after["level"]:
                level = after["level"]
                said = f"{port}'s level to unknown" if level is None else f"{port} to {level} level"
                phrases.append(f"Set {said}")
            if before["phantom"] != after["phantom"]:
                phrases.append(
                    f"Turned phantom power {'on' if after['phantom'] else 'off'} for {port}"
                )
            if before["phantom_safe"] != after["phantom_safe"]:
                safe = "phantom-safe" if after["phantom_safe"] else "phantom-unsafe"
                phrases.append(f"Marked {port} {safe}")
    return phrases


def _rekeyed(changes: list[Change], names: Names) -> list[str]:
    """Rows whose key was changed (in pgAdmin)."""
    phrases = []
    for change in (c for c in changes if c["op"] == "update" and c["table"] in _WORDS):
        was, now = (json.loads(_row(change, change[side])[1]) for side in ("before", "after"))
        if was != now:
            table, after = change["table"], change["after"]
            what = names.port(after["id"]) if table == "ports" else after.get("name", "")
            old, new = (", ".join(map(str, key)) for key in (was, now))
            phrases.append(f"Changed the id of {_WORDS[table]} {what} from {old} to {new}")
    return phrases


def _others(changes: list[Change]) -> list[str]:
    """Rows of a table this module does not know (yet), counted."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for change in changes:
        counts[(change["op"], change["table"])] += 1
    verbs = {"insert": "Added", "update": "Changed", "delete": "Removed"}
    return [f"{verbs[op]} {_count(n, table + ' row')}" for (op, table), n in counts.items()]


def _cables(changes: list[Change], ends: list[Change], names: Names) -> list[str]:
    phrases = []
    moved = {end["before"]["cable_id"] for end in ends if end["op"] == "update"}
    for change in changes:
        cable = names.cable(change["key"])
        before, after = change["before"], change["after"]
        if change["op"] == "insert":
            phrases.append(f"Plugged a cable {cable}")
        elif change["op"] == "delete":
            phrases.append(f"Unplugged the cable {cable}")
        elif changed := [
            column for column in ("label", "color") if before[column] != after[column]
        ]:
            text = " and ".join(f"{column} to {_quoted(after[column])}" for column in changed)
            phrases.append(f"Changed the cable {cable}: {text}")
    phrases += [f"Moved a plug of the cable {names.cable(c)}" for c in sorted(moved)]
    return phrases


def _row(change: Change, image: dict[str, Any]) -> tuple[str, str]:
    """Which row an image is of: its table and primary key (a change's recorded key is the
    key after it, which an UPDATE of the key makes differ from the key before)."""
    table = change["table"]
    return table, row_key(table, image) if table in KEYS else json.dumps(change["key"])


def row_key(table: str, image: dict[str, Any]) -> str:
    """A hashable key for a row of a table in KEYS, whatever its primary key's columns."""
    return json.dumps([image[column] for column in KEYS[table]])


def net(changes: list[Change]) -> list[Change]:
    """Each row's change over the whole entry (its first `before`, its last `after`), in the
    order the rows were first touched, followed through changes of its key; rows that ended as
    they began are left out."""
    rows: list[Change] = []
    now: dict[tuple[str, str], int] = {}  # the row a key names at this point of the entry
    for change in changes:
        before, after = change["before"], change["after"]
        place = now.pop(_row(change, before or after), None)
        if place is None:
            rows.append(change)
            place = len(rows) - 1
        else:
            rows[place] = {**change, "before": rows[place]["before"]}
        now[_row(change, after or before)] = place
    kept = [{**change} for change in rows if change["before"] != change["after"]]
    for change in kept:
        change["op"] = (
            "insert"
            if change["before"] is None
            else "delete"
            if change["after"] is None
            else "update"
        )
    return kept


def summarize(entry: dict[str, Any]) -> str:
    """One line for the entry: its first phrases, and how many more there are."""
    names = Names(entry["names"], entry["changes"])
    changes = net(entry["changes"])

    def of(table: str) -> list[Change]:
        return [change for change in changes if change["table"] == table]

    devices, folded_devices = _devices(of("devices"), of("ports"))
    bays, folded_bays = _bays(of("bays"), of("bay_channels"), of("patchbay_points"))
    phrases = [
        *_rekeyed(changes, names),
        *_ports(of("ports"), names, folded_devices),
        *_electrical(of("port_electrical"), names),
        *devices,
        *_cables(of("cables"), of("cable_ends"), names),
        *_channels(of("bay_channels"), names, folded_bays),
        *bays,
        *_points(of("patchbay_points"), names, folded_bays),
        *_scenes(of("scenes")),
        *_others([change for change in changes if change["table"] not in KEYS]),
    ]
    text = "; ".join(phrases[:MAX_PHRASES]) or "No change"
    if len(phrases) > MAX_PHRASES:
        text += f"; and {_count(len(phrases) - MAX_PHRASES, 'more change')}"
    return _headed(entry, text)


def _headed(entry: dict[str, Any], text: str) -> str:
    if entry.get("reverts") is not None:
        return f"Revert of revision {entry['reverts']}: {text}"
    return text


# --- Large entries ------------------------------------------------------------------------------
# What a large entry's rows are called, in the order its summary names them.
_WORDS = {
    "bays": "bay",
    "bay_channels": "channel",
    "patchbay_points": "point",
    "devices": "device",
    "ports": "port",
    "port_electrical": "electrical setting",
    "cables": "cable",
    "cable_ends": "plug",
    "scenes": "scene",
}
# How each row ended (history.py counts them in SQL), in the order the summary names them:
# made, deleted and made again with the same key (what an import does), updated, deleted.
_VERBS = {"added": "Added", "replaced": "Replaced", "changed": "Changed", "removed": "Removed"}


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def summarize_counts(entry: dict[str, Any]) -> str:
    """One line for an entry too large to read row by row, from how many rows of each table
    it added, replaced, changed and removed: "Added 20,000 points; removed 12 cables"."""
    counts = {(table, verb): int(n) for table, verb, n in entry["counts"] or []}
    tables = [*_WORDS, *sorted({table for table, _ in counts} - set(_WORDS))]
    phrases: list[str] = []
    for verb, said in _VERBS.items():
        # A cable's plugs go with it.
        listed = [
            _count(counts[(table, verb)], _WORDS.get(table, table + " row"))
            for table in tables
            if (table, verb) in counts
            and not (table == "cable_ends" and ("cables", verb) in counts)
        ]
        if listed:
            phrases.append(f"{said if not phrases else said.lower()} {_listed(listed)}")
    return _headed(entry, "; ".join(phrases) or "No change")
