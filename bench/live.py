"""Timed checks of the live updates (GET /events), measured and reported, never asserted.

  event latency  a client holds /events open on process B while another POSTs
                 /ports/{id}/link to process A (both on one database): write sent -> event in
  streams        /state small under wrk with open /events streams on the same process,
                 against the same load without them (scenarios e and a)
  shutdown       streams open, SIGTERM: time until the process exits

Streams are read with httpx on asyncio, one task each; times are time.perf_counter().
"""

import asyncio
import contextlib
import signal
import statistics
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx2 as httpx

from bench.report import Check, ScenarioResult
from bench.server import ApiServer

OPEN_TIMEOUT_S = 10
EVENT_TIMEOUT_S = 5
EXIT_TIMEOUT_S = 30
# Event latency moves these two ports onto this point in turn: every write is a real change.
LINK_PORTS = ("dev-1-port-1", "dev-1-port-2")
LINK_POINT = 1


@dataclass
class Stream:
    """One GET /events; its `state` events land in `events` as (revision, arrival time)."""

    events: asyncio.Queue[tuple[int, float]] = field(default_factory=asyncio.Queue)
    ended_at: float | None = None  # when the server ended the response

    async def read(self, client: httpx.AsyncClient, url: str) -> None:
        fields: dict[str, str] = {}
        async with client.stream("GET", url) as response:
            async for line in response.aiter_lines():
                if line:
                    if not line.startswith(":"):  # a comment (keep-alive)
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
                    continue
                if fields.get("event") == "state" and fields.get("id", "").isdigit():
                    self.events.put_nowait((int(fields["id"]), time.perf_counter()))
                fields = {}
        self.ended_at = time.perf_counter()

    async def next_event(self, after: int | None, timeout: float) -> tuple[int, float]:
        """The next event with a revision above `after`; TimeoutError if none comes in time."""
        async with asyncio.timeout(timeout):
            while True:
                revision, received = await self.events.get()
                if after is None or revision > after:
                    return revision, received


class Streams:
    """`count` event streams held open on `url`; entering waits for each one's first event."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.streams = [Stream() for _ in range(count)]
        self.first: list[int | None] = []  # each stream's first revision (None: none came)
        self._tasks: list[asyncio.Task[None]] = []
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(OPEN_TIMEOUT_S, read=None),
            limits=httpx.Limits(max_connections=count, max_keepalive_connections=count),
        )

    @property
    def opened(self) -> int:
        return sum(revision is not None for revision in self.first)

    def still_open(self) -> int:
        return sum(not task.done() for task in self._tasks)

    async def _first(self, stream: Stream) -> int | None:
        try:
            return (await stream.next_event(None, OPEN_TIMEOUT_S))[0]
        except TimeoutError:
            return None

    async def __aenter__(self) -> Self:
        self._tasks = [
            asyncio.create_task(stream.read(self._client, self.url)) for stream in self.streams
        ]
        self.first = list(await asyncio.gather(*map(self._first, self.streams)))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()


def events_title(writes: int) -> str:
    return f"event latency, link on process A -> event on B ({writes} writes)"


def shutdown_title(streams: int) -> str:
    return f"shutdown with {streams} open /events streams: SIGTERM -> exit"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def event_latency(writer: str, reader: str, writes: int) -> Check:
    """`writes` links POSTed one after another to `writer`, each timed to its event on `reader`."""
    key, title = "events", events_title(writes)
    latencies: list[float] = []
    responses: list[float] = []
    failed = lost = 0
    async with (
        Streams(f"{reader}/events", 1) as streams,
        httpx.AsyncClient(base_url=writer, timeout=10) as client,
    ):
        stream, last = streams.streams[0], streams.first[0]
        if last is None:
            return Check(key, title, "", skipped="the event stream on B sent no first event")

        async def link(port: str) -> bool:
            body = {"patchbay_id": LINK_POINT}
            return (await client.post(f"/ports/{port}/link", json=body)).status_code == 200

        # Untimed: gives the point to the second port (it may hold it already, then nothing
        # changes) and opens the writer's connection.
        await link(LINK_PORTS[1])
        with contextlib.suppress(TimeoutError):
            last = (await stream.next_event(last, 1))[0]
        for n in range(writes):
            sent = time.perf_counter()
            ok = await link(LINK_PORTS[n % 2])
            responses.append(time.perf_counter() - sent)
            if not ok:
                failed += 1
                continue
            try:
                last, received = await stream.next_event(last, EVENT_TIMEOUT_S)
            except TimeoutError:
                lost += 1
                continue
            latencies.append(received - sent)
    spread = _spread(latencies)
    data = {
        "writes": writes,
        "events": len(latencies),
        "failed_writes": failed,
        "missing_events": lost,
        "latency_ms": spread,
        "write_response_ms": _spread(responses),
    }
    if spread is None:
        return Check(key, title, "no event arrived", data)
    summary = (
        f"min {spread['min']:.1f} / median {spread['median']:.1f} / max {spread['max']:.1f} ms"
        f" (the write's own response: median {statistics.median(responses) * 1000:.1f} ms)"
    )
    if failed or lost:
        summary += f"; {failed} writes failed, {lost} events missing"
    return Check(key, title, summary, data)


def _spread(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    return {
        "min": round(min(seconds) * 1000, 2),
        "median": round(statistics.median(seconds) * 1000, 2),
        "max": round(max(seconds) * 1000, 2),
    }


def streams_check(
    without: ScenarioResult, with_streams: ScenarioResult, count: int, opened: int, after: int
) -> Check:
    """Scenario e against scenario a: what open streams cost the rest of the process."""
    key, title = "streams", f"/state small with {count} open /events streams (e) vs without (a)"
    a, e = without.wrk, with_streams.wrk
    if a is None or e is None:
        return Check(key, title, "", skipped="scenario a or e did not run")

    def ratio(name: str) -> float:
        return e.latency_ms[name] / a.latency_ms[name] if a.latency_ms[name] else 0.0

    rps = e.requests_per_s / a.requests_per_s if a.requests_per_s else 0.0
    data = {
        "streams": count,
        "streams_opened": opened,
        "streams_open_after": after,
        "p50_ms": {"without": a.latency_ms["p50"], "with": e.latency_ms["p50"]},
        "p99_ms": {"without": a.latency_ms["p99"], "with": e.latency_ms["p99"]},
        "p50_ratio": round(ratio("p50"), 3),
        "p99_ratio": round(ratio("p99"), 3),
        "requests_per_s_ratio": round(rps, 3),
    }
    summary = (
        f"p50 {a.latency_ms['p50']:.2f} -> {e.latency_ms['p50']:.2f} ms ({ratio('p50'):.2f}x), "
        f"p99 {a.latency_ms['p99']:.2f} -> {e.latency_ms['p99']:.2f} ms ({ratio('p99'):.2f}x), "
        f"req/s {rps:.2f}x; {opened}/{count} streams opened, {after} still open after the load"
    )
    return Check(key, title, summary, data)


async def shutdown_time(server: ApiServer, count: int) -> Check:
    """Open `count` streams on `server`, SIGTERM it, and time it until it exits."""
    key, title = "shutdown", shutdown_title(count)
    process = server.process
    if process is None:
        return Check(key, title, "", skipped="needs a server started by the benchmark")
    async with Streams(server.url("/events"), count) as streams:
        signalled = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        try:
            code: int | None = await asyncio.wait_for(
                asyncio.to_thread(process.wait), EXIT_TIMEOUT_S
            )
            exit_s: float | None = time.perf_counter() - signalled
        except TimeoutError:
            process.kill()
            code, exit_s = None, None
        ended = [s.ended_at - signalled for s in streams.streams if s.ended_at is not None]
    data = {
        "streams": count,
        "streams_opened": streams.opened,
        "exit_s": None if exit_s is None else round(exit_s, 3),
        "exit_code": code,
        "streams_ended_by_server": len(ended),
        "last_stream_ended_s": round(max(ended), 3) if ended else None,
    }
    if exit_s is None:
        return Check(key, title, f"did not exit within {EXIT_TIMEOUT_S} s (killed)", data)
    # uvicorn raises the signal again once it has shut down, so a clean exit reads -15.
    status = "SIGTERM" if code == -signal.SIGTERM else f"exit code {code}"
    summary = f"{exit_s:.2f} s ({status}); {len(ended)}/{streams.opened} streams"
    summary += f" ended by the server, the last after {_ms(max(ended))}" if ended else " ended"
    return Check(key, title, summary, data)
