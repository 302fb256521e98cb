"""GET /events: server-sent state revisions, across API processes and direct SQL."""

import queue
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import LiveServers


@dataclass
class Event:
    id: int
    event: str
    data: str
    received: float


class EventClient:
    """Reads one event stream in a thread; events land in a queue with their arrival time."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.comments: queue.Queue[str] = queue.Queue()
        self.status: int | None = None
        self._opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=60))
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        fields: dict[str, str] = {}
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                self._opened.set()
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.put(line)
                    elif line == "":
                        if "id" in fields:
                            self.events.put(
                                Event(
                                    int(fields["id"]),
                                    fields.get("event", ""),
                                    fields.get("data", ""),
                                    time.monotonic(),
                                )
                            )
                        fields = {}
                    else:
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()

    def next_event(self, timeout: float = 5) -> Event:
        return self.events.get(timeout=timeout)

    def no_event_within(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def stream(live: list[str]) -> Iterator[list[EventClient]]:
    opened: list[EventClient] = []
    yield opened
    for client in opened:
        client.close()


def open_stream(opened: list[EventClient], url: str, **headers: str) -> EventClient:
    client = EventClient(url, headers)
    opened.append(client)
    return client


def revision(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT revision FROM state_revision")) or 0)


def test_first_event_is_the_current_revision(live: list[str], engine: Engine, stream: list) -> None:
    client = open_stream(stream, f"{live[0]}/events")
    assert client.status == 200
    first = client.next_event()
    assert (first.id, first.event, first.data) == (
        revision(engine),
        "state",
        f'{{"revision": {revision(engine)}}}',
    )


def test_change_through_process_a_reaches_a_client_of_process_b(
    live: list[str], engine: Engine, stream: list
) -> None:
    client = open_stream(stream, f"{live[1]}/events")
    client.next_event()
    latencies = []
    for n in range(5):
        sent = time.monotonic()
        response = httpx.post(f"{live[0]}/patchbay-points", json={"name": f"A{n}"})
        assert response.status_code == 201
        event = client.next_event(timeout=1)
        latencies.append(event.received - sent)
        assert event.id == revision(engine)
        assert event.data == f'{{"revision": {event.id}}}'
    print(f"event latency through another process: max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1


def test_direct_sql_change_sends_an_event(live: list[str], engine: Engine, stream: list) -> None:
    client = open_stream(stream, f"{live[0]}/events")
    before = client.next_event().id
    sent = time.monotonic()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('typed in pgAdmin')"))
    event = client.next_event(timeout=1)
    assert event.id == before + 1
    assert event.received - sent < 1


def test_rolled_back_change_sends_nothing(live: list[str], engine: Engine, stream: list) -> None:
    client = open_stream(stream, f"{live[0]}/events")
    client.next_event()
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('never')"))
        conn.rollback()
    # A refused API write rolls back too.
    response = httpx.post(
        f"{live[1]}/devices",
        json={
            "name": "X",
            "type": "Y",
            "ports": [{"label": "A", "type": "Input", "patchbay_id": 99}],
        },
    )
    assert response.status_code == 404
    assert client.no_event_within(1.5)


def test_last_event_id_resumes(live: list[str], engine: Engine, stream: list) -> None:
    current = revision(engine)
    up_to_date = open_stream(stream, f"{live[0]}/events", **{"Last-Event-ID": str(current)})
    behind = open_stream(stream, f"{live[0]}/events", **{"Last-Event-ID": str(current - 1)})
    assert behind.next_event(timeout=1).id == current
    assert up_to_date.no_event_within(1)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('next')"))
    assert up_to_date.next_event(timeout=1).id == current + 1


def test_keep_alive_comments_and_stream_cap(database_url: str, engine: Engine) -> None:
    servers = LiveServers(database_url, 1, SSE_KEEPALIVE_SECONDS="0.5", SSE_MAX_CLIENTS="2")
    opened: list[EventClient] = []
    try:
        url = f"{servers.urls[0]}/events"
        first = open_stream(opened, url)
        open_stream(opened, url)
        assert first.comments.get(timeout=2) == ": keep-alive"
        refused = httpx.get(url, timeout=5)
        assert refused.status_code == 503
        assert refused.json() == {"detail": "Too many open event streams"}
        assert "retry-after" in refused.headers
        # A client that goes away frees its place.
        first.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            probe = EventClient(url)
            probe.close()
            if probe.status == 200:
                break
            time.sleep(0.2)
        assert probe.status == 200
    finally:
        for client in opened:
            client.close()
        servers.stop()


def test_shutdown_does_not_wait_on_open_streams(database_url: str) -> None:
    servers = LiveServers(database_url, 1)
    opened: list[EventClient] = []
    try:
        for _ in range(3):
            open_stream(opened, f"{servers.urls[0]}/events").next_event()
        started = time.monotonic()
        servers.processes[0].send_signal(signal.SIGTERM)
        servers.processes[0].wait(timeout=15)
        assert time.monotonic() - started < 3
    finally:
        for client in opened:
            client.close()
        servers.stop()


def test_100_open_streams_leave_rest_fast(live: list[str], engine: Engine, stream: list) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO patchbay_points (name) SELECT 'P' || n FROM generate_series(1, 48) n")
        )

    def median_latency() -> float:
        timings = []
        with httpx.Client(base_url=live[0]) as client:
            for _ in range(60):
                started = time.perf_counter()
                assert client.get("/state").status_code == 200
                timings.append(time.perf_counter() - started)
        return statistics.median(timings)

    idle = median_latency()
    for _ in range(100):
        open_stream(stream, f"{live[0]}/events")
    for client in stream:
        client.next_event()
    busy = median_latency()
    print(f"GET /state median: idle {idle * 1000:.2f} ms, with 100 streams {busy * 1000:.2f} ms")
    assert busy <= 2 * idle
    # And the streams are all still live.
    with engine.begin() as conn:
        conn.execute(text("UPDATE patchbay_points SET name = name || '!'"))
    for client in stream:
        client.next_event(timeout=2)


def test_api_key_may_come_as_a_query_parameter(database_url: str) -> None:
    servers = LiveServers(database_url, 1, API_KEY="s3cret")
    try:
        url = f"{servers.urls[0]}/events"
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(f"{url}?api_key=wrong", timeout=5).status_code == 401
        for client in (
            EventClient(f"{url}?api_key=s3cret"),
            EventClient(url, {"X-API-Key": "s3cret"}),
        ):
            assert client.status == 200
            client.next_event()
            client.close()
    finally:
        servers.stop()
