"""What feeds what (SPEC D3): nets of points joined by cables and made normals, and the routes
from every output to every input in the same net. Every net Pepper judges is worked out here:
the signal flow, a port's signal, and the checks of patch safety (app/services/checks.py).

The patch is read in one statement (one snapshot): the whole studio, or only the nets of some
points (a region, found by PostgreSQL walking the same edges from those points), so that a
port's signal costs what its own net costs. The nets are worked out in Python: a breadth-first
search over the points, neighbours in id order, so every route takes a shortest path and the
same studio always gives the same answer.
"""

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, TextClause, text

from app.models.bay import NormallingMode
from app.models.port import PortType

# When a channel's top and bottom are joined (SPEC D1): the jacks whose plug breaks the normal,
# or None for never. Both the Python below and the SQL that walks a region read this table.
BREAKS: dict[NormallingMode, tuple[str, ...] | None] = {
    NormallingMode.NORMAL: ("top", "bottom"),
    NormallingMode.HALF_NORMAL: ("bottom",),
    NormallingMode.HALF_NORMAL_TOP: ("top",),
    NormallingMode.PARALLEL: (),
    NormallingMode.THRU: None,
}


def joined(mode: str, top_plugged: bool, bottom_plugged: bool) -> bool:
    """Are a channel's top and bottom jacks joined, given which of them hold a plug?"""
    breaks = BREAKS[NormallingMode(mode)]
    plugged = {"top": top_plugged, "bottom": bottom_plugged}
    return breaks is not None and not any(plugged[row] for row in breaks)


# Does jack (point alias) {} hold a plug?
_PLUGGED = "EXISTS (SELECT FROM cable_ends e WHERE e.point_id = {}.id)".format


def _joined_sql() -> str:
    """`joined` over channel `c` and its jacks `top` and `bottom`, in SQL."""

    def made(breaks: tuple[str, ...] | None) -> str:
        if breaks is None:
            return "false"
        plugged = " OR ".join(_PLUGGED(row) for row in breaks)
        return f"NOT ({plugged})" if plugged else "true"

    cases = " ".join(f"WHEN '{mode.value}' THEN {made(b)}" for mode, b in BREAKS.items())
    return f"CASE c.mode {cases} END"


# A channel `c` with the points in its two slots.
_CHANNELS = """bay_channels c
    JOIN patchbay_points top ON top.bay_id = c.bay_id AND top.bay_channel = c.number
         AND top.bay_row = 'top'
    JOIN patchbay_points bottom ON bottom.bay_id = c.bay_id AND bottom.bay_channel = c.number
         AND bottom.bay_row = 'bottom'"""
# The other jack of point `me`'s channel.
_PARTNER = """patchbay_points me JOIN patchbay_points other ON other.bay_id = me.bay_id
    AND other.bay_channel = me.bay_channel AND other.id <> me.id"""
# The points of the nets of the points named (:points, the ends of :cables, their channels'
# other jacks, the points of :ports, the jacks of the channels (:bays, :channels)): a
# breadth-first walk over cables and made normals, done by PostgreSQL so that only the region
# is read. `around` adds the other jack of each channel the region touches (house normals).
_REGION = f"""
    WITH RECURSIVE seeds(id) AS (
        SELECT unnest(CAST(:points AS integer[]))
        UNION SELECT e.point_id FROM cable_ends e WHERE e.cable_id = ANY(CAST(:cables AS integer[]))
    ), start(id) AS (
        SELECT id FROM seeds
        UNION SELECT other.id FROM seeds JOIN {_PARTNER} ON me.id = seeds.id
        UNION SELECT p.patchbay_id FROM ports p
               WHERE p.id = ANY(CAST(:ports AS text[])) AND p.patchbay_id IS NOT NULL
        UNION SELECT pp.id FROM patchbay_points pp
                JOIN unnest(CAST(:bays AS integer[]), CAST(:channels AS integer[]))
                     AS named(bay, channel)
                  ON pp.bay_id = named.bay AND pp.bay_channel = named.channel
    ), net(id) AS (
        SELECT id FROM start
        UNION
        SELECT next.id FROM net CROSS JOIN LATERAL (
            SELECT b.point_id AS id
              FROM cable_ends a JOIN cable_ends b ON b.cable_id = a.cable_id AND b.end_number <> a.end_number
             WHERE a.point_id = net.id
            UNION ALL
            SELECT CASE me.bay_row WHEN 'top' THEN bottom.id ELSE top.id END
              FROM patchbay_points me
              JOIN {_CHANNELS} ON c.bay_id = me.bay_id AND c.number = me.bay_channel
             WHERE me.id = net.id AND {_joined_sql()}
        ) AS next
    ), around(id) AS (
        SELECT id FROM net UNION SELECT other.id FROM net JOIN {_PARTNER} ON me.id = net.id
    )
"""
_PORTS_COMPACT = "json_build_array(p.id, p.type, p.patchbay_id, p.device_id, p.position)"
_PORTS_DETAILED = """json_build_array(p.id, p.type, p.patchbay_id, p.device_id, p.position,
    d.name || ' ' || p.label, e.level, coalesce(e.phantom, false), coalesce(e.phantom_safe, true))"""
_PORTS_JOINED = """ports p JOIN devices d ON d.id = p.device_id
    LEFT JOIN port_electrical e ON e.port_id = p.id"""


def patch_json(*, region: bool, detailed: bool, unwired: str = "", known: bool = False) -> str:
    """The patch as a JSON object (SQL): `channels` [bay, number, mode, top, bottom (, region:
    top plugged, bottom plugged)], `cables` [id, a, b] by id, `ports` (not `Other`) in /state order
    ([id, type, point, device, position], detailed: + name, level, phantom, phantom_safe),
    detailed: `names` of the points; with `region`, only the region's (after `_REGION`) and its
    points in `region`; with `known` (a region always), what exists of the items a request
    names. The whole patch's ports are those wired to a point, and those that `unwired` (SQL:
    ids) names."""
    inside = "IN (SELECT id FROM {})".format
    where_channel = f"top.id {inside('net')} OR bottom.id {inside('net')}" if region else "true"
    where_cable = f"a.point_id {inside('net')}" if region else "true"
    where_port = (
        f"(p.patchbay_id {inside('around')} OR p.id = ANY(CAST(:ports AS text[])))"
        if region
        else f"(p.patchbay_id IS NOT NULL OR p.id IN ({unwired or 'NULL'}))"
    )
    where_point = (
        f"pp.id {inside('around')} OR pp.id = ANY(CAST(:points AS integer[]))" if region else "true"
    )
    # A region's cables may not reach every plug of its channels' jacks: say which hold one.
    plugs = f", {_PLUGGED('top')}, {_PLUGGED('bottom')}" if region else ""
    fields = {
        "channels": f"""(SELECT coalesce(json_agg(json_build_array(c.bay_id, c.number, c.mode,
            top.id, bottom.id{plugs})), '[]')
            FROM {_CHANNELS} WHERE {where_channel})""",
        "cables": f"""(SELECT coalesce(json_agg(json_build_array(a.cable_id, a.point_id,
            b.point_id) ORDER BY a.cable_id), '[]')
            FROM cable_ends a JOIN cable_ends b ON b.cable_id = a.cable_id AND b.end_number = 2
            WHERE a.end_number = 1 AND {where_cable})""",
        "ports": f"""(SELECT coalesce(json_agg({_PORTS_DETAILED if detailed else _PORTS_COMPACT}
            ORDER BY p.device_id, p.position), '[]')
            FROM {_PORTS_JOINED if detailed else "ports p"}
            WHERE p.type <> 'Other' AND {where_port})""",
    }
    if detailed:
        fields["names"] = f"""(SELECT coalesce(json_object_agg(pp.id, pp.name), '{{}}')
            FROM patchbay_points pp WHERE {where_point})"""
    if region:
        fields["region"] = "(SELECT json_agg(id) FROM net)"
    if region or known:
        fields["known"] = _KNOWN
    return "json_build_object(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"


# The ports a request names, which steps may link though they hold no point now.
_NAMED_PORTS = "SELECT unnest(CAST(:ports AS text[]))"
# What exists of the ports, points and bays (with their channel numbers) a request names.
_KNOWN = """json_build_object(
    'ports', (SELECT coalesce(json_agg(p.id), '[]') FROM ports p
               WHERE p.id = ANY(CAST(:ports AS text[]))),
    'points', (SELECT coalesce(json_agg(pp.id), '[]') FROM patchbay_points pp
                WHERE pp.id = ANY(CAST(:points AS integer[]))),
    'bays', (SELECT coalesce(json_object_agg(b.id, (SELECT coalesce(json_agg(c.number), '[]')
                                                      FROM bay_channels c WHERE c.bay_id = b.id)),
                             '{}')
               FROM bays b WHERE b.id = ANY(CAST(:bays AS integer[]))))"""


def _statement(*, region: bool, detailed: bool, known: bool = False) -> TextClause:
    # SQL text: PostgreSQL builds the JSON, and walks the region, in one snapshot.
    with_region = _REGION if region else ""
    return text(f"""{with_region}
        SELECT revision, {
        patch_json(
            region=region, detailed=detailed, known=known, unwired=_NAMED_PORTS if known else ""
        )
    }::text
          FROM state_revision""")


SNAPSHOT = _statement(region=False, detailed=False)
DETAILED = _statement(region=False, detailed=True)
# The whole patch, and what exists of the items a request names.
DETAILED_KNOWN = _statement(region=False, detailed=True, known=True)
REGION = _statement(region=True, detailed=True)


def read_snapshot(conn: Connection) -> tuple[int, str]:
    """The whole patch as the signal flow sees it, and the revision it reflects."""
    revision, snapshot = conn.execute(SNAPSHOT).one()
    return int(revision), str(snapshot)


def read_region(
    conn: Connection,
    *,
    points: Iterable[int] = (),
    cables: Iterable[int] = (),
    ports: Iterable[str] = (),
    channels: Iterable[tuple[int, int]] = (),
) -> tuple[int, str]:
    """The nets of the points, cables, ports and channels named (detailed), and the revision."""
    named = list(channels)
    params = {
        "points": list(points),
        "cables": list(cables),
        "ports": list(ports),
        "bays": [bay for bay, _ in named],
        "channels": [number for _, number in named],
    }
    revision, snapshot = conn.execute(REGION, params).one()
    return int(revision), str(snapshot)


@dataclass(slots=True)
class Port:
    id: str
    type: str
    point: int | None
    order: tuple[int, int]  # (device, position): /state order, whatever part of it was read
    device: int = 0
    name: str = ""
    level: str | None = None
    phantom: bool = False
    phantom_safe: bool = True
    output: bool = field(init=False)

    def __post_init__(self) -> None:
        self.output = self.type == PortType.OUTPUT


def _port(row: list[Any]) -> Port:
    """A row of `ports`, compact or detailed (see `patch_json`)."""
    port_id, port_type, point, device, position, *details = row
    port = Port(port_id, port_type, point, (device, position), device)
    if details:
        port.name, port.level, port.phantom, port.phantom_safe = details
    return port


class Patch:
    """A patch as read (or as some steps would leave it: app/services/checks.py): channels,
    cables, plugs and ports; the nets follow from it."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.channels = {(row[0], row[1]): list(row[2:5]) for row in snapshot["channels"]}
        self.cables = {cable_id: (a, b) for cable_id, a, b in snapshot["cables"]}
        self.plugged = {point for cable in self.cables.values() for point in cable}
        for _, _, _, top, bottom, *plugs in snapshot["channels"]:
            if plugs:  # a region's: its cables may not reach every plug of its channels' jacks
                self.plugged |= {p for p, plug in zip((top, bottom), plugs, strict=True) if plug}
        self.ports = {row[0]: _port(row) for row in snapshot["ports"]}
        self.names: dict[int, str] = {int(k): v for k, v in snapshot.get("names", {}).items()}
        region = snapshot.get("region")
        self.region = None if region is None else set(region)

    # --- Nets ------------------------------------------------------------------------------
    def graph(self) -> "Graph":
        edges: dict[int, set[int]] = {}
        pairs = list(self.cables.values())
        pairs += [
            (top, bottom)
            for mode, top, bottom in self.channels.values()
            if joined(mode, top in self.plugged, bottom in self.plugged)
        ]
        for a, b in pairs:
            edges.setdefault(a, set()).add(b)
            edges.setdefault(b, set()).add(a)
        return Graph({point: sorted(others) for point, others in edges.items()})

    def wired(self) -> dict[int, list[Port]]:
        """Each point's ports, in /state order."""
        at: dict[int, list[Port]] = {}
        for port in self.ports.values():
            if port.point is not None:
                at.setdefault(port.point, []).append(port)
        return at


@dataclass
class Graph:
    neighbours: dict[int, list[int]]  # in id order

    def paths_from(self, start: int, until: int | None = None) -> dict[int, int | None]:
        """`start`'s net (or as much of it as it takes to reach `until`), each point with the
        point before it on a shortest path."""
        before: dict[int, int | None] = {start: None}
        queue = deque([start])
        while queue and until not in before:
            point = queue.popleft()
            for neighbour in self.neighbours.get(point, ()):
                if neighbour not in before:
                    before[neighbour] = point
                    queue.append(neighbour)
        return before

    def nets(self, points: Iterable[int]) -> Iterator[list[int]]:
        """The nets of these points, each once, its points sorted."""
        seen: set[int] = set()
        for point in points:
            if point not in seen:
                net = self.paths_from(point)
                seen.update(net)
                yield sorted(net)


def via(before: dict[int, int | None], end: int) -> list[int]:
    path = [end]
    while (previous := before[path[-1]]) is not None:
        path.append(previous)
    return path[::-1]


def point_of(port: Port) -> int:
    """The point of a port known to be wired."""
    assert port.point is not None
    return port.point


def in_order(ports: Iterable[Port]) -> list[Port]:
    return sorted(ports, key=lambda port: port.order)


def _route(source: Port, target: Port, path: list[int]) -> dict[str, Any]:
    return {"from_port_id": source.id, "to_port_id": target.id, "via": path}


def signal_flow(snapshot: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Routes from every output to every input of its net, by source then destination in
    /state order, and the nets where two or more outputs meet."""
    patch = Patch(snapshot)
    graph, at = patch.graph(), patch.wired()
    routes: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    # A net is named by its lowest point; its ports are looked up once.
    ports_of_net: dict[int, list[Port]] = {}
    for source in in_order(port for port in patch.ports.values() if port.output):
        before = graph.paths_from(point_of(source))
        net = min(before)
        if net not in ports_of_net:
            ports_of_net[net] = in_order(port for point in before for port in at.get(point, ()))
            outputs = [port.id for port in ports_of_net[net] if port.output]
            if len(outputs) > 1:
                conflicts.append({"port_ids": outputs, "point_ids": sorted(before)})
        routes += [
            _route(source, target, via(before, point_of(target)))
            for target in ports_of_net[net]
            if not target.output
        ]
    return {"routes": routes, "conflicts": conflicts}


def port_signal(snapshot: dict[str, Any], port_id: str) -> dict[str, Any] | None:
    """The routes a port feeds and is fed by (its own net only, each route as `signal_flow`
    finds it); None when there is no such port."""
    if port_id not in snapshot["known"]["ports"]:
        return None
    patch = Patch(snapshot)
    answer: dict[str, Any] = {"port_id": port_id, "feeds": [], "fed_by": []}
    port = patch.ports.get(port_id)
    if port is None or port.point is None:
        return answer
    graph, at = patch.graph(), patch.wired()
    before = graph.paths_from(port.point)
    others = in_order(other for point in before for other in at.get(point, ()))
    if port.output:
        answer["feeds"] = [
            _route(port, target, via(before, point_of(target)))
            for target in others
            if not target.output
        ]
    else:
        for source in (other for other in others if other.output):
            path = via(graph.paths_from(point_of(source), until=port.point), port.point)
            answer["fed_by"].append(_route(source, port, path))
    return answer
