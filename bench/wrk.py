"""Running wrk and reading the numbers its Lua scripts print."""

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
STATUS_SCRIPT = BENCH_DIR / "status.lua"
RELINK_SCRIPT = BENCH_DIR / "relink.lua"

CONNECTIONS = 8
THREADS = 2
# wrk's default of 2 s would count a slow /state of the large studio as a timeout and leave it
# out of the latency figures; a generous limit keeps every response in the percentiles.
TIMEOUT_S = 10

RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes_read: int
    latency_ms: dict[str, float]  # p50, p90, p99, max, mean
    statuses: dict[int, int]  # responses by HTTP status
    socket_errors: dict[str, int]  # connect, read, write, timeout
    output: str  # wrk's own report, kept for the record

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def require_wrk() -> None:
    """Exit with install advice when wrk is missing: nothing else can stand in for it."""
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        raise SystemExit(2)


def wrk_version() -> str:
    # `wrk -v` prints "wrk VERSION [epoll] Copyright ..." and then the usage, exiting 1.
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = done.stdout.splitlines()[0] if done.stdout else "unknown"
    return first.partition(" [")[0].strip()


def run_wrk(
    url: str,
    *,
    duration_s: int,
    script: Path = STATUS_SCRIPT,
    headers: Sequence[str] = (),
    script_args: Sequence[str] = (),
) -> WrkResult:
    """Load `url` for `duration_s` seconds with the scenario's script and return its numbers."""
    command = [
        "wrk",
        "--threads",
        str(THREADS),
        "--connections",
        str(CONNECTIONS),
        "--duration",
        f"{duration_s}s",
        "--timeout",
        f"{TIMEOUT_S}s",
        "--latency",
        "--script",
        str(script),
    ]
    for header in headers:
        command += ["--header", header]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{output}")
    return parse_output(output)


def parse_output(output: str) -> WrkResult:
    line = next((line for line in output.splitlines() if line.startswith(RESULT_PREFIX)), None)
    if line is None:
        # A Lua error in the script shows up here instead of the result line.
        raise RuntimeError(f"wrk printed no {RESULT_PREFIX.strip()} line:\n{output}")
    data = json.loads(line.removeprefix(RESULT_PREFIX))
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        bytes_read=int(data["bytes"]),
        latency_ms={name: value / 1000 for name, value in data["latency_us"].items()},
        statuses={int(status): int(count) for status, count in data["statuses"].items()},
        socket_errors={name: int(count) for name, count in data["socket_errors"].items()},
        output=output,
    )
