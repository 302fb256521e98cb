"""Scenario results, the machine they ran on, and the table and files that report them."""

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.server import Memory
from bench.wrk import CONNECTIONS, THREADS, WrkResult, wrk_version

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    studio: str
    # Statuses outside 2xx that still count as success (304 for a conditional GET).
    also_ok: frozenset[int] = frozenset()


@dataclass
class ScenarioResult:
    scenario: Scenario
    wrk: WrkResult | None = None
    memory: Memory | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    other_cpu: float | None = None  # share of the CPUs other work took meanwhile (bench/cpu.py)

    def failures(self) -> dict[int, int]:
        """Responses by status that are neither 2xx nor accepted by the scenario."""
        if self.wrk is None:
            return {}
        return {
            status: count
            for status, count in sorted(self.wrk.statuses.items())
            if not 200 <= status < 300 and status not in self.scenario.also_ok
        }

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.scenario.key,
            "title": self.scenario.title,
            "studio": self.scenario.studio,
            "skipped": self.skipped,
            "notes": self.notes,
        }
        if self.wrk is not None:
            data |= {
                "requests": self.wrk.requests,
                "duration_s": round(self.wrk.duration_s, 3),
                "requests_per_s": round(self.wrk.requests_per_s, 1),
                "latency_ms": {
                    name: round(value, 2) for name, value in self.wrk.latency_ms.items()
                },
                "bytes_read": self.wrk.bytes_read,
                "statuses": {str(status): count for status, count in self.wrk.statuses.items()},
                "failures": {str(status): count for status, count in self.failures().items()},
                "failure_count": sum(self.failures().values()),
                "socket_errors": self.wrk.socket_errors,
                "other_cpu_pct": None if self.other_cpu is None else round(100 * self.other_cpu, 1),
            }
        if self.memory is not None:
            data |= {
                "peak_rss_mb": round(self.memory.peak_mb, 1),
                "rss_after_mb": round(self.memory.rss_mb, 1),
            }
        return data


@dataclass
class Timing:
    """A request timed one at a time (scenes, export, import): what each run took, no wrk load.

    The runs are sequential, each waits for the one before; `memory` is the server's peak over
    them (VmHWM reset before the first) and `other_cpu` the share of the CPUs other work took
    meanwhile, as for a scenario.
    """

    key: str
    title: str
    studio: str
    seconds: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    each: str = ""  # what one run moved or did, e.g. "1,500 steps", "1,835.7 kB"
    memory: Memory | None = None
    other_cpu: float | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # more for latest.json

    def record(self, seconds: float, status: int) -> None:
        self.seconds.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def failures(self) -> dict[int, int]:
        return {status: n for status, n in sorted(self.statuses.items()) if not 200 <= status < 300}

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def max_s(self) -> float | None:
        return max(self.seconds) if self.seconds else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "studio": self.studio,
            "skipped": self.skipped,
            "notes": self.notes,
        }
        if self.skipped is None:
            data |= {
                "runs_ms": [round(s * 1000, 1) for s in self.seconds],
                "median_ms": None if self.median_s is None else round(self.median_s * 1000, 1),
                "max_ms": None if self.max_s is None else round(self.max_s * 1000, 1),
                "statuses": {str(status): n for status, n in self.statuses.items()},
                "failure_count": sum(self.failures().values()),
                "each": self.each,
                "other_cpu_pct": None if self.other_cpu is None else round(100 * self.other_cpu, 1),
                **self.data,
            }
        if self.memory is not None:
            data |= {
                "peak_rss_mb": round(self.memory.peak_mb, 1),
                "rss_after_mb": round(self.memory.rss_mb, 1),
            }
        return data


def cpu_busy_percent(seconds: float = 2.0) -> float:
    """How busy all CPUs were over the next `seconds`, from /proc/stat (idle and iowait as idle).

    Taken before the run: work that was going on then (another load, a test suite) is likely
    to have disturbed the figures as well.
    """

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(values), values[3] + values[4]

    total, idle = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    elapsed = total_after - total
    return round(100 * (elapsed - (idle_after - idle)) / elapsed, 1) if elapsed else 0.0


def machine_info(admin_url: str | None, busy_before_pct: float) -> dict[str, Any]:
    return {
        "cpu_busy_before_pct": busy_before_pct,
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gb": _memory_gb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": _postgres_version(admin_url),
        "wrk": wrk_version(),
        "git_commit": _git("rev-parse", "HEAD"),
        # Uncommitted changes to tracked files mean the numbers are for more than the commit
        # above (untracked files, such as a symlinked .venv, are left out).
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return 0.0


def _postgres_version(admin_url: str | None) -> str:
    if admin_url is None:
        return "unknown (BENCH_URL without BENCH_DATABASE_URL)"
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


HEADERS = (
    "scenario",
    "req/s",
    "p50 ms",
    "p99 ms",
    "requests",
    "responses",
    "failures",
    "socket errors",
    "peak RSS MB",
    "RSS after MB",
    "other CPU %",
)


def _row(result: ScenarioResult) -> list[str]:
    label = f"{result.scenario.key}. {result.scenario.title}"
    if result.wrk is None:
        return [label, "skipped", *["-"] * (len(HEADERS) - 2)]
    wrk = result.wrk
    failures = result.failures()
    socket_errors = sum(wrk.socket_errors.values())
    return [
        label,
        f"{wrk.requests_per_s:,.1f}",
        f"{wrk.latency_ms['p50']:.2f}",
        f"{wrk.latency_ms['p99']:.2f}",
        f"{wrk.requests:,}",
        _by_status(wrk.statuses),
        f"{sum(failures.values())} ({_by_status(failures)})" if failures else "0",
        str(socket_errors) if socket_errors else "0",
        f"{result.memory.peak_mb:.1f}" if result.memory else "-",
        f"{result.memory.rss_mb:.1f}" if result.memory else "-",
        "-" if result.other_cpu is None else f"{100 * result.other_cpu:.0f}",
    ]


def _by_status(counts: dict[int, int]) -> str:
    return ", ".join(f"{status}: {count:,}" for status, count in sorted(counts.items()))


def render_table(results: Sequence[ScenarioResult]) -> str:
    return _markdown_table(HEADERS, [_row(result) for result in results])


TIMING_HEADERS = (
    "operation",
    "runs",
    "median",
    "max",
    "responses",
    "each",
    "peak RSS MB",
    "other CPU %",
)


def duration(seconds: float | None) -> str:
    """Milliseconds under ten seconds, seconds above."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _timing_row(timing: Timing) -> list[str]:
    label = f"{timing.key}. {timing.title}"
    if timing.skipped is not None:
        return [label, "skipped", *["-"] * (len(TIMING_HEADERS) - 2)]
    return [
        label,
        str(len(timing.seconds)),
        duration(timing.median_s),
        duration(timing.max_s),
        _by_status(timing.statuses),
        timing.each or "-",
        f"{timing.memory.peak_mb:.1f}" if timing.memory else "-",
        "-" if timing.other_cpu is None else f"{100 * timing.other_cpu:.0f}",
    ]


def render_timings(timings: Sequence[Timing]) -> str:
    return _markdown_table(TIMING_HEADERS, [_timing_row(timing) for timing in timings])


def _markdown_table(headers: Sequence[str], body: Sequence[list[str]], left: int = 1) -> str:
    """A Markdown table padded to line up, so it reads the same in a terminal and in a file.

    The first `left` columns are aligned left, the others (numbers) right.
    """
    rows = [list(headers), *body]
    widths = [max(len(row[column]) for row in rows) for column in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if column < left else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    separator = [
        "-" * width if column < left else "-" * (width - 1) + ":"
        for column, width in enumerate(widths)
    ]
    return "\n".join([line(rows[0]), line(separator), *(line(row) for row in rows[1:])])


@dataclass(frozen=True)
class Ratio:
    """Requests/s of one scenario over another's, with the project's target if it set one."""

    label: str
    numerator: str  # scenario keys
    denominator: str
    target: float | None = None
    stretch: bool = False  # a stretch goal rather than a target


@dataclass(frozen=True)
class Assessment:
    """One line of the ratios-and-targets table."""

    label: str
    measured: str  # what was compared, e.g. "b / k3"
    value: float | None  # None: a scenario it needs was skipped
    shown: str
    target: str  # "-" where the project set none
    met: bool | None  # None: no target, or nothing measured

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "measured": self.measured,
            "value": None if self.value is None else round(self.value, 3),
            "target": None if self.target == "-" else self.target,
            "met": self.met,
        }


def assess_ratio(ratio: Ratio, results: Sequence[ScenarioResult]) -> Assessment:
    by_key = {result.scenario.key: result.wrk for result in results}
    numerator, denominator = by_key.get(ratio.numerator), by_key.get(ratio.denominator)
    value = (
        numerator.requests_per_s / denominator.requests_per_s
        if numerator and denominator and denominator.requests_per_s
        else None
    )
    target = "-"
    if ratio.target is not None:
        target = f">= {ratio.target:.2f}x" + (" (stretch)" if ratio.stretch else "")
    return Assessment(
        label=ratio.label,
        measured=f"{ratio.numerator} / {ratio.denominator}",
        value=value,
        shown="-" if value is None else f"{value:.2f}x",
        target=target,
        met=None if value is None or ratio.target is None else value >= ratio.target,
    )


def assess_no_failures(label: str, result: ScenarioResult) -> Assessment:
    failures = sum(result.failures().values()) if result.wrk else None
    return Assessment(
        label=label,
        measured=f"{result.scenario.key}, non-2xx",
        value=failures,
        shown="-" if failures is None else f"{failures:,}",
        target="0",
        met=None if failures is None else failures == 0,
    )


def assess_rate(label: str, result: ScenarioResult, target: float) -> Assessment:
    """Requests/s of one scenario against an absolute floor."""
    value = result.wrk.requests_per_s if result.wrk else None
    return Assessment(
        label=label,
        measured=f"{result.scenario.key}, req/s",
        value=value,
        shown="-" if value is None else f"{value:,.1f}",
        target=f">= {target:g}",
        met=None if value is None else value >= target,
    )


def assess_p99(label: str, result: ScenarioResult, limit_ms: float) -> Assessment:
    value = result.wrk.latency_ms["p99"] if result.wrk else None
    return Assessment(
        label=label,
        measured=f"{result.scenario.key}, p99",
        value=value,
        shown="-" if value is None else f"{value:,.0f} ms",
        target=f"< {limit_ms:,.0f} ms",
        met=None if value is None else value < limit_ms,
    )


def assess_peak_rss(
    label: str, measured: str, peak_mb: float | None, limit_mb: float
) -> Assessment:
    return Assessment(
        label=label,
        measured=measured,
        value=peak_mb,
        shown="-" if peak_mb is None else f"{peak_mb:.1f} MB",
        target=f"< {limit_mb:g} MB",
        met=None if peak_mb is None else peak_mb < limit_mb,
    )


def assess_slowest(label: str, timing: Timing, limit_s: float) -> Assessment:
    """The slowest run of a timed request against a limit: every run must be under it."""
    value = timing.max_s
    return Assessment(
        label=label,
        measured=f"{timing.key}, slowest of {len(timing.seconds)}",
        value=value,
        shown=duration(value),
        target=f"< {duration(limit_s)}" if limit_s < 1 else f"< {limit_s:g} s",
        met=None if value is None or timing.failures() else value < limit_s,
    )


def assess_bytes(label: str, measured: str, value: float | None, limit: float) -> Assessment:
    return Assessment(
        label=label,
        measured=measured,
        value=value,
        shown="-" if value is None else f"{value:,.0f} bytes",
        target=f"< {limit:,.0f} bytes",
        met=None if value is None else value < limit,
    )


def render_assessments(assessments: Sequence[Assessment]) -> str:
    met = {True: "yes", False: "NO", None: "-"}
    return _markdown_table(
        ("ratio / target", "of", "measured", "target", "met"),
        [[a.label, a.measured, a.shown, a.target, met[a.met]] for a in assessments],
        left=2,
    )


@dataclass(frozen=True)
class Check:
    """A timed check: measured and reported, never asserted."""

    key: str
    title: str
    summary: str  # one line for the table
    data: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "skipped": self.skipped, **self.data}


def render_checks(checks: Sequence[Check]) -> str:
    return _markdown_table(
        ("timed check", "result"),
        [
            [
                f"{check.key}. {check.title}",
                f"skipped: {check.skipped}" if check.skipped else check.summary,
            ]
            for check in checks
        ],
        left=2,
    )


def render_notes(results: Sequence[ScenarioResult]) -> list[str]:
    notes = [f"{r.scenario.key}. skipped: {r.skipped}" for r in results if r.skipped]
    notes += [f"{r.scenario.key}. {note}" for r in results for note in r.notes]
    return notes


def render_timing_notes(timings: Sequence[Timing]) -> list[str]:
    notes = [f"{t.key}. skipped: {t.skipped}" for t in timings if t.skipped]
    notes += [f"{t.key}. {note}" for t in timings for note in t.notes]
    return notes


def render_markdown(
    payload: dict[str, Any],
    results: Sequence[ScenarioResult],
    timings: Sequence[Timing],
    assessments: Sequence[Assessment],
    checks: Sequence[Check],
) -> str:
    machine = payload["machine"]
    config = payload["config"]
    commit = machine["git_commit"][:12] + (
        " (with uncommitted changes)" if machine["git_dirty"] else ""
    )
    lines = [
        f"# Pepper benchmark, {payload['finished_at']}",
        "",
        f"- commit {commit}",
        f"- {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory_gb']} GB, "
        f"Linux {machine['kernel']}",
        f"- Python {machine['python']}, PostgreSQL {machine['postgresql']}, {machine['wrk']}",
        f"- CPUs {machine['cpu_busy_before_pct']}% busy over the 2 s before the run",
        f"- wrk: {config['threads']} threads, {config['connections']} connections, "
        f"{config['duration_s']} s per scenario after {config['warmup_s']} s of warm-up; "
        "one uvicorn worker per server (Pepper per studio, the ceiling app)",
        f"- studios: {_studios_line(payload['studios'])}",
        "",
        render_table(results),
        "",
        *(f"- {note}" for note in render_notes(results)),
        "",
        "Single requests, timed one at a time on copies of the bays studio (scenes, export and "
        "import):",
        "",
        render_timings(timings),
        "",
        *(f"- {note}" for note in render_timing_notes(timings)),
        "",
        "Requests/s of a Pepper scenario over a ceiling's (k1-k4: bench/ceiling_app.py) or over "
        "another scenario's, measured back to back, and the project's other targets:",
        "",
        render_assessments(assessments),
        "",
        "Timed checks (reported, not asserted):",
        "",
        render_checks(checks),
    ]
    # A table without notes leaves two blank lines after it: keep one.
    lines = [line for n, line in enumerate(lines) if line or not n or lines[n - 1]]
    return "\n".join(lines).rstrip() + "\n"


def _studios_line(studios: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, studio in studios.items():
        size = studio.get("state_bytes")
        shown = f", /state {size / 1000:,.1f} kB" if size else ""
        bays = studio.get("bays")
        patch = f", {bays} bays, {studio.get('cables', 0)} cables" if bays else ""
        flow = studio.get("signal_flow_bytes")
        if flow:
            shown += (
                f", /signal-flow {flow / 1000:,.1f} kB ({studio['routes']:,} routes,"
                f" {studio['conflicts']:,} conflicts)"
            )
        parts.append(
            f"{name} {studio['devices']} devices x {studio['ports_per_device']} ports, "
            f"{studio['points']} points, {studio['linked_ports']} linked{patch}{shown}"
        )
    return "; ".join(parts)


def build_payload(
    *,
    machine: dict[str, Any],
    config: dict[str, Any],
    studios: dict[str, dict[str, Any]],
    results: Sequence[ScenarioResult],
    timings: Sequence[Timing],
    assessments: Sequence[Assessment],
    checks: Sequence[Check],
) -> dict[str, Any]:
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {**config, "threads": THREADS, "connections": CONNECTIONS},
        "studios": studios,
        "scenarios": [result.to_json() for result in results],
        "timed_requests": [timing.to_json() for timing in timings],
        "ratios": [assessment.to_json() for assessment in assessments],
        "checks": [check.to_json() for check in checks],
    }


def write_results(
    directory: Path,
    payload: dict[str, Any],
    results: Sequence[ScenarioResult],
    timings: Sequence[Timing],
    assessments: Sequence[Assessment],
    checks: Sequence[Check],
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "latest.json"
    markdown_path = directory / "latest.md"
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    markdown_path.write_text(render_markdown(payload, results, timings, assessments, checks))
    return [json_path, markdown_path]
