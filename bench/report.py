"""The rows of the scenario table, their results, the targets, and the report written of them."""

import json
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.servers import BENCH, RESULTS, Fleet

ANY_STATUS = frozenset(range(100, 600))


@dataclass(frozen=True)
class Round:
    """What a request timed one at a time is made of."""

    n: int  # the round, counting those not timed
    answers: Mapping[str, bytes]  # the last answer of each row so far
    data: Mapping[str, Any]  # what the server's setup gave


Request = tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers
TARGET_COLUMNS = ["target", "formula", "measured", "bound", "met"]


@dataclass(frozen=True)
class Scenario:
    """A row: loaded with wrk, unless `runs` (timed one request at a time) or `how` (a check of
    its own) says otherwise."""

    id: str
    title: str
    server: str  # a key of bench.scenarios.SERVERS
    path: str = "/state"
    method: str = "GET"
    body: bytes = b""
    headers: tuple[str, ...] = ()  # "Name: value"
    script: str = "status.lua"  # wrk's, beside this file
    args: tuple[str, ...] = ()  # the script's; "{seed}" stands for BENCH_SEED
    ok: frozenset[int] = frozenset()  # statuses besides 2xx that are not failures
    etag: bool = False  # If-None-Match with the ETag a GET of `path` gives just before
    vs: str | None = None  # the ceiling (or row) whose requests/s it is read against
    streams: int = 0  # /events streams held open on the server meanwhile
    history: bool = False  # measure the growth of the history tables meanwhile
    runs: int = 0  # timed one at a time, this many times, after `warm` times not counted
    warm: int = 0
    group: str = ""  # consecutive timed rows of a group take turns, round by round
    poll: str = ""  # a path GET 20 times a second, meanwhile, each on a new connection
    request: Callable[[Round], Request] | None = None  # else method, path, body, headers
    each: Callable[[bytes], str] | None = None  # what an answer holds, for the table
    how: Callable[[Fleet, "Scenario", dict[str, "Result"]], "Result"] | None = None
    also: tuple[str, ...] = ()  # other servers it uses
    needs: tuple[str, ...] = ()  # rows that BENCH_ONLY runs first with it

    @property
    def kind(self) -> str:
        return "check" if self.how else "timed" if self.runs else "load"

    def request_at(self, r: Round) -> Request:
        """What it sends in round `r`: `request`'s, or else its own method, path, body, headers."""
        if self.request:
            return self.request(r)
        asked = dict(line.split(": ", 1) for line in self.headers)
        return self.method, self.path, self.body or None, asked


@dataclass
class Result:
    scenario: Scenario
    skipped: str | None = None  # not measured, not a failure
    error: str | None = None  # could not be measured: a failure
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0
    rps: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    runs_s: list[float] = field(default_factory=list)
    each: list[str] = field(default_factory=list)
    peak_mb: float | None = None  # VmHWM over the measurement
    other_cpu: float | None = None  # the share of the CPUs others took meanwhile
    summary: str = ""  # a check's line
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def failures(self) -> int:
        ok = self.scenario.ok
        bad = sum(
            n for status, n in self.statuses.items() if not (200 <= status < 300 or status in ok)
        )
        return bad + self.socket_errors + (self.error is not None)

    def figure(self, kind: str) -> float | None:
        """rate (req/s), p99, median or slowest (s), non-2xx, peak (MB), or one of `data`."""
        if kind == "non-2xx" and self.rps is not None:
            return sum(n for status, n in self.statuses.items() if status // 100 != 2)
        if kind == "p99":
            return self.latency_ms["p99"] / 1000 if self.latency_ms else None
        if kind in ("slowest", "median"):
            pick = max if kind == "slowest" else statistics.median
            return pick(self.runs_s) if self.runs_s else None
        return {"rate": self.rps, "peak": self.peak_mb}.get(kind, self.data.get(kind))

    def vs_ratio(self, results: Mapping[str, "Result"]) -> float | None:
        """Requests/s over the `vs` row's; a timed request's slowest run over the `vs` row's
        time per request (1 / its requests/s)."""
        base = results.get(self.scenario.vs or "")
        timed = self.scenario.kind == "timed"
        value = self.figure("slowest" if timed else "rate")
        if base is None or not base.rps or value is None:
            return None
        return value * base.rps if timed else value / base.rps


UNITS = {"rate": " req/s", "p99": " s", "median": " s", "slowest": " s", "bytes": " B"}
UNITS |= {"rss": " MB", "peak": " MB", "rss_growth": " MB", "poll_p99": " ms"}


@dataclass(frozen=True)
class Target:
    label: str
    kind: str  # a Result.figure, or rss: a server's peak since start
    of: str  # a row, or rows ("w1,w2": the worst of them); for rss, a server
    bound: float  # a rate at least, anything else at most
    over: str | None = None  # a rate over this row's, a time over its time per request

    def assess(self, results: Mapping[str, Result], peaks: Mapping[str, float]) -> list[str]:
        """The target's row: label, formula, measured (from what), bound, met."""
        at_least, base = self.kind == "rate", results.get(self.over or "")
        rows = [results[of] for of in self.of.split(",") if of in results]
        figures = (
            [peaks.get(self.of)] if self.kind == "rss" else [r.figure(self.kind) for r in rows]
        )
        known = [figure for figure in figures if figure is not None]
        value = (min if at_least else max)(known) if known else None
        rate = base.rps if base else None
        sign = "÷" if at_least else "*"
        formula = f"{self.of} {self.kind}" + (f" {sign} {self.over} req/s" if self.over else "")
        bound = f"{'≥' if at_least else '≤'} {self.bound:,.4g}"
        if value is None or (self.over and not rate):
            return [self.label, formula, "-", bound, "-"]
        shown = f"{value:,.4g}{UNITS.get(self.kind, '')}"
        if rate:
            value = value / rate if at_least else value * rate
            shown = f"{value:,.4g} ({shown} {sign} {rate:,.1f})"
        met = value >= self.bound if at_least else value <= self.bound
        return [self.label, formula, shown, bound, "yes" if met else "NO"]


def table(headers: Sequence[str], rows: Sequence[list[str]], left: int = 1) -> str:
    """Markdown padded to line up, to read alike in a terminal and a file; after the first
    `left` columns, right-aligned."""
    rows = [list(headers), *(row + [""] * (len(headers) - len(row)) for row in rows)]
    widths = [max(len(row[n]) for row in rows) for n in range(len(headers))]
    rows.insert(1, ["-" * w if n < left else "-" * (w - 1) + ":" for n, w in enumerate(widths)])
    return "\n".join(
        "| "
        + " | ".join(
            c.ljust(w) if n < left else c.rjust(w)
            for n, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        + " |"
        for row in rows
    )


def row(result: Result, results: Mapping[str, Result], baseline: Mapping[str, float]) -> list[str]:
    sc, ratio = result.scenario, result.vs_ratio(results)
    if result.skipped or result.error:
        return [f"{sc.id}. {sc.title}", result.skipped or "FAILED"]
    if sc.kind == "timed":
        runs = result.runs_s or [math.nan]
        ms = [
            f"{s * 1000:,.0f} ms" if s < 10 else f"{s:,.1f} s"
            for s in (statistics.median(runs), max(runs))
        ]
        figures = [str(len(result.runs_s)), *ms, " / ".join(sorted(set(result.each)))]
    else:
        figures = [
            f"{result.rps or 0:,.1f}",
            *(f"{result.latency_ms[p]:,.2f}" if result.latency_ms else "-" for p in ("p50", "p99")),
        ]
    responses = ", ".join(f"{status}: {n:,}" for status, n in sorted(result.statuses.items()))
    other = "-" if result.other_cpu is None else f"{100 * result.other_cpu:.0f}"
    vs = "-" if ratio is None else f"{ratio:,.3g}x {'1/' if sc.kind == 'timed' else ''}{sc.vs}"
    cells = [f"{sc.id}. {sc.title}", *figures, responses, str(result.failures())]
    cells += [f"{result.peak_mb or 0:.0f}", other, vs]
    if baseline:  # the change of its standing against its ceiling: negative is worse
        was = baseline.get(sc.id)
        change = (
            None
            if not ratio or not was
            else (was / ratio if sc.kind == "timed" else ratio / was) - 1
        )
        cells.append(
            "-" if change is None else f"{change:+.0%}" + (" (!)" if change < -0.2 else "")
        )
    return cells


def render(
    results: Mapping[str, Result],
    targets: Sequence[Target],
    peaks: Mapping[str, float],
    baseline: Mapping[str, float],
) -> str:
    """The tables (loads, timed requests, targets, checks) and the notes."""
    common = ["responses", "failures", "peak RSS MB", "other CPU %", "vs ceiling"]
    common += ["change vs baseline"] if baseline else []
    parts = []
    loads, timed = ["scenario", "req/s", "p50 ms", "p99 ms"], ["timed one at a time", "runs"]
    for kind, first in (("load", loads), ("timed", [*timed, "median", "slowest", "each"])):
        rows = [row(r, results, baseline) for r in results.values() if r.scenario.kind == kind]
        parts += [table(first + common, rows)] if rows else []
    assessed = [target.assess(results, peaks) for target in targets]
    parts.append(table(TARGET_COLUMNS, assessed, left=2))
    checks = [
        [f"{r.scenario.id}. {r.scenario.title}", r.summary] for r in results.values() if r.summary
    ]
    parts += [table(["check", "result"], checks, left=2)] if checks else []
    notes = [f"{r.scenario.id}. FAILED: {r.error}" for r in results.values() if r.error]
    notes += [f"{r.scenario.id}. {note}" for r in results.values() for note in r.notes]
    notes += [f"peak RSS since start, MB: {', '.join(f'{k} {v:.0f}' for k, v in peaks.items())}"]
    return "\n\n".join([*parts, "\n".join(f"- {note}" for note in notes)]) + "\n"


def machine(admin_url: str, app_dir: Path, busy_before: float) -> dict[str, Any]:
    def git(where: Path, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    with psycopg.connect(admin_url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone() or ("?",)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    # Uncommitted changes to tracked files: the figures are for more than the commit.
    changed = git(app_dir, "status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_busy_before_pct": busy_before,
        "system": f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"PostgreSQL {postgres[0]}, {wrk.partition(' [')[0]}",
        "app": f"{app_dir} at {git(app_dir, 'rev-parse', 'HEAD')[:12]}"
        + (" with uncommitted changes" if changed else ""),
        "bench": f"{BENCH} at {git(BENCH, 'rev-parse', 'HEAD')[:12]}",
    }


def write(
    info: dict[str, Any],
    results: Mapping[str, Result],
    targets: Sequence[Target],
    peaks: Mapping[str, float],
    baseline: Mapping[str, float],
) -> str:
    """bench/results/latest.md and latest.json; returns the Markdown."""
    m, c = info["machine"], info["config"]
    text = (
        f"# Pepper benchmark, {datetime.now(UTC).isoformat(timespec='seconds')}\n\n"
        f"- app {m['app']}; bench {m['bench']}\n- {m['nproc']} CPUs, {m['system']}; the CPUs "
        f"{m['cpu_busy_before_pct']}% busy with other work before the run\n- wrk: {c['threads']} threads, "
        f"{c['connections']} connections, {c['duration_s']} s a row after {c['warmup_s']} s "
        f"of warm-up; one uvicorn worker a server, {' '.join(c['uvicorn_options'])}\n\n"
        + render(results, targets, peaks, baseline)
    )
    (RESULTS / "latest.md").write_text(text)
    rows = [
        {"id": r.scenario.id, "title": r.scenario.title, "server": r.scenario.server}
        | {"vs": r.scenario.vs, "vs_ratio": r.vs_ratio(results), "failures": r.failures()}
        | {name: value for name, value in vars(r).items() if name != "scenario"}
        for r in results.values()
    ]
    assessed = [dict(zip(TARGET_COLUMNS, t.assess(results, peaks), strict=True)) for t in targets]
    payload = info | {"scenarios": rows, "targets": assessed, "peak_rss_since_start_mb": peaks}
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")
    return text
