"""What feeds what (SPEC D3): nets of points joined by cables and made normals, and the routes
from every output to every input in the same net.

The studio is read in one statement (one snapshot) and the nets are worked out in Python: a
breadth-first search from each output over the points, neighbours in id order, so every route
takes a shortest path and the same studio always gives the same answer.
"""

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from app.models.bay import NormallingMode
from app.models.port import PortType

# Everything the signal flow depends on, with the revision it reflects. Ports in /state order.
# (SQL text: PostgreSQL builds it as JSON, in one snapshot.)
SNAPSHOT = text("""
    SELECT revision, json_build_object(
        'channels', (
            SELECT coalesce(json_agg(json_build_array(c.mode, top.id, bottom.id)), '[]')
              FROM bay_channels c
              JOIN patchbay_points top
                ON top.bay_id = c.bay_id AND top.bay_channel = c.number AND top.bay_row = 'top'
              JOIN patchbay_points bottom ON bottom.bay_id = c.bay_id
                   AND bottom.bay_channel = c.number AND bottom.bay_row = 'bottom'),
        'cables', (
            SELECT coalesce(json_agg(json_build_array(a.point_id, b.point_id) ORDER BY a.cable_id),
                            '[]')
              FROM cable_ends a JOIN cable_ends b ON b.cable_id = a.cable_id AND b.end_number = 2
             WHERE a.end_number = 1),
        'ports', (
            SELECT coalesce(json_agg(json_build_array(p.id, p.type, p.patchbay_id)
                                     ORDER BY p.device_id, p.position), '[]')
              FROM ports p WHERE p.patchbay_id IS NOT NULL AND p.type <> 'Other'),
        'port_exists', EXISTS (SELECT 1 FROM ports WHERE id = :port)
    )::text
      FROM state_revision
""")


def read_snapshot(conn: Connection, *, port_id: str | None = None) -> tuple[int, str]:
    """The studio as the signal flow sees it, and the revision it reflects (worked out by
    `signal_flow` with no connection held)."""
    revision, snapshot = conn.execute(SNAPSHOT, {"port": port_id}).one()
    return int(revision), str(snapshot)


def joined(mode: str, top_plugged: bool, bottom_plugged: bool) -> bool:
    """Are a channel's top and bottom jacks joined, given which of them hold a plug?"""
    match NormallingMode(mode):
        case NormallingMode.NORMAL:
            return not top_plugged and not bottom_plugged
        case NormallingMode.HALF_NORMAL:
            return not bottom_plugged
        case NormallingMode.HALF_NORMAL_TOP:
            return not top_plugged
        case NormallingMode.PARALLEL:
            return True
        case NormallingMode.THRU:
            return False


@dataclass
class Studio:
    """The snapshot as a graph of points, and the ports wired to them."""

    edges: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    outputs: list[tuple[str, int]] = field(default_factory=list)  # (port, point), /state order
    # Each point's ports, with their place in /state order.
    inputs_at: dict[int, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    outputs_at: dict[int, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def read(cls, snapshot: dict[str, Any]) -> "Studio":
        studio = cls()
        plugged = {point for cable in snapshot["cables"] for point in cable}
        for a, b in snapshot["cables"]:
            studio.join(a, b)
        for mode, top, bottom in snapshot["channels"]:
            if joined(mode, top in plugged, bottom in plugged):
                studio.join(top, bottom)
        for order, (port_id, port_type, point) in enumerate(snapshot["ports"]):
            if port_type == PortType.OUTPUT:
                studio.outputs.append((port_id, point))
                studio.outputs_at[point].append((order, port_id))
            else:
                studio.inputs_at[point].append((order, port_id))
        return studio

    def join(self, a: int, b: int) -> None:
        self.edges[a].add(b)
        self.edges[b].add(a)

    def paths_from(self, start: int) -> dict[int, int | None]:
        """Every point of `start`'s net, each with the point before it on a shortest path."""
        before: dict[int, int | None] = {start: None}
        queue = deque([start])
        while queue:
            point = queue.popleft()
            for neighbour in sorted(self.edges.get(point, ())):
                if neighbour not in before:
                    before[neighbour] = point
                    queue.append(neighbour)
        return before

    def wired_in(
        self, net: Iterable[int], at: dict[int, list[tuple[int, str]]]
    ) -> list[tuple[str, int]]:
        """The ports wired to the net's points (inputs or outputs, as `at` says), in /state
        order, each with its point."""
        found = [(order, port, point) for point in net for order, port in at.get(point, ())]
        return [(port, point) for _, port, point in sorted(found)]


def _via(before: dict[int, int | None], end: int) -> list[int]:
    path = [end]
    while (previous := before[path[-1]]) is not None:
        path.append(previous)
    return path[::-1]


def signal_flow(snapshot: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Routes from every output to every input of its net, by source then destination in
    /state order, and the nets where two or more outputs meet."""
    studio = Studio.read(snapshot)
    routes: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    # A net is named by its lowest point; its inputs are looked up once.
    inputs_of_net: dict[int, list[tuple[str, int]]] = {}
    for source, start in studio.outputs:
        before = studio.paths_from(start)
        net = min(before)
        if net not in inputs_of_net:
            inputs_of_net[net] = studio.wired_in(before, studio.inputs_at)
            meeting = studio.wired_in(before, studio.outputs_at)
            if len(meeting) > 1:
                conflicts.append(
                    {"port_ids": [port for port, _ in meeting], "point_ids": sorted(before)}
                )
        routes += [
            {"from_port_id": source, "to_port_id": target, "via": _via(before, end)}
            for target, end in inputs_of_net[net]
        ]
    return {"routes": routes, "conflicts": conflicts}


def port_signal(snapshot: dict[str, Any], port_id: str) -> dict[str, Any] | None:
    """The routes a port feeds and is fed by; None when there is no such port."""
    if not snapshot["port_exists"]:
        return None
    routes = signal_flow(snapshot)["routes"]
    return {
        "port_id": port_id,
        "feeds": [route for route in routes if route["from_port_id"] == port_id],
        "fed_by": [route for route in routes if route["to_port_id"] == port_id],
    }
