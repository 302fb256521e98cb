"""Single requests on copies of the bays studio, timed one at a time: scenes, export and import.

These requests do a lot of work once (a patch sheet of 1,500 steps, a whole studio in or out)
rather than a little work often, so they are sent one after another and each one is timed
(time.perf_counter(), from sending the request to the last byte of the answer), not loaded
with wrk. Each runs on a server of its own, on a copy of the seeded bays studio
(`bench.seed.clone`), since most of them change the studio.

  s1, s2  scenes. Scene A is saved from the studio as seeded; then SQL changes the studio
          (`change_patch`): every 8th cable (250) is unplugged and their jacks plugged again
          crosswise (the k-th freed top jack to the (k+1)-th freed bottom jack: 250 new
          cables), and the ports on the top jacks of channels 1-250 swap points with those of
          channels 251-500 (500 ports on other points). Scene B is saved from that. The two
          differ by 250 + 250 cables and 500 links: a sheet of 1,500 steps (250 unplug, 500
          unlink, 500 link, 250 plug). Then, in turn, A is recalled, then B, then A...: each
          round reads the sheet (s1, GET /scenes/{id}/diff) and applies it with the revision
          it names (s2, POST /scenes/{id}/apply with If-Match), so every apply makes the whole
          difference again. One round first is not counted (BENCH_WARMUP > 0).
  x1-x3   GET /export (the whole studio as JSON), GET /export/patch-list.csv, and POST /import
          of that JSON document with dry_run=false: it replaces the copy's studio (the same
          studio) with the document, ids kept. One untimed export first warms the server up.
  x4      POST /import/patch-list.csv of that CSV, dry_run=false, into an empty studio (a
          freshly migrated database): it builds the bays, points, devices, wired ports, links
          and cables again.
"""

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench import cpu
from bench.report import Timing
from bench.seed import BayLayout
from bench.server import ApiServer, Reply, get, send

SCENE_ROUNDS = 10
EXPORT_RUNS = 3
IMPORT_RUNS = 2
REQUEST_TIMEOUT_S = 120

# The difference between scenes A and B (see the module's docstring).
CABLE_EVERY = 8
SWAPPED_CHANNELS = 250  # channels 1..250 swap with 251..500

JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}


def _timed(request: Callable[[], Reply]) -> tuple[float, Reply]:
    started = time.perf_counter()
    reply = request()
    return time.perf_counter() - started, reply


@dataclass
class Watch:
    """The server's peak RSS and the other CPU share over a stretch of timed requests."""

    server: ApiServer
    before: cpu.CpuSnapshot = field(init=False)
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.server.reset_peak_memory()
        pid = self.server.process.pid if self.server.process is not None else None
        self.before = cpu.snapshot(pid)
        self.started = time.perf_counter()

    def finish(self, *timings: Timing, warn_above: float) -> None:
        pid = self.server.process.pid if self.server.process is not None else None
        after = cpu.snapshot(pid)
        other = cpu.other_share(self.before, after, time.perf_counter() - self.started)
        memory = self.server.memory()
        for timing in timings:
            timing.memory = memory
            timing.other_cpu = other
            if other > warn_above:
                timing.notes.append(
                    f"other work took {other:.0%} of the CPUs meanwhile: these figures are disturbed"
                )


def _failed(timing: Timing, what: str, reply: Reply) -> None:
    timing.notes.append(f"{what} answered {reply.status}: {reply.body[:200]!r}")


# --- Scenes -------------------------------------------------------------------------------------
_CABLES_OUT = """
    DELETE FROM cables k USING cable_ends a, cable_ends b
     WHERE k.id %% %(every)s = 0
       AND a.cable_id = k.id AND a.end_number = 1 AND b.cable_id = k.id AND b.end_number = 2
    RETURNING k.id, a.point_id, b.point_id
"""
_NEW_CABLE_IDS = (
    "SELECT nextval(pg_get_serial_sequence('cables', 'id')) FROM generate_series(1, %(n)s)"
)
_CABLES_IN = """
    INSERT INTO cables (id, label, color)
    SELECT id, 'Moved ' || n, NULL FROM unnest(%(ids)s::integer[]) WITH ORDINALITY AS given(id, n)
"""
_ENDS_IN = """
    INSERT INTO cable_ends (cable_id, end_number, point_id)
    SELECT id, 1, a FROM unnest(%(ids)s::integer[], %(a)s::integer[]) AS given(id, a)
    UNION ALL
    SELECT id, 2, b FROM unnest(%(ids)s::integer[], %(b)s::integer[]) AS given(id, b)
"""
_PORTS_ON = "SELECT patchbay_id, id FROM ports WHERE patchbay_id = ANY(%(points)s)"
# Points are unique among ports: free them all first, then fill them.
_PORTS_OFF = "UPDATE ports SET patchbay_id = NULL WHERE id = ANY(%(ids)s)"
_PORTS_TO = """
    UPDATE ports p SET patchbay_id = target.point
      FROM unnest(%(ids)s::text[], %(points)s::integer[]) AS target(id, point)
     WHERE p.id = target.id
"""


def _top_of_channel(layout: BayLayout, channel: int) -> int:
    """The top point of the studio's channel `channel` (counted bay by bay from 1)."""
    bay, number = divmod(channel - 1, layout.channels)
    return layout.top_point(bay + 1, number + 1)


def change_patch(database_url: str, layout: BayLayout) -> dict[str, int]:
    """Make the studio differ from the seeded one by 250 + 250 cables and 500 links (see the
    module's docstring), in one transaction, as someone in pgAdmin would; what it changed."""
    assert layout.cables >= 2 * CABLE_EVERY and layout.channel_count >= 2 * SWAPPED_CHANNELS
    with psycopg.connect(database_url) as conn:
        out = sorted(conn.execute(_CABLES_OUT, {"every": CABLE_EVERY}).fetchall())
        n = len(out)
        ids = [row[0] for row in conn.execute(_NEW_CABLE_IDS, {"n": n}).fetchall()]
        conn.execute(_CABLES_IN, {"ids": ids})
        ends = {
            "ids": ids,
            "a": [top for _, top, _ in out],
            "b": [out[(k + 1) % n][2] for k in range(n)],
        }
        conn.execute(_ENDS_IN, ends)

        first = [_top_of_channel(layout, c) for c in range(1, SWAPPED_CHANNELS + 1)]
        second = [
            _top_of_channel(layout, c) for c in range(SWAPPED_CHANNELS + 1, 2 * len(first) + 1)
        ]
        rows = conn.execute(_PORTS_ON, {"points": first + second}).fetchall()
        port_on: dict[int, str] = {int(point): str(port) for point, port in rows}
        target = {port_on[a]: b for a, b in zip(first, second, strict=True)}
        target |= {port_on[b]: a for a, b in zip(first, second, strict=True)}
        conn.execute(_PORTS_OFF, {"ids": list(target)})
        conn.execute(_PORTS_TO, {"ids": list(target), "points": list(target.values())})
    return {"cables_unplugged": n, "cables_plugged": len(ids), "ports_moved": len(target)}


def _save_scene(server: ApiServer, name: str) -> int:
    body = json.dumps({"name": name, "description": "saved by the benchmark"}).encode()
    reply = send("POST", server.url("/scenes"), body, headers=JSON, timeout=REQUEST_TIMEOUT_S)
    if reply.status != 201:
        raise RuntimeError(f"POST /scenes answered {reply.status}: {reply.body[:200]!r}")
    return int(json.loads(reply.body)["id"])


def _steps(body: bytes) -> Counter[str]:
    return Counter(step["action"] for step in json.loads(body)["steps"])


def _shown(steps: Counter[str]) -> str:
    return ", ".join(f"{n:,} {action}" for action, n in steps.items())


def scene_recall(
    server: ApiServer,
    database_url: str,
    layout: BayLayout,
    *,
    rounds: int,
    warm_up: bool,
    warn_above: float,
) -> list[Timing]:
    """s1 and s2: the patch sheet of a scene 1,500 steps away, and applying it, in turn."""
    diff = Timing("s1", "GET /scenes/{id}/diff bays, 1,500 steps away", "bays")
    apply = Timing("s2", "POST /scenes/{id}/apply bays, 1,500 steps", "bays")
    scenes = [_save_scene(server, "bench: as seeded")]
    changed = change_patch(database_url, layout)
    scenes.append(_save_scene(server, "bench: changed"))
    diff.data["difference"] = changed

    def recall(scene: int, timed: bool) -> bool:
        took, reply = _timed(
            lambda: get(server.url(f"/scenes/{scene}/diff"), timeout=REQUEST_TIMEOUT_S)
        )
        if timed:
            diff.record(took, reply.status)
        if reply.status != 200:
            _failed(diff, f"GET /scenes/{scene}/diff", reply)
            return False
        sheet = json.loads(reply.body)
        steps = _steps(reply.body)
        if timed:
            diff.data.setdefault("sheets", []).append(dict(steps))
            diff.each = f"{sum(steps.values()):,} steps, {len(reply.body) / 1000:,.1f} kB"
        headers = {"If-Match": f'W/"{sheet["revision"]}"'}
        took, reply = _timed(
            lambda: send(
                "POST",
                server.url(f"/scenes/{scene}/apply"),
                b"",
                headers=headers,
                timeout=REQUEST_TIMEOUT_S,
            )
        )
        if timed:
            apply.record(took, reply.status)
            apply.each = f"{sum(steps.values()):,} steps"
        if reply.status != 200:
            _failed(apply, f"POST /scenes/{scene}/apply", reply)
            return False
        if _steps(reply.body) != steps:
            apply.notes.append(
                f"applied {_shown(_steps(reply.body))}, the sheet said {_shown(steps)}"
            )
        return True

    # The studio is scene B now: recall A first.
    turn = 0
    if warm_up:
        recall(scenes[0], timed=False)
        turn = 1
    watch = Watch(server)
    for n in range(rounds):
        recall(scenes[(turn + n) % 2], timed=True)
    watch.finish(diff, apply, warn_above=warn_above)

    sheets = diff.data.get("sheets", [])
    expected = sum(changed.values()) + changed["ports_moved"]  # a port's unlink and its link
    if any(sum(sheet.values()) != expected for sheet in sheets):
        diff.notes.append(f"a sheet was not of {expected:,} steps: {sheets}")
    last = scenes[(turn + rounds - 1) % 2]
    after = get(server.url(f"/scenes/{last}/diff"), timeout=REQUEST_TIMEOUT_S)
    if after.status != 200 or _steps(after.body):
        apply.notes.append(f"after the last apply the sheet is not empty: {after.body[:200]!r}")
    diff.data["sheets"] = sheets[:1]  # all alike; one is enough for the record
    return [diff, apply]


# --- Export and import --------------------------------------------------------------------------
def _import_summary(answer: dict[str, Any]) -> str:
    deleted, created = answer["delete"], answer["create"]
    return f"{sum(deleted.values()):,} items out, {sum(created.values()):,} in"


def export_import(
    server: ApiServer, *, warm_up: bool, warn_above: float
) -> tuple[list[Timing], bytes | None]:
    """x1-x3 on a copy of the bays studio; also the patch list, for x4."""
    export = Timing("x1", "GET /export bays", "bays")
    csv_export = Timing("x2", "GET /export/patch-list.csv bays", "bays")
    imported = Timing("x3", "POST /import bays, its own export, into a copy", "bays")
    if warm_up:
        get(server.url("/export"), timeout=REQUEST_TIMEOUT_S)

    document = csv = None
    watch = Watch(server)
    for _ in range(EXPORT_RUNS):
        took, reply = _timed(lambda: get(server.url("/export"), timeout=REQUEST_TIMEOUT_S))
        export.record(took, reply.status)
        if reply.status == 200:
            document = reply.body
        else:
            _failed(export, "GET /export", reply)
    watch.finish(export, warn_above=warn_above)
    if document is not None:
        parsed = json.loads(document)
        counts = {kind: len(parsed[kind]) for kind in ("bays", "patchbay_points", "devices")}
        counts |= {
            "ports": sum(len(device["ports"]) for device in parsed["devices"]),
            "cables": len(parsed["cables"]),
        }
        export.each = f"{len(document) / 1000:,.1f} kB"
        export.data |= {"bytes": len(document), "counts": counts}

    watch = Watch(server)
    for _ in range(EXPORT_RUNS):
        took, reply = _timed(
            lambda: get(server.url("/export/patch-list.csv"), timeout=REQUEST_TIMEOUT_S)
        )
        csv_export.record(took, reply.status)
        if reply.status == 200:
            csv = reply.body
        else:
            _failed(csv_export, "GET /export/patch-list.csv", reply)
    watch.finish(csv_export, warn_above=warn_above)
    if csv is not None:
        rows = csv.count(b"\n") - 1
        csv_export.each = f"{rows:,} rows, {len(csv) / 1000:,.1f} kB"
        csv_export.data |= {"bytes": len(csv), "rows": rows}

    if document is None:
        imported.skipped = "GET /export gave no document"
        return [export, csv_export, imported], csv
    watch = Watch(server)
    for _ in range(IMPORT_RUNS):
        took, reply = _timed(
            lambda: send(
                "POST",
                server.url("/import?dry_run=false"),
                document,
                headers=JSON,
                timeout=REQUEST_TIMEOUT_S,
            )
        )
        imported.record(took, reply.status)
        if reply.status != 200:
            _failed(imported, "POST /import", reply)
            continue
        answer = json.loads(reply.body)
        if answer["dry_run"] is not False:
            imported.notes.append("the import was a dry run")
        imported.each = _import_summary(answer)
        imported.data |= {"delete": answer["delete"], "create": answer["create"]}
    watch.finish(imported, warn_above=warn_above)
    return [export, csv_export, imported], csv


def csv_import(server: ApiServer, csv: bytes, *, warn_above: float) -> Timing:
    """x4: the patch list into an empty studio, once (it empties no studio, so it cannot be
    repeated on the same one)."""
    timing = Timing("x4", "POST /import/patch-list.csv bays, into an empty studio", "bays")
    watch = Watch(server)
    took, reply = _timed(
        lambda: send(
            "POST",
            server.url("/import/patch-list.csv?dry_run=false"),
            csv,
            headers=CSV,
            timeout=REQUEST_TIMEOUT_S,
        )
    )
    timing.record(took, reply.status)
    watch.finish(timing, warn_above=warn_above)
    if reply.status != 200:
        _failed(timing, "POST /import/patch-list.csv", reply)
        return timing
    created = {kind: len(items) for kind, items in json.loads(reply.body)["create"].items()}
    timing.each = f"{sum(created.values()):,} items made"
    timing.data["create"] = created
    return timing
