"""`python -m bench.run`: seed two studios, serve each with one uvicorn worker, load it with wrk.

Scenarios (8 connections, 2 wrk threads each):
  a. GET /state of the small studio (30 devices x 8 ports, 96 points)
  b. the same with a matching If-None-Match (skipped if the server sends no ETag)
  c. GET /state of the large studio (1,000 devices x 16 ports, 4,000 points), its own server
  d. random concurrent POST /ports/{id}/link on the small studio (bench/relink.lua)

Environment:
  BENCH_DATABASE_URL  admin URL of a PostgreSQL to use, e.g. postgresql://postgres@127.0.0.1/postgres;
                      unset: an embedded PostgreSQL in a temporary directory, deleted afterwards
  BENCH_DURATION      seconds per scenario (default 10)
  BENCH_WARMUP        seconds of the same load run first and not counted (default 3)
  BENCH_SEED          seed of the random re-linking (default: the clock)
  BENCH_URL           load this running server instead of starting one (no seeding, no RSS);
                      it must serve a studio of the small shape (see `python -m bench.seed`).
                      Scenario d re-links its ports.
  BENCH_LARGE_URL     with BENCH_URL: the server for scenario c (skipped without it)

Results: a table on stdout, bench/results/latest.json and latest.md, and beside them wrk's own
report per scenario and each server's log. Exits 1 if any request failed.
"""

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

from bench.report import (
    Scenario,
    ScenarioResult,
    build_payload,
    machine_info,
    render_notes,
    render_table,
    write_results,
)
from bench.seed import LARGE, SMALL, Studio, drop_database, prepare
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


@dataclass(frozen=True)
class Config:
    duration_s: int
    warmup_s: int
    seed: int
    database_url: str | None
    bench_url: str | None
    bench_large_url: str | None

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
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "seed": self.seed,
            "database": "BENCH_DATABASE_URL" if self.database_url else "embedded",
            "bench_url": self.bench_url,
            "bench_large_url": self.bench_large_url,
        }


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
    url = config.bench_url if studio is SMALL else config.bench_large_url
    assert url is not None
    with external_server(url) as server:
        yield server


def state_size(server: ApiServer) -> int:
    """GET /state once: checks the studio is there, warms the server up, and sizes the body."""
    reply = get(server.url("/state"))
    if reply.status != 200:
        where = " (see its log in bench/results/)" if server.process is not None else ""
        raise RuntimeError(f"GET /state answered {reply.status}{where}: {reply.body[:200]!r}")
    return len(reply.body)


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
    result = run_wrk(server.url(path), duration_s=config.duration_s, **load)  # type: ignore[arg-type]
    (RESULTS_DIR / f"wrk-{scenario.key}.txt").write_text(result.output)
    measured = ScenarioResult(scenario, wrk=result, memory=server.memory())
    if server.process is not None and not peak_was_reset:
        measured.notes.append("peak RSS counts from server start (VmHWM could not be reset)")
    return measured


def not_modified(server: ApiServer, config: Config) -> ScenarioResult:
    """Scenario b: /state with the ETag the server just sent, as a polling browser would."""
    etag = get(server.url("/state")).headers.get("ETag")
    if etag is None:
        return ScenarioResult(
            STATE_SMALL_NOT_MODIFIED, skipped="GET /state sent no ETag header (no ETag support)"
        )
    check = get(server.url("/state"), {"If-None-Match": etag}).status
    result = measure(server, STATE_SMALL_NOT_MODIFIED, config, headers=(f"If-None-Match: {etag}",))
    if check != 304:
        result.notes.append(f"a matching If-None-Match was answered {check}, not 304")
    return result


def relink(server: ApiServer, config: Config) -> ScenarioResult:
    args = (str(config.seed), str(SMALL.devices), str(SMALL.ports_per_device), str(SMALL.points))
    # wrk needs a path in the URL; the script builds each request's own.
    return measure(
        server, RELINK_SMALL, config, path="/ports", script=RELINK_SCRIPT, script_args=args
    )


def run_small(server: ApiServer, config: Config) -> list[ScenarioResult]:
    # Re-linking goes last: it changes the studio, and with it the ETag scenario b relies on.
    return [
        measure(server, STATE_SMALL, config),
        not_modified(server, config),
        relink(server, config),
    ]


def run_benchmark(stack: ExitStack, config: Config) -> tuple[dict[str, Any], list[ScenarioResult]]:
    admin_url = database_server(stack, config)
    databases: dict[str, str | None] = {SMALL.name: None, LARGE.name: None}
    if config.bench_url is None:
        assert admin_url is not None
        for studio in (SMALL, LARGE):
            databases[studio.name] = prepare_studio(stack, admin_url, studio)

    studios: dict[str, dict[str, Any]] = {}
    results: list[ScenarioResult] = []
    # One studio at a time, so the two servers never compete for the CPUs.
    with api_for(config, SMALL, databases[SMALL.name]) as server:
        studios[SMALL.name] = describe(SMALL, server)
        results += run_small(server, config)
    if config.bench_url is not None and config.bench_large_url is None:
        results.append(
            ScenarioResult(STATE_LARGE, skipped="BENCH_URL given without BENCH_LARGE_URL")
        )
    else:
        with api_for(config, LARGE, databases[LARGE.name]) as server:
            studios[LARGE.name] = describe(LARGE, server)
            results.append(measure(server, STATE_LARGE, config))

    results.sort(key=lambda result: result.scenario.key)
    payload = build_payload(
        machine=machine_info(admin_url),
        config=config.to_json(),
        studios=studios,
        results=results,
    )
    return payload, results


def describe(studio: Studio, server: ApiServer) -> dict[str, Any]:
    return {
        "devices": studio.devices,
        "ports_per_device": studio.ports_per_device,
        "points": studio.points,
        "linked_ports": studio.linked_ports,
        "state_bytes": state_size(server),
        "server": server.base_url if server.process is None else "started by the benchmark",
    }


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turns SIGTERM into SystemExit, so the cleanup steps run as they do for Ctrl-C.
    sys.exit(128 + signum)


def main() -> int:
    config = Config.from_env()
    require_wrk()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        payload, results = run_benchmark(stack, config)
    print(render_table(results))
    for note in render_notes(results):
        print(f"  {note}")
    for path in write_results(RESULTS_DIR, payload, results):
        log(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    failed = [result for result in results if result.failures()]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The ExitStack has already stopped the servers and dropped the databases.
        log("interrupted")
        sys.exit(130)
