"""Checks of the live updates and of history, measured and reported, never assessed.

  streams   /events streams held open on a server while it is loaded (scenario e)
  events    a stream held open on one process while links are POSTed one by one to another
            (one database): from sending a write to receiving its `state` event
  shutdown  streams open on a process, SIGTERM: the time until it exits
  history   what the history tables grow by per entry while a load writes (scenario d)
  polling   a path GET 20 times a second while a timed request runs (the w rows: /health)
  at once   requests sent together: each one's time, the server's memory before and after

Streams are plain sockets reading the chunked event stream (an event is one chunk).
"""

import queue
import re
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

import psycopg

from bench.report import Result, Scenario
from bench.servers import Fleet, NotHere, Reply, Server, not_here, send

EVENT = re.compile(rb"event: state\r?\n(?:[^\r\n]*\r?\n)*?id: (\d+)\r?\n")


def open_stream(server: Server) -> socket.socket:
    """GET /events, read up to the `state` event it sends first."""
    sock = socket.create_connection(("127.0.0.1", server.port), 10)
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    seen = b""
    while not EVENT.search(seen):
        if not (chunk := sock.recv(65536)):
            raise ConnectionError("the stream ended before its first event")
        seen += chunk
    return sock


@contextmanager
def streams(server: Server, count: int) -> Iterator[list[socket.socket]]:
    """`count` streams held open (those that opened) until the block ends."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            with suppress(OSError):
                held.append(open_stream(server))
        yield held
    finally:
        for sock in held:
            sock.close()


def rest(sock: socket.socket, wait: float | None) -> bytes | None:
    """The last bytes the stream sent until it ended (waiting up to `wait` for each); None
    while it is still open."""
    sock.settimeout(wait)
    tail = b""
    try:
        while chunk := sock.recv(65536):
            tail = (tail + chunk)[-16:]
    except (BlockingIOError, TimeoutError):
        return None
    except OSError:
        pass
    return tail


@contextmanager
def polling(server: Server, path: str, hz: float = 20) -> Iterator[list[tuple[float, int]]]:
    """GET `path` `hz` times a second (or as often as its answers allow), each on a connection
    of its own, until the block ends: each one's seconds and status (0: no answer)."""
    polled: list[tuple[float, int]] = []
    done = threading.Event()

    def poll() -> None:
        due = time.perf_counter()
        while not done.is_set():
            sent = time.perf_counter()
            try:
                status = send(server.url(path)).status
            except OSError:
                status = 0
            polled.append((time.perf_counter() - sent, status))
            due = max(due + 1 / hz, time.perf_counter())
            done.wait(due - time.perf_counter())

    poller = threading.Thread(target=poll, daemon=True)
    if path:
        poller.start()
    try:
        yield polled
    finally:
        done.set()
        if path:
            poller.join()


def polled_while(path: str, polled: list[tuple[float, int]], result: Result) -> None:
    """The polls' p50, p99 (poll_p99, for a target) and max, and those not answered 200."""
    if not polled:
        return
    ms = sorted(seconds * 1000 for seconds, _ in polled)
    result.data["poll_p99"] = p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    failed = sum(status != 200 for _, status in polled)
    result.each.append(
        f"{path} p50 {statistics.median(ms):,.1f} / p99 {p99:,.1f} / max {ms[-1]:,.1f} ms of "
        f"{len(ms)} polls" + (f", {failed} not 200" if failed else "")
    )


def at_once(fleet: Fleet, scenario: Scenario, results: dict[str, Result]) -> Result:
    """`runs` GETs of `path` sent together, "{}" in it taking each of the server's `ports` in
    turn: their times, the server's RSS before, its peak, and its RSS 1 s after the last answer."""
    server, result = fleet.get(scenario.server), Result(scenario)
    ports = server.data["ports"]
    paths = [scenario.path.format(ports[n % len(ports)]) for n in range(scenario.runs)]

    def timed(path: str) -> tuple[float, Reply]:
        sent = time.perf_counter()
        reply = send(server.url(path))
        return time.perf_counter() - sent, reply

    before = server.peak_mb("VmRSS")
    server.reset_peak()
    with ThreadPoolExecutor(len(paths)) as pool:
        answers = list(pool.map(timed, paths))
    if any(not_here(reply) for _, reply in answers):
        raise NotHere
    time.sleep(1)
    after, result.peak_mb = server.peak_mb("VmRSS"), server.peak_mb()
    for took, reply in answers:
        result.runs_s.append(took)
        result.statuses[reply.status] = result.statuses.get(reply.status, 0) + 1
    result.data = {"rss_before": before, "rss_after": after, "rss_growth": after - before}
    times = ", ".join(f"{took * 1000:,.0f}" for took in result.runs_s)
    result.summary = (
        f"{times} ms; RSS {before:,.0f} MB before, peak {result.peak_mb:,.0f} MB, "
        f"{after:,.0f} MB 1 s after the last answer"
    )
    return result


def event_latency(fleet: Fleet, scenario: Scenario, results: dict[str, Result]) -> Result:
    """Links POSTed to `scenario.server` one by one, their events read on `scenario.also[0]`."""
    writer, arrivals = fleet.get(scenario.server), queue.Queue[tuple[int, float]]()
    sock = open_stream(fleet.get(scenario.also[0]))

    def read() -> None:
        sock.settimeout(None)
        seen = b""
        with suppress(OSError):
            while chunk := sock.recv(65536):
                now, seen, end = time.perf_counter(), seen + chunk, 0
                for match in EVENT.finditer(seen):
                    arrivals.put((int(match[1]), now))
                    end = match.end()
                seen = seen[end:]

    threading.Thread(target=read, daemon=True).start()
    latencies: list[float] = []
    answers: list[float] = []
    failed = lost = last = 0
    # Two ports take point 1 in turn: every write changes something. The first is not timed.
    for n in range(31):
        sent = time.perf_counter()
        path, body = f"/ports/dev-1-port-{2 - n % 2}/link", b'{"patchbay_id": 1}'
        reply = send(writer.url(path), "POST", body, {"Content-Type": "application/json"})
        answers.append(time.perf_counter() - sent)
        if reply.status != 200:
            failed += 1
            continue
        try:
            while (event := arrivals.get(timeout=5 if n else 1))[0] <= last:
                pass
        except queue.Empty:
            lost += n > 0  # the first may have changed nothing
            continue
        last = event[0]
        latencies += [event[1] - sent] if n else []
    sock.close()
    result = Result(scenario, data={"latency_ms": [round(s * 1000, 2) for s in latencies]})
    ms = [f"{f(latencies or [0]) * 1000:.1f}" for f in (min, statistics.median, max)]
    result.summary = f"min {ms[0]} / median {ms[1]} / max {ms[2]} ms (the write's own answer: "
    result.summary += f"median {statistics.median(answers) * 1000:.1f} ms)"
    result.summary += f"; {failed} writes failed, {lost} events missing" if failed or lost else ""
    return result


def shutdown(fleet: Fleet, scenario: Scenario, results: dict[str, Result]) -> Result:
    """SIGTERM with 50 streams open; the server is gone afterwards."""
    server, result = fleet.get(scenario.server), Result(scenario)
    with streams(server, 50) as held:
        signalled = time.perf_counter()
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.stop()
            result.summary = "did not exit within 30 s (killed)"
            return result
        took = time.perf_counter() - signalled
        # A stream the server ended itself ends with the last chunk, one its exit cut does not.
        ended = sum((rest(sock, 1) or b"").endswith(b"0\r\n\r\n") for sock in held)
    # uvicorn raises SIGTERM again once it has shut down: a clean exit reads -15.
    how = "SIGTERM" if code == -signal.SIGTERM else f"exit code {code}"
    result.summary = f"{took:.2f} s ({how}); {ended}/{len(held)} streams ended by the server"
    result.data = {"exit_s": took, "exit_code": code, "streams": len(held), "ended": ended}
    return result


_FOOTPRINT = """
    SELECT (SELECT count(*) FROM history_entries), (SELECT count(*) FROM history_changes),
           pg_total_relation_size('history_entries') + pg_total_relation_size('history_changes'),
           (SELECT coalesce(max(id), 0) FROM history_entries),
           (SELECT coalesce(max(id), 0) FROM history_changes)
"""
_ROW_BYTES = """
    SELECT (SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM history_entries e WHERE e.id > %s)
         + (SELECT coalesce(sum(pg_column_size(c.*)), 0) FROM history_changes c WHERE c.id > %s)
"""


def footprint(database_url: str) -> tuple[int, ...] | None:
    """Entries, changes, bytes on disk (indexes and TOAST included), the last ids; None for a
    version without history."""
    try:
        with psycopg.connect(database_url) as conn:
            return tuple(int(v) for v in conn.execute(_FOOTPRINT).fetchone() or ())
    except psycopg.errors.UndefinedTable:
        return None


def history_growth(database_url: str, before: tuple[int, ...], result: Result) -> None:
    """What the entries written since `before` take: the figure `bytes` and the check's line."""
    after = footprint(database_url) or before
    entries, changes = after[0] - before[0], after[1] - before[1]
    if entries <= 0:
        result.summary = "no history entry was written"
        return
    with psycopg.connect(database_url) as conn:
        row = conn.execute(_ROW_BYTES, before[3:5]).fetchone() or (0,)
    result.data |= {"bytes": (after[2] - before[2]) / entries, "entries": entries}
    result.summary = (
        f"history: {result.data['bytes']:,.0f} bytes on disk per entry (tables, indexes, TOAST;"
        f" {entries:,} entries of {changes / entries:.2f} changed rows), row data "
        f"{int(row[0]) / entries:,.0f} bytes"
    )
