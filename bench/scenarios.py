"""The tables: servers, scenarios (rows, in the order they run) and targets; bench/README.md
says what each is. A new scenario is a row (and, if it needs data, a database in bench/seed.py
and a server here). Rows read against each other run back to back."""

import json
from collections.abc import Callable
from typing import Any

import psycopg

from bench.checks import at_once, event_latency, shutdown
from bench.documents import patch_list, studio_document
from bench.report import ANY_STATUS, Request, Round, Scenario, Target
from bench.seed import BAY_LAYOUT, NET, SMALL, change_patch
from bench.servers import RESULTS, Fleet, NotHere, Server, ServerSpec, not_here, send

JSON, CSV = "application/json", "text/csv"


def state_file(fleet: Fleet) -> dict[str, str]:
    """The constant ceilings answer the bytes Pepper serves as the small studio's /state."""
    path = RESULTS / "state-small.json"
    if "state" not in fleet.memo:
        reply = send(fleet.get("small").url("/state"))
        if reply.status != 200:
            raise RuntimeError(f"GET /state of the small studio answered {reply.status}")
        fleet.memo["state"] = path.write_bytes(reply.body)
    return {"CEILING_BODY_FILE": str(path)}


def save_scenes(server: Server) -> dict[str, Any]:
    """Scene A saved as seeded, the studio changed by SQL as in pgAdmin (seed.change_patch),
    scene B saved: a patch sheet of 1,500 steps apart. The studio is left at B."""

    def save(name: str) -> int:
        body = json.dumps({"name": name, "description": "saved by the benchmark"}).encode()
        reply = send(server.url("/scenes"), "POST", body, {"Content-Type": JSON})
        if not_here(reply):
            raise NotHere
        if reply.status != 201:
            raise RuntimeError(f"POST /scenes answered {reply.status}: {reply.body[:200]!r}")
        return int(json.loads(reply.body)["id"])

    first = save("bench: as seeded")
    change_patch(server.database_url)
    return {"scenes": [first, save("bench: changed")]}


def judge_once(server: Server) -> dict[str, Any]:
    """GET /checks: the studio is judged once per revision, and a preview (m) reuses that."""
    send(server.url("/checks"))
    return {}


def chain_ends(server: Server) -> dict[str, Any]:
    """The ports on the first and the last point of the net studio's chain."""
    with psycopg.connect(server.database_url) as conn:
        ends = "SELECT id FROM ports WHERE patchbay_id IN (1, %s) ORDER BY patchbay_id"
        return {"ports": [row[0] for row in conn.execute(ends, [NET.points])]}


def signal_of(end: int) -> Callable[[Round], Request]:
    return lambda r: ("GET", f"/ports/{r.data['ports'][end]}/signal", None, {})


# Recalled in turn, A first, so every apply makes the whole difference again.
def scene_diff(r: Round) -> Request:
    return "GET", f"/scenes/{r.data['scenes'][r.n % 2]}/diff", None, {}


def scene_apply(r: Round) -> Request:
    match = {"If-Match": f'W/"{json.loads(r.answers["s1"])["revision"]}"'}
    return "POST", f"/scenes/{r.data['scenes'][r.n % 2]}/apply", b"", match


def posting(
    path: str, content_type: str, body: Callable[[Round], bytes]
) -> Callable[[Round], Request]:
    return lambda r: ("POST", path, body(r), {"Content-Type": content_type})


def steps(body: bytes) -> str:
    return f"{len(json.loads(body)['steps']):,} steps"


def size(body: bytes) -> str:
    rows = "" if body[:1] == b"{" else f", {body.count(10) - 1:,} rows"
    return f"{len(body) / 1000:,.1f} kB{rows}"


def routes(body: bytes) -> str:
    found = [route["via"] for way in ("feeds", "fed_by") for route in json.loads(body)[way]]
    return f"{len(found):,} routes, via up to {max(map(len, found), default=0):,} points"


def items(body: bytes) -> str:
    answer = json.loads(body)
    if "detail" in answer:  # a refusal
        return str(answer["detail"])

    def count(way: str) -> int:
        return sum(n if isinstance(n, int) else len(n) for n in answer.get(way, {}).values())

    return f"{count('delete'):,} items out, {count('create'):,} in"


SERVERS = {
    "small": ServerSpec("pepper", "small"),
    "small-2": ServerSpec("pepper", "small"),  # a second process: events, shutdown
    "large": ServerSpec("pepper", "large"),
    "bays-flat": ServerSpec("pepper", "bays-flat"),
    "bays": ServerSpec("pepper", "bays", setup=judge_once),
    "net": ServerSpec("pepper", "net", setup=chain_ends),
    "no-history": ServerSpec("pepper", "small-no-history"),
    "scenes": ServerSpec("pepper", "bays-scenes", setup=save_scenes),
    "export": ServerSpec("pepper", "bays-export"),
    "empty": ServerSpec("pepper", "empty"),
    "import-json": ServerSpec("pepper", "empty-json"),
    "import-csv": ServerSpec("pepper", "empty-csv"),
    "earlier": ServerSpec("earlier", "earlier"),
    "ceiling": ServerSpec("ceiling", "small", env=state_file),
}
for http in ("h11", "httptools"):
    SERVERS[f"small-{http}"] = ServerSpec("pepper", "small", http)
    SERVERS[f"ceiling-{http}"] = ServerSpec("ceiling", "small", http, state_file)

NOT_MODIFIED, REFUSED = frozenset({304}), frozenset({413, 422})
PLUG = {"steps": [{"action": "plug", "points": list(BAY_LAYOUT.free_jacks())}]}
RELINK_ARGS = ("{seed}", str(SMALL.devices), str(SMALL.ports_per_device), str(SMALL.points))


def relink(id_: str, title: str, server: str, **more: Any) -> Scenario:
    """Random concurrent POST /ports/{id}/link (relink.lua); wrk wants a path in its URL."""
    return Scenario(id_, title, server, "/ports", script="relink.lua", args=RELINK_ARGS, **more)


def protocol(http: str, first: int, against: int | None) -> list[Scenario]:
    """/state small, its 304 and k1 under uvicorn's --http `http`: read against the rows from
    p`against` on (the other protocol), or else against k1 under this one."""
    ids = [f"p{first + n}" for n in range(3)]
    vs = [f"p{against + n}" for n in range(3)] if against else [ids[2], ids[2], None]
    state, k1 = f"small-{http}", f"ceiling-{http}"
    return [
        Scenario(ids[0], f"/state small, --http {http}", state, vs=vs[0]),
        Scenario(ids[1], f"304, --http {http}", state, etag=True, ok=NOT_MODIFIED, vs=vs[1]),
        Scenario(ids[2], f"k1, --http {http}", k1, "/constant/sync", vs=vs[2]),
    ]


def largest(
    id_: str, what: str, kind: str, body: Callable[[], bytes], ok: frozenset[int] = frozenset()
) -> Scenario:
    """An import of nearly 16 MiB into a studio of its own, /health polled meanwhile."""
    path, server = (
        ("/import", "import-json") if kind == JSON else ("/import/patch-list.csv", "import-csv")
    )
    return Scenario(
        id_,
        f"POST {path}, 16 MiB {what}",
        server,
        runs=1,
        poll="/health",
        ok=ok,
        request=posting(f"{path}?dry_run=false", kind, lambda r: body()),
        each=items,
    )


# One row a scenario, laid out by hand as the table it is.
# fmt: off
SCENARIOS = [
    Scenario("a", "/state small", "small", vs="k1"),
    Scenario("k1", "ceiling: the small /state as a constant, def", "ceiling", "/constant/sync"),
    Scenario("k3", "reference: that constant, async def", "ceiling", "/constant/async", vs="k1"),
    Scenario("e", "/state small, 100 /events streams open", "small", streams=100, vs="a"),
    Scenario("b", "/state small, If-None-Match: 304", "small", etag=True, ok=NOT_MODIFIED, vs="k2"),
    Scenario("k2", "ceiling: SQLAlchemy SELECT 1, def", "ceiling", "/select1/sync"),
    Scenario("k4", "reference: psycopg SELECT 1, async def", "ceiling", "/select1/async", vs="k2"),
    *protocol("h11", 1, None),
    *protocol("httptools", 4, 1),
    # Re-linking changes the small studio, and with it the ETag of b and p2: after them.
    relink("d", "random re-linking small", "small", history=True, vs="k2"),
    relink("d0", "the same on the earlier service (rebuilt)", "earlier", ok=ANY_STATUS, vs="k2"),
    relink("j", "d with history triggers off", "no-history", vs="k2"),
    Scenario("events", "a link on one process -> its event on another (30 links)", "small",
             how=event_latency, also=("small-2",)),
    Scenario("shutdown", "SIGTERM with 50 /events streams open -> exit", "small-2", how=shutdown),
    Scenario("c", "/state large", "large", vs="k1"),
    Scenario("f", "/state bays-flat", "bays-flat", vs="k1"),
    Scenario("g", "/state bays", "bays", vs="k1"),
    Scenario("h", "/signal-flow bays", "bays", "/signal-flow", vs="k1"),
    Scenario("i", "/signal-flow bays, 304", "bays", "/signal-flow", etag=True, ok=NOT_MODIFIED,
             vs="k2"),
    Scenario("l", "/checks bays", "bays", "/checks", vs="k1"),
    Scenario("l2", "/checks bays, 304", "bays", "/checks", etag=True, ok=NOT_MODIFIED, vs="i"),
    Scenario("m", "POST /checks/preview bays, one plug", "bays", "/checks/preview", "POST",
             json.dumps(PLUG).encode(), (f"Content-Type: {JSON}",), runs=20, warm=1, vs="c"),
    Scenario("n1", "GET /ports/{id}/signal, 768-point net, its start", "net", runs=5, warm=1,
             group="signal", request=signal_of(0), each=routes, vs="c"),
    Scenario("n2", "GET /ports/{id}/signal, 768-point net, its far end", "net", runs=5, warm=1,
             group="signal", request=signal_of(1), each=routes, vs="c"),
    Scenario("n3", "GET /ports/{id}/signal, 768-point net, six at once", "net",
             "/ports/{}/signal", runs=6, how=at_once),
    Scenario("s1", "GET /scenes/{id}/diff, 1,500 steps", "scenes", runs=10, warm=1,
             group="scenes", request=scene_diff, each=steps, vs="c"),
    Scenario("s2", "POST /scenes/{id}/apply, 1,500 steps", "scenes", runs=10, warm=1,
             group="scenes", request=scene_apply, each=steps, vs="c"),
    Scenario("x1", "GET /export bays", "export", "/export", runs=3, warm=1, each=size, vs="c"),
    Scenario("x2", "GET /export/patch-list.csv bays", "export", "/export/patch-list.csv", runs=3,
             each=size, vs="c"),
    Scenario("x3", "POST /import bays, its own export", "export", runs=2, each=items, vs="c",
             request=posting("/import?dry_run=false", JSON, lambda r: r.answers["x1"]),
             needs=("x1",)),
    Scenario("x4", "POST /import/patch-list.csv into an empty studio", "empty", runs=1, vs="c",
             request=posting("/import/patch-list.csv?dry_run=false", CSV,
                             lambda r: r.answers["x2"]), each=items, needs=("x2",)),
    largest("w1", "within the bounds, into an empty studio", JSON, lambda: studio_document(5)),
    largest("w2", "past the bound of scene items", JSON, lambda: studio_document(6), REFUSED),
    largest("w3", "within the bounds, into an empty studio", CSV, patch_list),
    largest("w4", "past the bound of rows", CSV, lambda: patch_list(1), REFUSED),
]
# fmt: on

# k1 and c of the old code on this machine (bench/results/before.json, 2026-12-03): a bound that
# stands for an absolute target is that target at them (bench/README.md).
K1, C = 4_569.9, 48.3
WORST = "w1,w2,w3,w4"
TARGETS = [
    Target("304 ÷ a sync SQLAlchemy round trip", "rate", "b", 0.9, over="k2"),
    Target("/state small ÷ a sync constant", "rate", "a", 0.4, over="k1"),
    Target("re-linking: no non-2xx", "non-2xx", "d", 0),
    Target("re-linking ÷ the earlier service's", "rate", "d", 2.5, over="d0"),
    Target("re-linking: history recorded ÷ off", "rate", "d", 0.75, over="j"),
    Target("history on disk per re-link entry", "bytes", "d", 2000),
    Target("/state bays ÷ bays-flat", "rate", "g", 0.8, over="f"),
    Target("/signal-flow ÷ a sync constant", "rate", "h", 10 / K1, over="k1"),
    Target("/signal-flow p99 ÷ a sync constant's time", "p99", "h", 1 * K1, over="k1"),
    Target("/checks ÷ a sync constant", "rate", "l", 10 / K1, over="k1"),
    Target("/checks p99 ÷ a sync constant's time", "p99", "l", 1 * K1, over="k1"),
    Target("/checks 304 ÷ /signal-flow's 304", "rate", "l2", 0.9, over="i"),
    Target("bays server's peak RSS (g-m)", "rss", "bays", 200),
    Target("checks preview, median ÷ a large /state's time", "median", "m", 0.05 * C, over="c"),
    Target(
        "a port's signal, slowest ÷ a large /state's time", "slowest", "n1,n2", 0.47 * C, over="c"
    ),
    Target("RSS after six signals at once, over before", "rss_growth", "n3", 50),
    Target("scene sheet, slowest ÷ a large /state's time", "slowest", "s1", 0.5 * C, over="c"),
    Target("scene apply, slowest ÷ a large /state's time", "slowest", "s2", 0.5 * C, over="c"),
    Target("GET /export, slowest ÷ a large /state's time", "slowest", "x1", 2 * C, over="c"),
    Target("POST /import, slowest ÷ a large /state's time", "slowest", "x3", 10 * C, over="c"),
    Target("export/import server's peak RSS (x1-x3)", "rss", "export", 250),
    Target("/health p99 beside the largest imports", "poll_p99", WORST, 100),
    Target("the largest imports answered", "slowest", WORST, 60),
    Target("the largest imports' peak RSS", "peak", WORST, 400),
]
