"""`python -m bench.run` (make bench): Pepper under wrk, beside ceilings measured in the same run.

Makes the databases the chosen rows need, serves each with one uvicorn worker (the options of
the app's scripts/serve.py), runs the rows of bench/scenarios.py in order, assesses the targets
and writes bench/results/latest.{md,json}. Exits 1 if any request failed. bench/README.md
describes the rows and the environment (BENCH_DATABASE_URL, BENCH_DURATION, BENCH_WARMUP,
BENCH_SEED, BENCH_ONLY, BENCH_APP_DIR, BENCH_BASELINE).
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import seed, servers
from bench.checks import footprint, history_growth, polled_while, polling, rest, streams
from bench.report import Result, Round, Scenario, machine, write
from bench.scenarios import SCENARIOS, SERVERS, TARGETS
from bench.servers import RESULTS, Fleet, NotHere, Server, cpu, not_here, run_wrk, send
from scripts.embedded_db import start_server


@dataclass(frozen=True)
class Config:
    duration: float
    warmup: float
    seed: int
    database_url: str | None
    only: tuple[str, ...]
    app_dir: Path
    baseline: str | None

    @classmethod
    def from_env(cls) -> "Config":
        def seconds(name: str, default: str) -> float:
            text = os.environ.get(name, default).strip().removesuffix("s")
            try:
                return max(0.0, float(text))
            except ValueError:
                raise SystemExit(f"{name} must be seconds (got {text!r})") from None

        return cls(
            duration=max(1.0, seconds("BENCH_DURATION", "10")),
            warmup=seconds("BENCH_WARMUP", "3"),
            seed=int(os.environ.get("BENCH_SEED") or time.time()),
            database_url=os.environ.get("BENCH_DATABASE_URL") or None,
            only=tuple(filter(None, os.environ.get("BENCH_ONLY", "").replace(" ", "").split(","))),
            app_dir=Path(os.environ.get("BENCH_APP_DIR") or servers.ROOT).resolve(),
            baseline=os.environ.get("BENCH_BASELINE") or None,
        )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # stdout carries only the results


def choose(only: tuple[str, ...]) -> list[Scenario]:
    """The rows BENCH_ONLY names and the rows they need, in the table's order; all without it."""
    rows = {scenario.id: scenario for scenario in SCENARIOS}
    if unknown := [i for i in only if i not in rows]:
        raise SystemExit(f"BENCH_ONLY: no row {', '.join(unknown)}; rows: {', '.join(rows)}")
    chosen, wanted = set(), list(only or rows)
    while wanted:
        if (i := wanted.pop()) not in chosen:
            chosen.add(i)
            wanted += rows[i].needs
    return [scenario for scenario in SCENARIOS if scenario.id in chosen]


def servers_of(scenarios: list[Scenario]) -> set[str]:
    return {name for scenario in scenarios for name in (scenario.server, *scenario.also)}


def admin_url(stack: ExitStack, config: Config) -> str:
    if config.database_url:
        return config.database_url
    log("BENCH_DATABASE_URL is not set: starting an embedded PostgreSQL")
    workdir = Path(tempfile.mkdtemp(prefix="pepper-bench-"))
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        server = start_server(workdir / "pg", delete_on_exit=True)
    stack.callback(server.cleanup)
    return str(server.get_uri())


def databases(stack: ExitStack, admin: str, scenarios: list[Scenario], app: Path) -> dict[str, str]:
    """The databases of the rows' servers and those they are made from, all made before any
    server connects (a copy needs its original without sessions); dropped at the end."""
    need = {SERVERS[name].database for name in servers_of(scenarios)} | {"template"}
    while more := {seed.MADE_FROM.get(name, "template") for name in need} - need:
        need |= more
    urls = {}
    for name in ["template", *seed.STUDIOS, *seed.MADE_FROM]:
        if name in need:
            log(f"making database {seed.database_name(name)}")
            stack.callback(seed.drop, admin, name)
            urls[name] = seed.make(admin, name, app)
    return urls


def note_cpu(result: Result, before: servers.Cpu, server: Server, seconds: float) -> None:
    result.other_cpu = servers.other_share(before, cpu(server), seconds)
    if result.other_cpu > 0.05:
        result.notes.append(f"others took {result.other_cpu:.0%} of the CPUs: figures disturbed")


def load(fleet: Fleet, scenario: Scenario, config: Config, results: dict[str, Result]) -> Result:
    """wrk on the row's server: BENCH_WARMUP seconds not counted, then BENCH_DURATION."""
    server, result, headers = fleet.get(scenario.server), Result(scenario), list(scenario.headers)
    args = [arg.format(seed=config.seed) for arg in scenario.args]
    if scenario.script == "status.lua":  # one request, always the same: try it first
        method, path, sent, asked = scenario.request_at(Round(0, {}, server.data))
        probe = send(server.url(path), method, sent, asked)
        if not_here(probe):
            raise NotHere
        if scenario.etag and (etag := probe.headers.get("ETag")) is None:
            return Result(scenario, skipped=f"GET {scenario.path} sends no ETag")
        headers += [f"If-None-Match: {etag}"] if scenario.etag else []
        if scenario.method != "GET" or scenario.body:
            (body := RESULTS / f"body-{scenario.id}").write_bytes(scenario.body)
            args = [scenario.method, str(body)]
    history = footprint(server.database_url) if scenario.history else None
    url = server.url(scenario.path)
    with streams(server, scenario.streams) as held:
        if config.warmup:  # pays for prepared statements, pool growth, caches
            run_wrk(url, config.warmup, scenario.script, args, headers)
        server.reset_peak()
        before = cpu(server)
        wrk = run_wrk(url, config.duration, scenario.script, args, headers)
        note_cpu(result, before, server, wrk.seconds)
        still_open = sum(rest(sock, 0) is None for sock in held)
    (RESULTS / f"wrk-{scenario.id}.txt").write_text(wrk.output)
    result.rps, result.statuses, result.socket_errors = wrk.rps, wrk.statuses, wrk.socket_errors
    result.peak_mb, result.latency_ms = server.peak_mb(), wrk.latency_ms if wrk.statuses else {}
    result.notes += [] if wrk.statuses else ["no answer came within the run: no latency figures"]
    if history is not None:
        history_growth(server.database_url, history, result)
    elif scenario.history:
        result.notes.append("no history tables on this version")
    if scenario.streams:
        result.summary = f"{len(held)}/{scenario.streams} opened, {still_open} open after the load"
    if scenario.streams and (base := results.get(scenario.vs or "")) and base.latency_ms:
        a, e = base.latency_ms, result.latency_ms or {"p50": 0.0, "p99": 0.0}
        result.summary += (
            f"; against {base.scenario.id}: p50 {a['p50']:.2f} -> {e['p50']:.2f} ms, p99 "
            f"{a['p99']:.2f} -> {e['p99']:.2f} ms, req/s {result.vs_ratio(results) or 0:.2f}x"
        )
    return result


def timed(
    fleet: Fleet, group: list[Scenario], config: Config, answers: dict[str, bytes]
) -> list[Result]:
    """Requests one after another, each timed from sending it to its answer's last byte; the
    rows of a group take turns. Peak RSS and other CPU are over the timed rounds."""
    server, results = fleet.get(group[0].server), [Result(scenario) for scenario in group]
    warm = group[0].warm if config.warmup else 0
    for n in range(warm + max(scenario.runs for scenario in group)):
        if n == warm:
            server.reset_peak()
            before, started = cpu(server), time.perf_counter()
        for scenario, result in zip(group, results, strict=True):
            method, path, body, headers = scenario.request_at(Round(n, answers, server.data))
            with polling(server, scenario.poll) as polled:
                sent = time.perf_counter()
                reply = send(server.url(path), method, body, headers)
                took = time.perf_counter() - sent
            if not_here(reply):
                raise NotHere
            if n >= warm:
                result.runs_s.append(took)
                result.statuses[reply.status] = result.statuses.get(reply.status, 0) + 1
                polled_while(scenario.poll, polled, result)
            if not (200 <= reply.status < 300 or reply.status in scenario.ok):
                result.notes.append(
                    f"{method} {path} answered {reply.status}: {reply.body[:200]!r}"
                )
                break  # the rest of the round would build on this answer
            answers[scenario.id] = reply.body
            result.each += [scenario.each(reply.body)] if n >= warm and scenario.each else []
    for result in results:
        result.peak_mb = server.peak_mb()
        note_cpu(result, before, server, time.perf_counter() - started)
    return results


def run(fleet: Fleet, scenarios: list[Scenario], config: Config) -> dict[str, Result]:
    """The rows in order, a group's together; a server runs from the first row that needs it
    to the last. A row that raises is a failure; the others still run."""
    results: dict[str, Result] = {}
    answers: dict[str, bytes] = {}
    n = 0
    while n < len(scenarios):
        first, end = scenarios[n], n + 1
        while first.group and end < len(scenarios) and scenarios[end].group == first.group:
            end += 1
        group = scenarios[n:end]
        fleet.keep(servers_of(scenarios[n:]))
        log(f"{', '.join(s.id for s in group)}. {first.title}")
        try:
            if first.how:
                measured = [first.how(fleet, first, results)]
            elif first.runs:
                measured = timed(fleet, group, config, answers)
            else:
                measured = [load(fleet, first, config, results)]
            results |= {result.scenario.id: result for result in measured}
        except NotHere:
            results |= {s.id: Result(s, skipped="not on this version") for s in group}
        except Exception as error:
            results |= {s.id: Result(s, error=f"{type(error).__name__}: {error}") for s in group}
        n = end
    return results


def main() -> int:
    config = Config.from_env()
    if shutil.which("wrk") is None:
        log("wrk is not installed: apt-get install wrk")
        return 2
    # SIGTERM as SystemExit: the servers stop and the databases go, as for Ctrl-C.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    RESULTS.mkdir(parents=True, exist_ok=True)
    scenarios, before = choose(config.only), cpu(None)
    time.sleep(2)  # what others do now likely goes on in the run
    if (busy := round(100 * servers.other_share(before, cpu(None), 2), 1)) > 20:
        log(f"warning: others took {busy}% of the CPUs before the run: figures may be disturbed")
    with ExitStack() as stack:
        admin = admin_url(stack, config)
        fleet = Fleet(SERVERS, databases(stack, admin, scenarios, config.app_dir), config.app_dir)
        stack.callback(fleet.keep, ())
        results = run(fleet, scenarios, config)
        fleet.keep(())
        info = {"machine": machine(admin, config.app_dir, busy)}
    info["config"] = {
        "duration_s": config.duration,
        "warmup_s": config.warmup,
        "seed": config.seed,
        "only": config.only,
        "threads": servers.THREADS,
        "connections": servers.CONNECTIONS,
        "uvicorn_options": fleet.options,
    }
    baseline: dict[str, float] = {}
    if config.baseline:  # an earlier latest.json: each row's change against its ceiling
        rows = json.loads(Path(config.baseline).read_text())["scenarios"]
        baseline = {row["id"]: row["vs_ratio"] for row in rows if row["vs_ratio"]}
    print(write(info, results, TARGETS, fleet.peaks, baseline))
    log(f"wrote {RESULTS}/latest.md and latest.json")
    return 1 if any(result.failures() for result in results.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")  # the servers are stopped and the databases dropped by now
        sys.exit(130)
