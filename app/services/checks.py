"""Patch safety (SPEC E2, E3): findings on the nets of D3, for the studio as it is, as a scene
would leave it, or as some steps a person is about to take would leave it.

The nets come from app/services/signal_flow.py (the one place that works them out); this
module judges them. A preview reads only the nets its steps touch (a region: see
`signal_flow.read_region`), carries the steps out on that copy, checking each as its endpoint
would, and judges those nets before and after; the findings of the rest of the studio are
those of the studio at the same revision, judged once per revision (`Latest`). When they are
not at hand, the preview reads and judges the whole studio instead.
"""

import json
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from app.core.errors import (
    BAY_NOT_FOUND,
    CABLE_NOT_FOUND,
    JACK_PATCHED,
    POINT_NOT_FOUND,
    PORT_NOT_FOUND,
    Conflict,
    Invalid,
    NotFound,
    no_such_channel,
)
from app.models.electrical import Level
from app.services.signal_flow import (
    BREAKS,
    DETAILED,
    DETAILED_KNOWN,
    Patch,
    Port,
    in_order,
    point_of,
    read_region,
)

SEVERITY = {"danger": 0, "warning": 1, "notice": 2}
_INTO_MIC = {Level.LINE, Level.INSTRUMENT, Level.HEADPHONE}
Finding = dict[str, Any]
Step = dict[str, Any]
Order = dict[str, tuple[int, int]]  # each port of some findings: its place in /state order


def _listed(names: list[str], most: int = 4) -> str:
    """ "A", "A and B", "A, B and C", or "A, B, C, D and 3 more"."""
    if len(names) > most:
        return f"{', '.join(names[:most])} and {len(names) - most} more"
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


class Judge:
    """The findings of one patch."""

    def __init__(self, patch: Patch) -> None:
        self.patch = patch
        self.graph, self.at = patch.graph(), patch.wired()
        self.order: Order = {port_id: port.order for port_id, port in patch.ports.items()}
        self.found: list[Finding] = []
        # Each jack and the one its channel's normal joins it to when no cable is plugged.
        self.house: dict[int, int] = {}
        for mode, top, bottom in patch.channels.values():
            if BREAKS[mode] is not None:
                self.house.update({top: bottom, bottom: top})

    def point(self, point: int) -> str:
        name = self.patch.names.get(point)
        return f"point {point}" if name is None else name

    def add(self, check: str, severity: str, ports: list[Port], net: list[int], text: str) -> None:
        self.found.append(
            {
                "check": check,
                "severity": severity,
                "port_ids": [port.id for port in ports],
                "point_ids": net,
                "text": text,
            }
        )

    def findings(self) -> list[Finding]:
        region = self.patch.region
        starts = sorted(p for p in self.at if region is None or p in region)
        for net in self.graph.nets(starts):
            ports = in_order(port for p in net for port in self.at.get(p, ()))
            outputs = [port for port in ports if port.output]
            inputs = [port for port in ports if not port.output]
            self.phantom(net, outputs, inputs)
            self.conflict(net, outputs)
            for source in outputs:
                self.pairs(net, source, inputs)
            if not outputs:
                self.silenced(net, inputs)
        return sorted(self.found, key=lambda f: _rank(f, self.order))

    def phantom(self, net: list[int], outputs: list[Port], inputs: list[Port]) -> None:
        fragile = [port for port in outputs if not port.phantom_safe]
        powered = [port for port in inputs if port.phantom]
        if fragile and powered:
            text = (
                f"+48 V from {_listed([port.name for port in powered])} reaches "
                f"{_listed([port.name for port in fragile])} through "
                f"{_listed([self.point(point_of(port)) for port in fragile])}"
            )
            self.add("phantom", "danger", fragile + powered, net, text)

    def conflict(self, net: list[int], outputs: list[Port]) -> None:
        if len(outputs) > 1:
            where = _listed([self.point(point_of(port)) for port in outputs])
            text = f"{_listed([port.name for port in outputs])} drive one net ({where})"
            self.add("conflict", "warning", outputs, net, text)

    def pairs(self, net: list[int], source: Port, inputs: list[Port]) -> None:
        """One finding per output→input pair: speaker, level, feedback."""
        for target in inputs:
            speaker = source.level == Level.SPEAKER and target.level not in (None, Level.SPEAKER)
            wrong = (source.level in _INTO_MIC and target.level == Level.MIC) or (
                source.level == Level.MIC and target.level == Level.LINE
            )
            own = source.device == target.device
            if not (speaker or wrong or own):
                continue
            through = f"through {self.point(point_of(target))}"
            if speaker:
                text = (
                    f"Speaker output {source.name} feeds {target.name} "
                    f"({target.level} level) {through}"
                )
                self.add("speaker", "danger", [source, target], net, text)
            if wrong:
                text = (
                    f"{source.name} ({source.level} level) feeds {target.level} input "
                    f"{target.name} {through}"
                )
                self.add("level", "warning", [source, target], net, text)
            if own:
                text = f"{source.name} feeds {target.name}, an input of its own device, {through}"
                self.add("feedback", "warning", [source, target], net, text)

    def silenced(self, net: list[int], inputs: list[Port]) -> None:
        """Inputs that the house normals (no cable anywhere) feed, and nothing feeds now."""
        for target in inputs:
            partner = self.house.get(point_of(target))
            if partner is None:
                continue
            sources = [port for port in self.at.get(partner, ()) if port.output]
            if sources:
                text = (
                    f"Nothing feeds {target.name}: its house normal from {sources[0].name} "
                    f"({self.point(partner)}) is broken"
                )
                self.add("silenced", "notice", [target], net, text)


def _rank(finding: Finding, order: Order) -> tuple[Any, ...]:
    ports = [order[port_id] for port_id in finding["port_ids"]]
    return (SEVERITY[finding["severity"]], finding["check"], ports, finding["point_ids"])


def identity(finding: Finding) -> tuple[str, tuple[str, ...]]:
    """What makes a finding the same one before and after a change: its check and its ports
    (a net that grows or shrinks around them keeps it)."""
    return finding["check"], tuple(finding["port_ids"])


def judged(snapshot: dict[str, Any]) -> list[Finding]:
    return Judge(Patch(snapshot)).findings()


class Latest:
    """The findings of the whole studio at the newest revision this process judged it (for
    `GET /checks` or a preview), with the places of their ports. Kept by the revision read in
    the same snapshot as the patch they judge, so whatever uses them answers for the studio as
    it was at that revision, and at no other: a newer revision finds nothing here."""

    def __init__(self, *, keep: bool = True) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[int, list[Finding], Order] | None = None
        # Off where the revision does not follow the data: the tests' shared transaction,
        # which never commits.
        self._keep = keep

    def get(self, revision: int) -> tuple[list[Finding], Order] | None:
        with self._lock:
            kept = self._kept
        return (kept[1], kept[2]) if kept is not None and kept[0] == revision else None

    def judge(self, revision: int, snapshot: dict[str, Any]) -> list[Finding]:
        """The findings of the whole studio's snapshot, kept for its revision."""
        judge = Judge(Patch(snapshot))
        found = judge.findings()
        with self._lock:
            if self._keep and (self._kept is None or self._kept[0] <= revision):
                self._kept = (revision, found, judge.order)
        return found


LATEST = Latest()


def new(before: Iterable[Finding], after: Iterable[Finding]) -> list[Finding]:
    """The findings of `after` that `before` does not have."""
    now = {identity(finding) for finding in before}
    return [finding for finding in after if identity(finding) not in now]


# --- What some steps would do ------------------------------------------------------------------
def carry_out(patch: Patch, steps: list[Step], known: dict[str, Any] | None = None) -> None:
    """Carry D4's steps out on a patch, in order. With `known` (what exists of what the steps
    name), each is first checked as its endpoint would check it: 404 for what does not exist,
    409 `Jack already patched`, 422 for a channel the bay does not have."""
    exists = None if known is None else Known(known)
    holders = {port.point: port for port in patch.ports.values() if port.point is not None}
    made = min([0, *patch.cables])  # cables not made yet get ids no cable has
    for n, step in enumerate(steps):
        if exists is not None:
            exists.check(patch, step, n)
        match step["action"]:
            case "unplug":
                patch.plugged -= set(patch.cables.pop(step["cable_id"]))
            case "unlink" | "link":
                # Link takes the point over; `Other` ports are in no net, but take it all the same.
                point = step.get("patchbay_id") if step["action"] == "link" else None
                if point in holders:
                    holders.pop(point).point = None
                port = patch.ports.get(step["port_id"])
                if port is not None:
                    if port.point is not None:
                        del holders[port.point]
                    port.point = point
                    if point is not None:
                        holders[point] = port
            case "set-mode" if (step["bay_id"], step["channel"]) in patch.channels:
                patch.channels[(step["bay_id"], step["channel"])][0] = step["mode"]
            case "plug":
                made -= 1
                patch.cables[made] = (step["points"][0], step["points"][1])
                patch.plugged.update(step["points"])


class Known:
    """What exists of the ports, points and bays some steps name."""

    def __init__(self, known: dict[str, Any]) -> None:
        self.ports, self.points = set(known["ports"]), set(known["points"])
        self.bays = {int(bay): frozenset(numbers) for bay, numbers in known["bays"].items()}

    def check(self, patch: Patch, step: Step, n: int) -> None:
        """404, 409 or 422 as the step's endpoint would answer, in the order it checks."""
        match step["action"]:
            case "unplug" if step["cable_id"] not in patch.cables:
                raise NotFound(CABLE_NOT_FOUND)
            case "unlink" if step["port_id"] not in self.ports:
                raise NotFound(PORT_NOT_FOUND)
            case "link":
                # Its endpoint locks the point before the port.
                if step["patchbay_id"] not in self.points:
                    raise NotFound(POINT_NOT_FOUND)
                if step["port_id"] not in self.ports:
                    raise NotFound(PORT_NOT_FOUND)
            case "set-mode":
                channels = self.bays.get(step["bay_id"])
                if channels is None:
                    raise NotFound(BAY_NOT_FOUND)
                if step["channel"] not in channels:
                    loc = ("body", "steps", n, "channel")
                    raise Invalid(loc, no_such_channel(channels), step["channel"])
            case "plug":
                if not self.points.issuperset(step["points"]):
                    raise NotFound(POINT_NOT_FOUND)
                if patch.plugged.intersection(step["points"]):
                    raise Conflict(JACK_PATCHED)


def after(snapshot: dict[str, Any], steps: list[Step]) -> list[Finding]:
    """The findings of a patch as (valid) steps would leave it: a scene's sheet."""
    patch = Patch(snapshot)
    carry_out(patch, steps)
    return Judge(patch).findings()


# --- Reads -------------------------------------------------------------------------------------
def read_checks(conn: Connection) -> tuple[int, tuple[int, str]]:
    """The whole patch, detailed, and its revision (twice: `revision_tagged` keeps the first,
    `findings_body` answers the second); judged by `findings_body` with no connection held."""
    revision, snapshot = conn.execute(DETAILED).one()
    return int(revision), (int(revision), str(snapshot))


def findings_body(read: tuple[int, str]) -> dict[str, Any]:
    revision, snapshot = read
    kept = LATEST.get(revision)
    found = kept[0] if kept is not None else LATEST.judge(revision, json.loads(snapshot))
    return {"revision": revision, "findings": found}


def read_preview(conn: Connection, *, steps: list[Step]) -> tuple[int, str]:
    """The nets the steps touch (the points they plug and link to, the cables they unplug,
    the ports they move, the channels whose mode they set), or the whole studio when its
    findings at that revision are not at hand (`preview` tells which it got)."""
    revision, region = read_region(
        conn,
        points=[p for s in steps for p in s.get("points", ()) if s["action"] == "plug"]
        + [s["patchbay_id"] for s in steps if s["action"] == "link"],
        cables=[s["cable_id"] for s in steps if s["action"] == "unplug"],
        ports=[s["port_id"] for s in steps if s["action"] in ("link", "unlink")],
        channels=[(s["bay_id"], s["channel"]) for s in steps if s["action"] == "set-mode"],
    )
    if LATEST.get(revision) is not None:
        return revision, region
    revision, whole = conn.execute(DETAILED_KNOWN, _named(steps)).one()
    return int(revision), str(whole)


def _named(steps: list[Step]) -> dict[str, list[Any]]:
    """What of the steps' ports, points and bays `known` looks up."""
    return {
        "ports": [s["port_id"] for s in steps if "port_id" in s],
        "points": [p for s in steps for p in s.get("points", ())]
        + [s["patchbay_id"] for s in steps if s["action"] == "link"],
        "bays": [s["bay_id"] for s in steps if s["action"] == "set-mode"],
    }


def preview(revision: int, snapshot: str, steps: list[Step]) -> dict[str, Any]:
    """The findings of the studio as the steps would leave it, and those of them that are not
    there now (404/409/422 for a step its endpoint would refuse). Only the nets the steps
    touch are judged, when the studio's findings at this revision are at hand."""
    parsed = json.loads(snapshot)
    patch = Patch(parsed)
    carry_out(patch, steps, parsed["known"])
    judge = Judge(patch)
    found = judge.findings()
    latest = LATEST.get(revision) if patch.region is not None else None
    if latest is None:  # the whole studio was read (Patch copies what it takes of it)
        before = LATEST.judge(revision, parsed)
        return {"revision": revision, "findings": found, "new": new(before, found)}
    now, order = latest
    touched = patch.region or set()
    kept = [finding for finding in now if touched.isdisjoint(finding["point_ids"])]
    order = {**order, **judge.order}
    findings = sorted(kept + found, key=lambda finding: _rank(finding, order))
    return {"revision": revision, "findings": findings, "new": new(judged(parsed), found)}
