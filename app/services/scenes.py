"""Scenes (SPEC D4): save the patch, work out the patch sheet that brings it back, apply it.

The sheet is worked out in Python from one snapshot of the studio (one statement) and the
scene's content; applying it locks the whole patch first (`locks.lock_patch`), works the sheet
out again from what is now locked, and carries it out in the same transaction, so the result
is the scene exactly, or nothing at all.
"""

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)

from app.core.errors import (
    SCENE_AT_RISK,
    SCENE_MISSING_ITEMS,
    SCENE_NOT_FOUND,
    STATE_CHANGED,
    Conflict,
    NotFound,
    PreconditionFailed,
)
from app.db import shapes
from app.db.params import given_or_kept
from app.db.shapes import IMMEDIATE, PATCH, REVISION, SCENE, SCENE_ROWS, body, found, returned
from app.models import Scene
from app.schemas.scene import SceneCreate, SceneUpdate
from app.services import checks
from app.services.bays import set_each_mode
from app.services.cables import NewCable, insert_cables, relabel, unplug
from app.services.locks import lock_patch, relink
from app.services.signal_flow import patch_json

_PATCH: ColumnElement[Any] = literal_column(PATCH)
_CREATED = (
    insert(Scene)
    .values(name=bindparam("name"), description=bindparam("description"), content=_PATCH)
    .returning(*Scene.__table__.c)
    .cte("s")  # the alias the Scene shape is written over
)
_CREATE = select(_CREATED.c.id, returned(SCENE))
s_ = SCENE_ROWS.c
_CAPTURE = (
    update(SCENE_ROWS)
    .where(s_.id == bindparam("scene_id"))
    .values(content=_PATCH, updated_at=func.now())
    .returning(returned(SCENE))
)
_UPDATE = (
    update(SCENE_ROWS)
    .where(s_.id == bindparam("scene_id"))
    .values(**given_or_kept(SCENE_ROWS, "name", "description"), updated_at=func.now())
    .returning(returned(SCENE))
)
_DELETE = delete(SCENE_ROWS).where(s_.id == bindparam("scene_id")).returning(returned(SCENE))
# The ports the scene links (some may be unwired now), for the patch its checks judge.
_LINKED = (
    "SELECT l->>'port_id' FROM scenes s, json_array_elements(s.content->'links') l WHERE s.id = :id"
)
# The scene's content and the studio it is compared with, with names for the sheet's text and
# the patch its checks judge (PostgreSQL builds it as JSON, in one snapshot).
SNAPSHOT = text(f"""
    SELECT revision, json_build_object(
        'scene', (SELECT s.content FROM scenes s WHERE s.id = :id),
        'ports', (SELECT coalesce(json_agg(json_build_array(p.id, d.name, p.label, p.patchbay_id)
                                           ORDER BY p.device_id, p.position), '[]')
                    FROM ports p JOIN devices d ON d.id = p.device_id),
        'points', (SELECT coalesce(json_agg(json_build_array(pp.id, pp.name)), '[]')
                     FROM patchbay_points pp),
        'bays', (SELECT coalesce(json_agg(json_build_array(b.id, b.name)), '[]') FROM bays b),
        'channels', (SELECT coalesce(json_agg(json_build_array(c.bay_id, c.number, c.mode)), '[]')
                       FROM bay_channels c),
        'cables', (SELECT coalesce(json_agg(json_build_array(k.id, a.point_id, b.point_id,
                                                            k.label, k.color) ORDER BY k.id), '[]')
                     FROM cables k
                     JOIN cable_ends a ON a.cable_id = k.id AND a.end_number = 1
                     JOIN cable_ends b ON b.cable_id = k.id AND b.end_number = 2),
        'safety', {patch_json(region=False, detailed=True, unwired=_LINKED)}
    )::text
      FROM state_revision
""")


# --- Saving scenes ------------------------------------------------------------------------------
def list_scenes(conn: Connection) -> str:
    """Every scene by id, with how many links, cables and modes it holds."""
    return body(conn, shapes.LIST_SCENES)


def get_scene(conn: Connection, *, scene_id: int) -> str:
    return found(conn, shapes.GET_SCENE, {"id": scene_id}, SCENE_NOT_FOUND)


def create_scene(conn: Connection, *, data: SceneCreate) -> tuple[int, str]:
    """Save the current patch (one statement: one snapshot); its id and Scene JSON."""
    params = {"name": data.name, "description": data.description}
    scene_id, shown = conn.execute(_CREATE, params).one()
    return int(scene_id), str(shown)


def capture(conn: Connection, *, scene_id: int) -> str:
    return found(conn, _CAPTURE, {"scene_id": scene_id}, SCENE_NOT_FOUND)


def update_scene(conn: Connection, *, scene_id: int, data: SceneUpdate) -> str:
    changes = data.changes()
    params = {
        "scene_id": scene_id,
        "name": changes.get("name"),
        "description": changes.get("description"),
    }
    return found(conn, _UPDATE, params, SCENE_NOT_FOUND)


def delete_scene(conn: Connection, *, scene_id: int) -> str:
    return found(conn, _DELETE, {"scene_id": scene_id}, SCENE_NOT_FOUND)


# --- The patch sheet ----------------------------------------------------------------------------
def _cable_text(label: str, color: str | None) -> str:
    details = [f'"{label}"'] if label else []
    details += [color] if color else []
    return f" ({', '.join(details)})" if details else ""


class Studio:
    """The snapshot, indexed, with the names the sheet's sentences use."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.ports = {
            port: (device, label, point) for port, device, label, point in snapshot["ports"]
        }
        self.points: dict[int, str] = dict(snapshot["points"])
        self.bays: dict[int, str] = dict(snapshot["bays"])
        self.modes = {(bay, number): mode for bay, number, mode in snapshot["channels"]}
        self.cables = {
            frozenset((a, b)): (cable_id, [a, b], label, color)
            for cable_id, a, b, label, color in snapshot["cables"]
        }

    def port(self, port_id: str) -> str:
        device, label, _ = self.ports[port_id]
        return f"{device} {label}"

    def between(self, points: Iterable[int]) -> str:
        return " and ".join(self.points[point] for point in points)


Step = dict[str, Any]


def _missing(scene: dict[str, Any], studio: Studio) -> dict[str, list[Any]]:
    """What the scene names that the studio no longer has."""
    linked = {link["patchbay_id"] for link in scene["links"] if link["patchbay_id"] is not None}
    plugged = linked.union(*(cable["points"] for cable in scene["cables"]))
    return {
        "ports": sorted({link["port_id"] for link in scene["links"]} - studio.ports.keys()),
        "points": sorted(plugged - studio.points.keys()),
        "bays": sorted({mode["bay_id"] for mode in scene["modes"]} - studio.bays.keys()),
    }


def _cable_steps(wanted: dict[frozenset[int], Any], studio: Studio) -> dict[str, list[Step]]:
    """Unplug the cables the scene lacks, plug those it adds, relabel those that differ."""
    steps: dict[str, list[Step]] = {"unplug": [], "plug": [], "relabel": []}
    for pair, (cable_id, points, label, color) in sorted(
        studio.cables.items(), key=lambda c: c[1][0]
    ):
        cable = wanted.get(pair)
        if cable is None:
            text = f"Unplug the cable between {studio.between(points)}{_cable_text(label, None)}"
            steps["unplug"].append(
                {"action": "unplug", "cable_id": cable_id, "points": points, "text": text}
            )
        elif (cable["label"], cable["color"]) != (label, color):
            details = _cable_text(cable["label"], cable["color"]) or " (no label, no colour)"
            text = f"Relabel the cable between {studio.between(points)}{details}"
            steps["relabel"].append(
                {
                    "action": "relabel",
                    "cable_id": cable_id,
                    "label": cable["label"],
                    "color": cable["color"],
                    "text": text,
                }
            )
    for pair, cable in wanted.items():
        if pair not in studio.cables:
            details = _cable_text(cable["label"], cable["color"])
            text = f"Plug a cable between {studio.between(cable['points'])}{details}"
            plug = {k: cable[k] for k in ("points", "label", "color")}
            steps["plug"].append({"action": "plug", **plug, "text": text})
    return steps


def _link_steps(scene: dict[str, Any], studio: Studio, gone: set[int]) -> dict[str, list[Step]]:
    """Unlink the ports that move and those holding a point the scene gives to another; link
    the ports that move."""
    # Where each port of the scene should be, when it is not there yet.
    targets = {
        link["port_id"]: link["patchbay_id"]
        for link in scene["links"]
        if link["port_id"] in studio.ports
        and link["patchbay_id"] not in gone
        and studio.ports[link["port_id"]][2] != link["patchbay_id"]
    }
    given = {point for point in targets.values() if point is not None}
    steps: dict[str, list[Step]] = {"unlink": [], "link": []}
    for port_id, (_, _, point) in studio.ports.items():
        if point is not None and (port_id in targets or point in given):
            text = f"Unlink {studio.port(port_id)} from {studio.points[point]}"
            steps["unlink"].append(
                {"action": "unlink", "port_id": port_id, "patchbay_id": point, "text": text}
            )
    for port_id in studio.ports:
        if targets.get(port_id) is not None:
            point = targets[port_id]
            text = f"Link {studio.port(port_id)} to {studio.points[point]}"
            steps["link"].append(
                {"action": "link", "port_id": port_id, "patchbay_id": point, "text": text}
            )
    return steps


def _mode_steps(scene: dict[str, Any], studio: Studio) -> list[Step]:
    steps = []
    for mode in sorted(scene["modes"], key=lambda m: (m["bay_id"], m["channel"])):
        bay, channel = mode["bay_id"], mode["channel"]
        if studio.modes.get((bay, channel), mode["mode"]) != mode["mode"]:
            text = f"Set {studio.bays[bay]} channel {channel} to {mode['mode']}"
            steps.append(
                {
                    "action": "set-mode",
                    "bay_id": bay,
                    "channel": channel,
                    "mode": mode["mode"],
                    "text": text,
                }
            )
    return steps


def patch_sheet(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The steps that turn the studio into the scene, in the order a person works (unplug,
    unlink, set-mode, link, plug, relabel), and what the scene names that no longer exists."""
    scene, studio = snapshot["scene"], Studio(snapshot)
    missing = _missing(scene, studio)
    gone = set(missing["points"])
    wanted = {
        frozenset(cable["points"]): cable
        for cable in scene["cables"]
        if not gone.intersection(cable["points"])
    }
    cables, links = _cable_steps(wanted, studio), _link_steps(scene, studio, gone)
    steps = [
        *cables["unplug"],
        *links["unlink"],
        *_mode_steps(scene, studio),
        *links["link"],
        *cables["plug"],
        *cables["relabel"],
    ]
    return {"steps": steps, "missing": missing}


def read_snapshot(conn: Connection, *, scene_id: int) -> tuple[int, str]:
    """The scene and the studio in one snapshot, and the revision they reflect (`sheet`
    works the patch sheet out of them, with no connection held)."""
    revision, snapshot = conn.execute(SNAPSHOT, {"id": scene_id}).one()
    return int(revision), str(snapshot)


def sheet(revision: int, snapshot: str) -> dict[str, Any]:
    """The patch sheet of a SNAPSHOT row: {"revision", "steps", "missing", "findings"}, the
    findings those of the studio as the apply would leave it."""
    parsed = _parsed(snapshot)
    planned = patch_sheet(parsed)
    return {
        "revision": revision,
        **planned,
        "findings": checks.after(parsed["safety"], planned["steps"]),
    }


def _parsed(snapshot: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(snapshot)
    if parsed["scene"] is None:
        raise NotFound(SCENE_NOT_FOUND)
    return parsed


# --- Applying a scene ---------------------------------------------------------------------------
def _current_revision(conn: Connection) -> int:
    return int(conn.execute(REVISION).scalar_one())


def apply_scene(
    conn: Connection,
    *,
    scene_id: int,
    matches: Callable[[int], bool],
    skip_missing: bool,
    accept_risk: bool = False,
) -> dict[str, Any]:
    """Carry out the scene's patch sheet in this transaction. `matches(revision)` says whether
    the client's If-Match names the current revision (412 otherwise, before anything else).
    An apply that would leave a danger finding that is not there now is 409, unless
    `accept_risk`."""
    if not matches(_current_revision(conn)):
        raise PreconditionFailed(STATE_CHANGED)
    lock_patch(conn)
    revision, raw = read_snapshot(conn, scene_id=scene_id)
    snapshot = _parsed(raw)
    # Again, now that nothing can change: a change that committed meanwhile is a 412 too.
    if not matches(revision):
        raise PreconditionFailed(STATE_CHANGED)
    planned = patch_sheet(snapshot)
    if any(planned["missing"].values()) and not skip_missing:
        raise Conflict(SCENE_MISSING_ITEMS, missing=planned["missing"])
    if not accept_risk:
        _refuse_risk(snapshot["safety"], planned["steps"])
    _carry_out(conn, planned["steps"])
    conn.execute(IMMEDIATE)
    return {"revision": _current_revision(conn), "steps": planned["steps"]}


def _refuse_risk(safety: dict[str, Any], steps: list[Step]) -> None:
    found = checks.new(checks.judged(safety), checks.after(safety, steps))
    risky = [finding for finding in found if finding["severity"] == "danger"]
    if risky:
        raise Conflict(SCENE_AT_RISK, findings=risky)


def _carry_out(conn: Connection, steps: list[dict[str, Any]]) -> None:
    def of(action: str) -> list[dict[str, Any]]:
        return [step for step in steps if step["action"] == action]

    unplug(conn, [step["cable_id"] for step in of("unplug")])
    targets: dict[str, int | None] = {step["port_id"]: None for step in of("unlink")}
    targets.update({step["port_id"]: step["patchbay_id"] for step in of("link")})
    if targets:
        relink(conn, targets)
    set_each_mode(conn, [(s["bay_id"], s["channel"], s["mode"]) for s in of("set-mode")])
    plugged = [
        NewCable((s["points"][0], s["points"][1]), s["label"], s["color"]) for s in of("plug")
    ]
    insert_cables(conn, plugged)
    relabel(conn, [(s["cable_id"], s["label"], s["color"]) for s in of("relabel")])
