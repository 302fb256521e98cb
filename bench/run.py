"""`python -m bench.run`: load Pepper with wrk next to ceilings measured in the same run.

It seeds four studios (bench/seed.py), serves each with one uvicorn worker of its own, one
studio at a time, and serves a bare FastAPI app (bench/ceiling_app.py) the same way: same flags,
same wrk load (8 connections, 2 threads), same warm-up. Pepper scenarios:
  a. GET /state of the small studio (30 devices x 8 ports, 96 points, about 27 kB)
  b. the same with a matching If-None-Match: 304 (skipped if the server sends no ETag)
  c. GET /state of the large studio (1,000 devices x 16 ports, 4,000 points), its own server
  d. random concurrent POST /ports/{id}/link on the small studio (bench/relink.lua)
  e. scenario a again while 100 /events streams are open on the same process
  f. GET /state of bays-flat: the bays studio's 1,000 devices x 16 ports and 4,032 points
     (4,032 ports wired), same names and wiring, but no bays and no cables; its own server
  g. GET /state of bays: 42 bays x 48 channels (a point in each slot), those devices and
     ports, 2,000 patch cables; its own server, which also serves h and i
  h. GET /signal-flow of bays
  i. the same with a matching If-None-Match: 304
  j. scenario d on a copy of the small studio whose history triggers are disabled, its own
     server, right after d with the same seed (bench/history.py)
Single requests timed one at a time, each on a server of its own on a copy of the bays studio
(bench/operations.py):
  s1/s2. GET /scenes/{id}/diff and POST /scenes/{id}/apply between two scenes 1,500 steps apart
         (250 + 250 cables, 500 ports moved), applied in turn: 10 rounds after one not counted
  x1-x3. GET /export, GET /export/patch-list.csv (3 runs each), POST /import of that export
         with dry_run=false over the same studio (2 runs)
  x4.    POST /import/patch-list.csv of that patch list into an empty studio (1 run)
Ceilings (bench/ceiling_app.py):
  k1/k2. the small studio's /state body as a constant, from a `def` / `async def` endpoint
  k3/k4. one prepared SELECT 1 on a pool of 10 autocommit connections, psycopg_pool's
         ConnectionPool in a `def` endpoint / AsyncConnectionPool in an `async def` one
Pairs that are compared run back to back (a k1 k2, e, b k3 k4, d j, f g), so the VM's drift in
speed touches both sides of a ratio alike. Ratios of requests/s, with the project's targets:
  b / k3 >= 0.9 (stretch: b / k4 >= 0.8), a / k1 >= 0.4, a / k2, d / k3; and d has no non-2xx;
  g / f >= 0.8 (what bays and cables cost /state); d / j >= 0.75 (what history costs a link).
Other targets: h >= 10 requests/s with p99 under 1 s; the bays server's peak RSS since its start
(warm-ups and f-i's loads included) under 200 MB; the slowest s1 and s2 under 500 ms, x1 under
2 s, x3 under 10 s, the x1-x3 server's peak RSS under 250 MB; history's growth on disk during d
under 2,000 bytes per entry.
Timed checks (bench/live.py; reported, not asserted):
  events    two Pepper processes on the small studio: a stream held on B, 30 links POSTed to A
            one by one; min/median/max of write sent -> event received
  streams   e against a: p50, p99 and requests/s with and without the open streams
  shutdown  50 streams open on the second process, SIGTERM: seconds until it exits
  history   what d's history entries take: growth of the history tables (indexes and TOAST
            included) and their row data, per entry

Environment:
  BENCH_DATABASE_URL  admin URL of a PostgreSQL to use, e.g. postgresql://postgres@127.0.0.1/postgres;
                      unset: an embedded PostgreSQL in a temporary directory, deleted afterwards
  BENCH_DURATION      seconds per scenario (default 10)
  BENCH_WARMUP        seconds of the same load run first and not counted (default 3)
  BENCH_SEED          seed of the random re-linking (default: the clock)
  BENCH_URL           load this running server instead of starting one (no seeding, no RSS);
                      it must serve a studio of the small shape (see `python -m bench.seed`).
                      Scenario d and the event check re-link its ports. The event and shutdown
                      checks need processes of the benchmark's own and are skipped; the SELECT 1
                      ceilings need BENCH_DATABASE_URL and are skipped without it.
  BENCH_LARGE_URL     with BENCH_URL: the server for scenario c (skipped without it)
  BENCH_BAYS_URL, BENCH_BAYS_FLAT_URL
                      with BENCH_URL: the servers for g-i and for f (skipped without them);
                      seed them with `python -m bench.seed URL bays` (or bays-flat)
                      With BENCH_URL, j, s1-s2 and x1-x4 are skipped: they need copies of
                      studios the benchmark seeded.

At the defaults the whole run takes about four minutes. Results: four tables on stdout
(scenarios, single timed requests, ratios and targets, timed checks),
bench/results/latest.json and latest.md, and
beside them wrk's own report per scenario and each server's log. Exits 1 if any request failed;
a missed target is reported, not an error. The machine has 2 cores and other work on it moves
the figures: how busy the CPUs were just before the run is recorded (a warning above 20%), and
each scenario (and each timed request's runs) gets the share of the CPUs that other processes
took while it was measured (bench/cpu.py; a note above 5%).
"""

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench import cpu
from bench.history import STORAGE_TITLE, disable_history, footprint, storage_check
from bench.live import (
    Streams,
    event_latency,
    events_title,
    shutdown_time,
    shutdown_title,
    streams_check,
)
from bench.operations import SCENE_ROUNDS, csv_import, export_import, scene_recall
from bench.report import (
    Assessment,
    Check,
    Ratio,
    Scenario,
    ScenarioResult,
    Timing,
    assess_bytes,
    assess_no_failures,
    assess_p99,
    assess_peak_rss,
    assess_rate,
    assess_ratio,
    assess_slowest,
    build_payload,
    cpu_busy_percent,
    machine_info,
    render_assessments,
    render_checks,
    render_notes,
    render_table,
    render_timing_notes,
    render_timings,
    write_results,
)
from bench.seed import (
    BAY_LAYOUT,
    BAYS,
    BAYS_FLAT,
    LARGE,
    SMALL,
    Studio,
    clone,
    drop_database,
    migrate,
    prepare,
    recreate_database,
)
from bench.server import ApiServer, external_server, get, started_server
from bench.wrk import RELINK_SCRIPT, STATUS_SCRIPT, require_wrk, run_wrk
from scripts.embedded_db import start_server

RESULTS_DIR = Path(__file__).resolve().parent / "results"

STATE_SMALL = Scenario("a", "/state small", SMALL.name)
STATE_SMALL_NOT_MODIFIED = Scenario(
    "b", "/state small, If-None-Match", SMALL.name, also_ok=frozenset({304})
)
STATE_LARGE = Scenario("c", "/state large", LARGE.name)
RELINK_SMALL = Scenario("d", "random relink small", SMALL.name)
STREAMS = 100
STATE_SMALL_STREAMS = Scenario("e", f"/state small, {STREAMS} /events open", SMALL.name)
STATE_BAYS_FLAT = Scenario("f", "/state bays-flat", BAYS_FLAT.name)
STATE_BAYS = Scenario("g", "/state bays", BAYS.name)
SIGNAL_FLOW = Scenario("h", "/signal-flow bays", BAYS.name)
SIGNAL_FLOW_NOT_MODIFIED = Scenario(
    "i", "/signal-flow bays, If-None-Match", BAYS.name, also_ok=frozenset({304})
)
RELINK_NO_HISTORY = Scenario("j", "random relink small, history triggers off", "small-no-history")
# Copies of seeded studios, for what changes them (dropped at the end like the studios).
NO_HISTORY_DATABASE = "pepper_bench_small_no_history"
SCENES_DATABASE = "pepper_bench_bays_scenes"
EXPORT_DATABASE = "pepper_bench_bays_export"
EMPTY_DATABASE = "pepper_bench_empty"

CEILING = "ceiling"
CEILING_APP = "bench.ceiling_app:app"
CONSTANT_SYNC = Scenario("k1", "ceiling: constant body, def", CEILING)
CONSTANT_ASYNC = Scenario("k2", "ceiling: constant body, async def", CEILING)
SELECT1_SYNC = Scenario("k3", "ceiling: SELECT 1, def", CEILING)
SELECT1_ASYNC = Scenario("k4", "ceiling: SELECT 1, async def", CEILING)

RATIOS = (
    Ratio("304 / sync round trip", "b", "k3", target=0.9),
    Ratio("304 / async round trip", "b", "k4", target=0.8, stretch=True),
    Ratio("/state small / sync constant", "a", "k1", target=0.4),
    Ratio("/state small / async constant", "a", "k2"),
    Ratio("relinking / sync round trip", "d", "k3"),
    Ratio("/state bays / bays-flat", "g", "f", target=0.8),
    Ratio("relinking: history recorded / off", "d", "j", target=0.75),
)
# The bays studio's own targets.
SIGNAL_FLOW_MIN_RPS = 10
SIGNAL_FLOW_MAX_P99_MS = 1000
BAYS_MAX_RSS_MB = 200
# Scenes, history, export and import (s1-s2, d / j, x1-x4).
SCENE_MAX_S = 0.5
HISTORY_MAX_BYTES_PER_ENTRY = 2000
EXPORT_MAX_S = 2
IMPORT_MAX_S = 10
EXPORT_IMPORT_MAX_RSS_MB = 250

EVENT_WRITES = 30
SHUTDOWN_STREAMS = 50
# Above these, other work on the machine is likely to have disturbed the figures: say so.
BUSY_WARNING_PCT = 20
OTHER_CPU_WARNING = 0.05


@dataclass(frozen=True)
class Config:
    duration_s: int
    warmup_s: int
    seed: int
    database_url: str | None
    bench_url: str | None
    bench_large_url: str | None
    bench_bays_url: str | None
    bench_bays_flat_url: str | None

    @classmethod
    def from_env(cls) -> "Config":
        duration = os.environ.get("BENCH_DURATION", "10").strip().removesuffix("s")
        if not duration.isdigit() or int(duration) < 1:
            raise SystemExit(f"BENCH_DURATION must be whole seconds, at least 1 (got {duration!r})")
        warmup = os.environ.get("BENCH_WARMUP", "3").strip().removesuffix("s")
        if not warmup.isdigit():
            raise SystemExit(f"BENCH_WARMUP must be whole seconds (got {warmup!r})")
        return cls(
            duration_s=int(duration),
            warmup_s=int(warmup),
            seed=int(os.environ.get("BENCH_SEED") or time.time()),
            database_url=os.environ.get("BENCH_DATABASE_URL") or None,
            bench_url=os.environ.get("BENCH_URL") or None,
            bench_large_url=os.environ.get("BENCH_LARGE_URL") or None,
            bench_bays_url=os.environ.get("BENCH_BAYS_URL") or None,
            bench_bays_flat_url=os.environ.get("BENCH_BAYS_FLAT_URL") or None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "seed": self.seed,
            "database": "BENCH_DATABASE_URL" if self.database_url else "embedded",
            "bench_url": self.bench_url,
            "bench_large_url": self.bench_large_url,
            "bench_bays_url": self.bench_bays_url,
            "bench_bays_flat_url": self.bench_bays_flat_url,
        }

    def given_url(self, studio: Studio) -> str | None:
        """The running server BENCH_URL and its siblings name for `studio`, if any."""
        return {
            SMALL.name: self.bench_url,
            LARGE.name: self.bench_large_url,
            BAYS.name: self.bench_bays_url,
            BAYS_FLAT.name: self.bench_bays_flat_url,
        }[studio.name]


def log(message: str) -> None:
    # Progress goes to stderr; stdout carries only the results.
    print(message, file=sys.stderr, flush=True)


def on_exit(stack: ExitStack, what: str, action: Callable[[], object]) -> None:
    """Register a cleanup step that reports its own failure instead of hiding the real error."""

    def run() -> None:
        try:
            action()
        except Exception as exc:
            log(f"cleanup: could not {what}: {exc}")

    stack.callback(run)


def database_server(stack: ExitStack, config: Config) -> str | None:
    """Admin URL of the PostgreSQL to seed; None when a given BENCH_URL needs none."""
    if config.database_url:
        return config.database_url
    if config.bench_url:
        return None
    log("BENCH_DATABASE_URL is not set: starting an embedded PostgreSQL")
    workdir = Path(tempfile.mkdtemp(prefix="pepper-bench-"))
    on_exit(stack, "remove the embedded server's directory", lambda: shutil.rmtree(workdir))
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (always so under root and in CI).
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        server = start_server(workdir / "pg", delete_on_exit=True)
    on_exit(stack, "stop the embedded PostgreSQL", server.cleanup)
    return str(server.get_uri())


def prepare_studio(stack: ExitStack, admin_url: str, studio: Studio) -> str:
    log(f"seeding {studio.database}")
    # Registered before creating, so a half-made database is dropped too.
    on_exit(stack, f"drop {studio.database}", lambda: drop_database(admin_url, studio.database))
    return prepare(admin_url, studio)


@contextmanager
def api_for(config: Config, studio: Studio, database_url: str | None) -> Iterator[ApiServer]:
    """The API serving `studio`: our own uvicorn process, or the server BENCH_URL names."""
    if database_url is not None:
        with started_server(database_url, RESULTS_DIR / f"server-{studio.name}.log") as server:
            yield server
        return
    url = config.given_url(studio)
    assert url is not None
    with external_server(url) as server:
        yield server


def state_body(server: ApiServer) -> bytes:
    """GET /state once: checks the studio is there, warms the server up, gives the body."""
    reply = get(server.url("/state"))
    if reply.status != 200:
        where = " (see its log in bench/results/)" if server.process is not None else ""
        raise RuntimeError(f"GET /state answered {reply.status}{where}: {reply.body[:200]!r}")
    return reply.body


def measure(
    server: ApiServer,
    scenario: Scenario,
    config: Config,
    *,
    path: str = "/state",
    script: Path = STATUS_SCRIPT,
    headers: tuple[str, ...] = (),
    script_args: tuple[str, ...] = (),
) -> ScenarioResult:
    log(f"{scenario.key}. {scenario.title}: {config.duration_s} s of load")
    load = {"script": script, "headers": headers, "script_args": script_args}
    if config.warmup_s:
        # Not counted: the first seconds pay for prepared statements, pool growth and caches.
        run_wrk(server.url(path), duration_s=config.warmup_s, **load)  # type: ignore[arg-type]
    peak_was_reset = server.reset_peak_memory()
    pid = server.process.pid if server.process is not None else None
    before = cpu.snapshot(pid)
    result = run_wrk(server.url(path), duration_s=config.duration_s, **load)  # type: ignore[arg-type]
    after = cpu.snapshot(pid)
    (RESULTS_DIR / f"wrk-{scenario.key}.txt").write_text(result.output)
    measured = ScenarioResult(scenario, wrk=result, memory=server.memory())
    if pid is not None:
        # Unknown for a BENCH_URL server, whose CPU time would count as other work.
        measured.other_cpu = cpu.other_share(before, after, result.duration_s)
        if measured.other_cpu > OTHER_CPU_WARNING:
            measured.notes.append(
                f"other work took {measured.other_cpu:.0%} of the CPUs meanwhile:"
                " these figures are disturbed"
            )
    if pid is not None and not peak_was_reset:
        measured.notes.append("peak RSS counts from server start (VmHWM could not be reset)")
    return measured


def not_modified(
    server: ApiServer,
    config: Config,
    scenario: Scenario = STATE_SMALL_NOT_MODIFIED,
    path: str = "/state",
) -> ScenarioResult:
    """Scenarios b and i: `path` with the ETag the server just sent, as a polling browser would."""
    etag = get(server.url(path)).headers.get("ETag")
    if etag is None:
        return ScenarioResult(scenario, skipped=f"GET {path} sent no ETag header (no ETag support)")
    check = get(server.url(path), {"If-None-Match": etag}).status
    result = measure(server, scenario, config, path=path, headers=(f"If-None-Match: {etag}",))
    if check != 304:
        result.notes.append(f"a matching If-None-Match was answered {check}, not 304")
    return result


def relink(server: ApiServer, config: Config, scenario: Scenario = RELINK_SMALL) -> ScenarioResult:
    args = (str(config.seed), str(SMALL.devices), str(SMALL.ports_per_device), str(SMALL.points))
    # wrk needs a path in the URL; the script builds each request's own.
    return measure(server, scenario, config, path="/ports", script=RELINK_SCRIPT, script_args=args)


@dataclass
class History:
    """Scenario j, and what d's history took on disk."""

    without: ScenarioResult
    storage: Check
    bytes_per_entry: float | None = None


def relink_and_history(
    pepper: ApiServer,
    config: Config,
    database_url: str | None,
    no_history: ApiServer | None,
) -> tuple[ScenarioResult, History]:
    """Scenario d, with the growth of its studio's history measured around it (warm-up
    included), then the same load, same seed, on the copy whose history triggers are off (j)."""
    if database_url is None or no_history is None:
        reason = "no database of the benchmark's own (BENCH_URL)"
        skipped = History(
            ScenarioResult(RELINK_NO_HISTORY, skipped=reason),
            Check("history", STORAGE_TITLE, "", skipped=reason),
        )
        return relink(pepper, config), skipped
    before = footprint(database_url)
    with_history = relink(pepper, config)
    storage, per_entry = storage_check(database_url, before)
    without = relink(no_history, config, RELINK_NO_HISTORY)
    return with_history, History(without, storage, per_entry)


def with_streams(
    server: ApiServer, config: Config, without: ScenarioResult
) -> tuple[ScenarioResult, Check]:
    """Scenario e: scenario a's load while STREAMS event streams sit open on the same process."""

    async def load() -> tuple[ScenarioResult, int, int]:
        async with Streams(server.url("/events"), STREAMS) as streams:
            result = await asyncio.to_thread(measure, server, STATE_SMALL_STREAMS, config)
            return result, streams.opened, streams.still_open()

    result, opened, after = asyncio.run(load())
    return result, streams_check(without, result, STREAMS, opened, after)


def ceiling(
    server: ApiServer, scenario: Scenario, path: str, config: Config, *, skip: str | None = None
) -> ScenarioResult:
    if skip:
        return ScenarioResult(scenario, skipped=skip)
    return measure(server, scenario, config, path=path)


def run_small(
    pepper: ApiServer,
    ceilings: ApiServer,
    config: Config,
    *,
    has_database: bool,
    database_url: str | None,
    no_history: ApiServer | None,
) -> tuple[list[ScenarioResult], Check, History]:
    """Pepper's small-studio scenarios, each next to the ceilings it is compared with.

    Re-linking goes last: it changes the studio, and with it the ETag scenario b relies on.
    The same re-linking with history off (j, on a copy of the studio) follows it.
    """
    no_database = None if has_database else "no database (BENCH_URL without BENCH_DATABASE_URL)"
    state = measure(pepper, STATE_SMALL, config)
    results = [
        state,
        ceiling(ceilings, CONSTANT_SYNC, "/constant/sync", config),
        ceiling(ceilings, CONSTANT_ASYNC, "/constant/async", config),
    ]
    streams, streams_result = with_streams(pepper, config, state)
    results += [
        streams,
        not_modified(pepper, config),
        ceiling(ceilings, SELECT1_SYNC, "/select1/sync", config, skip=no_database),
        ceiling(ceilings, SELECT1_ASYNC, "/select1/async", config, skip=no_database),
    ]
    with_history, history = relink_and_history(pepper, config, database_url, no_history)
    results.append(with_history)
    return results, streams_result, history


def bays_servers_given(config: Config, databases: dict[str, str | None]) -> dict[str, str | None]:
    """Why f or g-i cannot run (by studio name), or None where they can."""
    return {
        studio.name: None
        if databases[studio.name] is not None or config.given_url(studio) is not None
        else f"BENCH_URL given without {variable}"
        for studio, variable in ((BAYS_FLAT, "BENCH_BAYS_FLAT_URL"), (BAYS, "BENCH_BAYS_URL"))
    }


@dataclass
class BaysRun:
    results: list[ScenarioResult]
    peak_mb: float | None  # the bays server's since its start (g-i)
    timings: list[Timing]
    export_peak_mb: float | None  # the export and import server's since its start (x1-x3)


def run_bays(
    stack: ExitStack,
    admin_url: str | None,
    config: Config,
    databases: dict[str, str | None],
    studios: dict[str, dict[str, Any]],
) -> BaysRun:
    """The bays studio's scenarios, after bays-flat's /state for comparison, each studio on a
    server of its own, one at a time; then the requests timed one at a time on copies of it.

    Later scenarios on the bays studio go here too: reads on the same server, after these;
    anything that changes the studio (applying scenes, importing, reverting history) on a copy
    of its own (`bench.seed.clone`, once this server has stopped), so these figures and the
    ETag of i stay the seeded studio's.
    """
    skipped = bays_servers_given(config, databases)
    bays_scenarios = (STATE_BAYS, SIGNAL_FLOW, SIGNAL_FLOW_NOT_MODIFIED)
    results: list[ScenarioResult] = []
    if skipped[BAYS_FLAT.name]:
        results.append(ScenarioResult(STATE_BAYS_FLAT, skipped=skipped[BAYS_FLAT.name]))
    else:
        with api_for(config, BAYS_FLAT, databases[BAYS_FLAT.name]) as server:
            studios[BAYS_FLAT.name] = describe(BAYS_FLAT, server, state_body(server))
            results.append(measure(server, STATE_BAYS_FLAT, config))
    if skipped[BAYS.name]:
        results += [
            ScenarioResult(scenario, skipped=skipped[BAYS.name]) for scenario in bays_scenarios
        ]
        return BaysRun(results, None, *on_copies(stack, admin_url, config, databases))
    with api_for(config, BAYS, databases[BAYS.name]) as server:
        description = describe(BAYS, server, state_body(server))
        flow = get(server.url("/signal-flow"), timeout=60)
        if flow.status != 200:
            raise RuntimeError(f"GET /signal-flow answered {flow.status}: {flow.body[:200]!r}")
        answer = json.loads(flow.body)
        description |= {
            "signal_flow_bytes": len(flow.body),
            "routes": len(answer["routes"]),
            "conflicts": len(answer["conflicts"]),
        }
        studios[BAYS.name] = description
        results += [
            measure(server, STATE_BAYS, config),
            measure(server, SIGNAL_FLOW, config, path="/signal-flow"),
            not_modified(server, config, SIGNAL_FLOW_NOT_MODIFIED, "/signal-flow"),
        ]
        peak_mb = server.peak_since_start_mb()
    return BaysRun(results, peak_mb, *on_copies(stack, admin_url, config, databases))


def copy_of(stack: ExitStack, admin_url: str, studio: Studio, name: str) -> str:
    log(f"copying {studio.database} to {name}")
    on_exit(stack, f"drop {name}", lambda: drop_database(admin_url, name))
    return clone(admin_url, studio, name)


def on_copies(
    stack: ExitStack, admin_url: str | None, config: Config, databases: dict[str, str | None]
) -> tuple[list[Timing], float | None]:
    """s1-s2 and x1-x4 (bench/operations.py), each on a server of its own, on a copy of the
    seeded bays studio (x4: on an empty one). Returns them and the export and import server's
    peak RSS since its start."""
    if admin_url is None or databases[BAYS.name] is None:
        reason = "no database of the benchmark's own to copy (BENCH_URL)"
        keys = (
            ("s1", "GET /scenes/{id}/diff bays"),
            ("s2", "POST /scenes/{id}/apply bays"),
            ("x1", "GET /export bays"),
            ("x2", "GET /export/patch-list.csv bays"),
            ("x3", "POST /import bays"),
            ("x4", "POST /import/patch-list.csv bays"),
        )
        return [Timing(key, title, BAYS.name, skipped=reason) for key, title in keys], None
    warm_up = config.warmup_s > 0
    scenes_url = copy_of(stack, admin_url, BAYS, SCENES_DATABASE)
    with started_server(scenes_url, RESULTS_DIR / "server-bays-scenes.log") as server:
        log(f"s1, s2. scenes 1,500 steps apart: {SCENE_ROUNDS} diffs and applies")
        timings = scene_recall(
            server,
            scenes_url,
            BAY_LAYOUT,
            rounds=SCENE_ROUNDS,
            warm_up=warm_up,
            warn_above=OTHER_CPU_WARNING,
        )
    export_url = copy_of(stack, admin_url, BAYS, EXPORT_DATABASE)
    with started_server(export_url, RESULTS_DIR / "server-bays-export.log") as server:
        log("x1-x3. export, patch-list export, import")
        exported, csv = export_import(server, warm_up=warm_up, warn_above=OTHER_CPU_WARNING)
        export_peak_mb = server.peak_since_start_mb()
    timings += exported
    if csv is None:
        title = "POST /import/patch-list.csv bays, into an empty studio"
        timings.append(Timing("x4", title, BAYS.name, skipped="GET /export/patch-list.csv failed"))
        return timings, export_peak_mb
    log(f"creating {EMPTY_DATABASE}")
    on_exit(stack, f"drop {EMPTY_DATABASE}", lambda: drop_database(admin_url, EMPTY_DATABASE))
    empty_url = recreate_database(admin_url, EMPTY_DATABASE)
    migrate(empty_url)
    with started_server(empty_url, RESULTS_DIR / "server-empty.log") as server:
        log("x4. patch-list import into an empty studio")
        timings.append(csv_import(server, csv, warn_above=OTHER_CPU_WARNING))
    return timings, export_peak_mb


def second_process_checks(pepper: ApiServer, database_url: str | None) -> list[Check]:
    """Event latency from `pepper` to a second process, then that process's shutdown."""
    if database_url is None:
        return [
            Check(
                "events",
                events_title(EVENT_WRITES),
                "",
                skipped="needs a second API process (BENCH_URL)",
            ),
            Check(
                "shutdown",
                shutdown_title(SHUTDOWN_STREAMS),
                "",
                skipped="would stop the BENCH_URL server",
            ),
        ]
    with started_server(database_url, RESULTS_DIR / "server-small-b.log") as second:
        log(f"events: {EVENT_WRITES} links on one process, their events on another")
        latency = asyncio.run(event_latency(pepper.base_url, second.base_url, EVENT_WRITES))
        log(f"shutdown: SIGTERM with {SHUTDOWN_STREAMS} streams open")
        shutdown = asyncio.run(shutdown_time(second, SHUTDOWN_STREAMS))
    return [latency, shutdown]


@contextmanager
def without_history(
    stack: ExitStack, admin_url: str | None, databases: dict[str, str | None]
) -> Iterator[ApiServer | None]:
    """A server on a copy of the small studio whose history triggers are off (scenario j);
    None when the benchmark has no database of its own. The copy is made before the small
    studio's server connects to it."""
    if admin_url is None or databases[SMALL.name] is None:
        yield None
        return
    url = copy_of(stack, admin_url, SMALL, NO_HISTORY_DATABASE)
    disable_history(url)
    with started_server(url, RESULTS_DIR / "server-small-no-history.log") as server:
        yield server


def run_benchmark(
    stack: ExitStack, config: Config
) -> tuple[dict[str, Any], list[ScenarioResult], list[Timing], list[Assessment], list[Check]]:
    busy = cpu_busy_percent()
    if busy > BUSY_WARNING_PCT:
        log(f"warning: the CPUs were {busy}% busy before the run; figures may be disturbed")
    admin_url = database_server(stack, config)
    studios_seeded = (SMALL, LARGE, BAYS_FLAT, BAYS)
    databases: dict[str, str | None] = {studio.name: None for studio in studios_seeded}
    if config.bench_url is None:
        assert admin_url is not None
        for studio in studios_seeded:
            databases[studio.name] = prepare_studio(stack, admin_url, studio)
    # SELECT 1 needs no tables: any database of the server will do.
    ceiling_database = databases[SMALL.name] or admin_url

    studios: dict[str, dict[str, Any]] = {}
    results: list[ScenarioResult] = []
    # The ceiling app is up beside the small studio's server, so that what is compared can run
    # back to back (the idle one costs no CPU); otherwise one server at a time is loaded.
    with (
        without_history(stack, admin_url, databases) as no_history,
        api_for(config, SMALL, databases[SMALL.name]) as server,
    ):
        body = state_body(server)
        studios[SMALL.name] = describe(SMALL, server, body)
        # The constant ceilings send these very bytes.
        body_file = RESULTS_DIR / "state-small.json"
        body_file.write_bytes(body)
        with started_server(
            ceiling_database or "",
            RESULTS_DIR / "server-ceiling.log",
            app=CEILING_APP,
            env={"CEILING_BODY_FILE": str(body_file)},
        ) as ceilings:
            small, streams, history = run_small(
                server,
                ceilings,
                config,
                has_database=ceiling_database is not None,
                database_url=databases[SMALL.name],
                no_history=no_history,
            )
        results += [*small, history.without]
        events, shutdown = second_process_checks(server, databases[SMALL.name])
    checks = [events, streams, shutdown, history.storage]
    if config.bench_url is not None and config.bench_large_url is None:
        results.append(
            ScenarioResult(STATE_LARGE, skipped="BENCH_URL given without BENCH_LARGE_URL")
        )
    else:
        with api_for(config, LARGE, databases[LARGE.name]) as server:
            studios[LARGE.name] = describe(LARGE, server, state_body(server))
            results.append(measure(server, STATE_LARGE, config))
    bays = run_bays(stack, admin_url, config, databases, studios)
    results += bays.results
    timings = bays.timings

    results.sort(key=lambda result: result.scenario.key)
    by_scenario = {result.scenario: result for result in results}
    assessments = [assess_ratio(ratio, results) for ratio in RATIOS]
    assessments += [
        assess_no_failures("relinking: no non-2xx", by_scenario[RELINK_SMALL]),
        assess_rate("/signal-flow bays: requests/s", by_scenario[SIGNAL_FLOW], SIGNAL_FLOW_MIN_RPS),
        assess_p99("/signal-flow bays: p99", by_scenario[SIGNAL_FLOW], SIGNAL_FLOW_MAX_P99_MS),
        assess_peak_rss("bays server: peak RSS", "g-i, since start", bays.peak_mb, BAYS_MAX_RSS_MB),
    ]
    by_key = {timing.key: timing for timing in timings}
    assessments += [
        assess_slowest("scene diff, 1,500 steps", by_key["s1"], SCENE_MAX_S),
        assess_slowest("scene apply, 1,500 steps", by_key["s2"], SCENE_MAX_S),
        assess_bytes(
            "history per re-link entry",
            "d, on disk",
            history.bytes_per_entry,
            HISTORY_MAX_BYTES_PER_ENTRY,
        ),
        assess_slowest("GET /export bays", by_key["x1"], EXPORT_MAX_S),
        assess_slowest("POST /import bays", by_key["x3"], IMPORT_MAX_S),
        assess_peak_rss(
            "export/import server: peak RSS",
            "x1-x3, since start",
            bays.export_peak_mb,
            EXPORT_IMPORT_MAX_RSS_MB,
        ),
    ]
    payload = build_payload(
        machine=machine_info(admin_url, busy),
        config=config.to_json(),
        studios=studios,
        results=results,
        timings=timings,
        assessments=assessments,
        checks=checks,
    )
    return payload, results, timings, assessments, checks


def describe(studio: Studio, server: ApiServer, body: bytes) -> dict[str, Any]:
    description = {
        "devices": studio.devices,
        "ports_per_device": studio.ports_per_device,
        "points": studio.points,
        "linked_ports": studio.linked_ports,
        "state_bytes": len(body),
        "server": server.base_url if server.process is None else "started by the benchmark",
    }
    if studio.layout is not None:
        # As the API shows them: a studio that did not come out as seeded is seen here.
        state = json.loads(body)
        description |= {"bays": len(state["bays"]), "cables": len(state["cables"])}
    return description


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turns SIGTERM into SystemExit, so the cleanup steps run as they do for Ctrl-C.
    sys.exit(128 + signum)


def main() -> int:
    config = Config.from_env()
    require_wrk()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        payload, results, timings, assessments, checks = run_benchmark(stack, config)
    print(render_table(results))
    for note in render_notes(results):
        print(f"  {note}")
    print()
    print(render_timings(timings))
    for note in render_timing_notes(timings):
        print(f"  {note}")
    print()
    print(render_assessments(assessments))
    print()
    print(render_checks(checks))
    for path in write_results(RESULTS_DIR, payload, results, timings, assessments, checks):
        log(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    failed = any(result.failures() for result in results)
    failed = failed or any(timing.failures() for timing in timings)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The ExitStack has already stopped the servers and dropped the databases.
        log("interrupted")
        sys.exit(130)
