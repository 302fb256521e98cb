"""The API under load: a uvicorn process of our own, or a server someone else started."""

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

from scripts.serve import UVICORN_OPTIONS

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes


@dataclass(frozen=True)
class Memory:
    """Resident memory of the server process, in MB (1024 x 1024 bytes)."""

    peak_mb: float  # VmHWM: the most it held since start, or since the last reset
    rss_mb: float  # VmRSS: what it holds now


def get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 30) -> Reply:
    """A plain GET that returns error statuses (and 304) instead of raising them."""
    return send("GET", url, headers=headers, timeout=timeout)


def send(
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    """One request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def require_loopback(url: str) -> None:
    """Refuse to load anything but this machine: the benchmark is for local servers only."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to load {url}: only 127.0.0.1, localhost or [::1] may be targeted")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    """A running API; `process` is None for a server the benchmark did not start."""

    def __init__(self, base_url: str, process: subprocess.Popen[bytes] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.process = process
        # The highest VmHWM read before a reset: with it, the peak since start survives resets.
        self._peak_before_resets_mb = 0.0

    def url(self, path: str) -> str:
        return self.base_url + path

    def reset_peak_memory(self) -> bool:
        """Start VmHWM afresh from the current RSS, so each scenario gets its own peak.

        Writing 5 to clear_refs does that (Linux 4.0+); without it the peak would be the
        highest of every scenario run on this process so far.
        """
        if self.process is None:
            return False
        memory = self.memory()
        if memory is not None:
            self._peak_before_resets_mb = max(self._peak_before_resets_mb, memory.peak_mb)
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def memory(self) -> Memory | None:
        if self.process is None:
            return None
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0]) / 1024  # reported in kB
        return Memory(peak_mb=fields["VmHWM"], rss_mb=fields["VmRSS"])

    def peak_since_start_mb(self) -> float | None:
        """The most resident memory the process held at any time since it started (warm-ups
        and requests between scenarios included), in MB."""
        memory = self.memory()
        return None if memory is None else max(self._peak_before_resets_mb, memory.peak_mb)


@contextmanager
def external_server(base_url: str) -> Iterator[ApiServer]:
    require_loopback(base_url)
    server = ApiServer(base_url)
    wait_until_up(server)
    yield server


PEPPER_APP = "app.main:app"


@contextmanager
def started_server(
    database_url: str,
    log_path: Path,
    *,
    app: str = PEPPER_APP,
    env: Mapping[str, str] | None = None,
) -> Iterator[ApiServer]:
    """One uvicorn worker serving `app` on `database_url`, stopped on the way out whatever happens.

    Every app the benchmark starts (Pepper, the ceiling app) is served with these same flags.
    """
    port = free_port()
    environment = {**os.environ, **(env or {}), "DATABASE_URL": database_url}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *UVICORN_OPTIONS,
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # The server's warnings go to a file, so they cannot break up the results table.
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        server = ApiServer(f"http://127.0.0.1:{port}", process)
        try:
            wait_until_up(server, log_path)
            yield server
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return  # already gone (the shutdown check stops its server itself)
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_up(server: ApiServer, log_path: Path | None = None) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(
                f"the API exited with {server.process.returncode}{_log_tail(log_path)}"
            )
        try:
            if get(server.url("/health"), timeout=1).status == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"{server.base_url}/health did not answer 200{_log_tail(log_path)}")


def _log_tail(log_path: Path | None) -> str:
    if log_path is None or not log_path.exists():
        return ""
    lines = log_path.read_text(errors="replace").splitlines()[-20:]
    return "; its log ends:\n" + "\n".join(lines)
