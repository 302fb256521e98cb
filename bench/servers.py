"""The servers the benchmark starts (one uvicorn worker each), wrk, and the CPU others took."""

import json
import math
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT, RESULTS = BENCH.parent, BENCH / "results"
CONNECTIONS, THREADS = 8, 2
APPS = {"pepper": "app.main", "ceiling": "bench.ceiling_app", "earlier": "bench.earlier_app"}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes


def send(
    url: str, method: str = "GET", body: bytes | None = None, headers: Mapping[str, str] = {}
) -> Reply:
    """One request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, body, dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return Reply(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def not_here(reply: Reply) -> bool:
    """FastAPI's answer for a route or a method the app does not have."""
    return reply.status == 405 or (reply.status == 404 and reply.body == b'{"detail":"Not Found"}')


class NotHere(Exception):
    """The scenario's endpoint is not on this version of the app."""


@dataclass(frozen=True)
class ServerSpec:
    app: str  # a key of APPS
    database: str  # a database of bench.seed
    http: str | None = None  # uvicorn's --http instead of the one scripts/serve.py gives
    env: Callable[["Fleet"], dict[str, str]] | None = None  # more environment, worked out first
    setup: Callable[["Server"], dict[str, Any]] | None = None  # once up; kept in Server.data


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, database_url: str) -> None:
        self.process, self.port, self.database_url = process, port, database_url
        self.base_url = f"http://127.0.0.1:{port}"
        self.data: dict[str, Any] = {}
        self.peak_before_reset = 0.0

    def url(self, path: str) -> str:
        return self.base_url + path

    def peak_mb(self, line: str = "VmHWM") -> float:
        """VmHWM: the most memory it held since it started or since reset_peak (VmRSS: what it
        holds now); 0 once gone."""
        try:  # a process that has exited has no /proc entry, or no such line
            kb = Path(f"/proc/{self.process.pid}/status").read_text().partition(line + ":")[2]
        except OSError:
            kb = ""
        return int(kb.split()[0]) / 1024 if kb.split() else 0.0

    def reset_peak(self) -> None:
        self.peak_before_reset = max(self.peak_before_reset, self.peak_mb())
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")  # Linux 4.0+

    def stop(self) -> float:
        """Stop it; its peak since start."""
        peak = max(self.peak_before_reset, self.peak_mb())
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return peak


def uvicorn_options(app_dir: Path) -> list[str]:
    """UVICORN_OPTIONS of scripts/serve.py in the checkout under test, read now, not copied."""
    code = "import json; from scripts.serve import UVICORN_OPTIONS as o; print(json.dumps(o))"
    env = os.environ | {"PYTHONPATH": str(app_dir)}
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=app_dir, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"cannot read UVICORN_OPTIONS in {app_dir}:\n{done.stderr}")
    return [str(option) for option in json.loads(done.stdout)]


def with_http(options: list[str], http: str | None) -> list[str]:
    """`options` with uvicorn's --http `http` in place of theirs."""
    if http is None:
        return options
    kept = [
        o
        for n, o in enumerate(options)
        if not o.startswith("--http") and options[n - 1 : n] != ["--http"]
    ]
    return [*kept, "--http", http]


class Fleet:
    """The servers of a run: each started when first wanted and stopped once no row left needs
    it, so only what is compared runs side by side (an idle server costs no CPU)."""

    def __init__(
        self, specs: Mapping[str, ServerSpec], databases: Mapping[str, str], app_dir: Path
    ):
        self.specs, self.databases, self.app_dir = specs, databases, app_dir
        self.options = uvicorn_options(app_dir)
        self.up: dict[str, Server] = {}
        self.peaks: dict[str, float] = {}  # MB since start, of each server once stopped
        self.memo: dict[str, Any] = {}

    def get(self, name: str) -> Server:
        if name in self.up:
            return self.up[name]
        spec = self.specs[name]
        cwd = self.app_dir if spec.app == "pepper" else ROOT  # the bench's own apps from here
        env = os.environ | {"PYTHONPATH": str(cwd), "DATABASE_URL": self.databases[spec.database]}
        env |= spec.env(self) if spec.env else {}
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        command = [sys.executable, "-m", "uvicorn", f"{APPS[spec.app]}:app", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--log-level", "warning"]
        log = RESULTS / f"server-{name}.log"
        with log.open("wb") as out:  # its warnings go to a file, not into the tables
            command += with_http(self.options, spec.http)
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)
        server = self.up[name] = Server(process, port, env["DATABASE_URL"])
        deadline = time.monotonic() + 30
        while not healthy(server):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(f"server {name} did not start; its log ends:\n{tail}")
            time.sleep(0.1)
        server.data = spec.setup(server) if spec.setup else {}
        return server

    def keep(self, names: Collection[str]) -> None:
        for name in [name for name in self.up if name not in names]:
            if peak := self.up.pop(name).stop():
                self.peaks[name] = peak


def healthy(server: Server) -> bool:
    try:
        return send(server.url("/health")).status == 200
    except OSError:
        return False  # not listening yet


@dataclass(frozen=True)
class Wrk:
    rps: float
    seconds: float
    latency_ms: dict[str, float]  # p50, p90, p99, max, mean
    statuses: dict[int, int]  # counted by status.lua: wrk's own count leaves out 3xx
    socket_errors: int
    output: str


def run_wrk(url: str, seconds: float, script: str, args: list[str], headers: list[str]) -> Wrk:
    command = ["wrk", "--threads", str(THREADS), "--connections", str(CONNECTIONS)]
    # wrk takes whole seconds; its default timeout of 2 s would drop a slow large /state.
    command += ["--duration", f"{math.ceil(seconds)}s", "--timeout", "10s", "--latency"]
    for header in headers:
        command += ["--header", header]
    command += ["--script", str(BENCH / script), url, "--", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    output = done.stdout + done.stderr
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{output}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    seconds = data["duration_us"] / 1e6
    return Wrk(
        rps=data["requests"] / seconds,
        seconds=seconds,
        latency_ms={name: us / 1000 for name, us in data["latency_us"].items()},
        statuses={int(status): int(n) for status, n in data["statuses"].items()},
        socket_errors=sum(data["socket_errors"].values()),
        output=output,
    )


TICKS = os.sysconf("SC_CLK_TCK")
Cpu = tuple[float, float, dict[int, float]]  # the machine's busy time, ours, each PostgreSQL's


def process_s(pid: int | str) -> float:
    try:  # the name may hold spaces; utime and stime are the 14th and 15th fields
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu(server: Server | None) -> Cpu:
    """CPU seconds of the machine, of the measurement's own processes (this one, its children
    such as wrk once they have exited, the server), and of each PostgreSQL process (which serve
    the load; those of other clients too: the estimate's blind spot)."""
    first = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    ours = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    postgres = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text() == "postgres\n":
                postgres[int(entry.name)] = process_s(entry.name)
        except OSError:
            continue
    busy = (sum(first) - first[3] - first[4]) / TICKS
    return busy, ours + (process_s(server.process.pid) if server else 0.0), postgres


def other_share(before: Cpu, after: Cpu, seconds: float) -> float:
    """The share of all CPUs (0-1) others took in between. PostgreSQL processes are followed one
    by one, so one that exits meanwhile (another client's) counts only its time in between."""
    postgres = sum(t - before[2].get(pid, 0.0) for pid, t in after[2].items())
    other = (after[0] - before[0]) - (after[1] - before[1]) - postgres
    return max(other, 0.0) / (len(os.sched_getaffinity(0)) * seconds) if seconds else 0.0
