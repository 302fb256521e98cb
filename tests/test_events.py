"""GET /events: server-sent state revisions, across API processes and direct SQL."""

import signal
import time
from collections.abc import Iterator, Mapping

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import LiveServers
from tests.helpers import EventClient


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
    for n in range(5):
        response = httpx.post(f"{live[0]}/patchbay-points", json={"name": f"A{n}"})
        assert response.status_code == 201
        event = client.next_event()
        assert event.id == revision(engine)
        assert event.data == f'{{"revision": {event.id}}}'


def test_direct_sql_change_sends_an_event(live: list[str], engine: Engine, stream: list) -> None:
    client = open_stream(stream, f"{live[0]}/events")
    before = client.next_event().id
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('typed in pgAdmin')"))
    assert client.next_event().id == before + 1


@pytest.mark.parametrize(
    "statements",
    [
        ["INSERT INTO bays (id, name) VALUES (900, 'Typed bay')"],
        [
            "INSERT INTO bays (id, name) VALUES (900, 'Typed bay')",
            "INSERT INTO bay_channels (bay_id, number, mode) VALUES (900, 1, 'thru')",
        ],
        [
            "INSERT INTO patchbay_points (id, name) VALUES (901, 'A'), (902, 'B')",
            "INSERT INTO cables (id, label) VALUES (900, 'typed')",
            "INSERT INTO cable_ends (cable_id, end_number, point_id) VALUES (900, 1, 901), "
            "(900, 2, 902)",
        ],
    ],
    ids=["bay", "channel", "cable"],
)
def test_direct_sql_on_bays_and_cables_changes_the_etag_and_sends_an_event(
    live: list[str], engine: Engine, stream: list, statements: list[str]
) -> None:
    client = open_stream(stream, f"{live[0]}/events")
    before = client.next_event().id
    etag = httpx.get(f"{live[1]}/state").headers["etag"]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    assert client.next_event().id == before + 1
    after = httpx.get(f"{live[1]}/state", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] == f'W/"{before + 1}"'
    assert httpx.get(f"{live[1]}/signal-flow", headers={"If-None-Match": etag}).status_code == 200


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
    assert behind.next_event().id == current
    assert up_to_date.no_event_within(1)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('next')"))
    assert up_to_date.next_event().id == current + 1


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
    # A graceful shutdown that waited on the streams would take all of these 60 s.
    servers = LiveServers(database_url, 1, extra_args=["--timeout-graceful-shutdown", "60"])
    opened: list[EventClient] = []
    try:
        for _ in range(3):
            open_stream(opened, f"{servers.urls[0]}/events").next_event()
        servers.processes[0].send_signal(signal.SIGTERM)
        servers.processes[0].wait(timeout=15)
    finally:
        for client in opened:
            client.close()
        servers.stop()


def test_100_open_streams_leave_the_api_serving(
    live: list[str], engine: Engine, stream: list
) -> None:
    # How fast /state stays with streams open is measured by `make bench`.
    for _ in range(100):
        open_stream(stream, f"{live[0]}/events")
    for client in stream:
        client.next_event()
    with httpx.Client(base_url=live[0], timeout=5) as api:
        for _ in range(20):
            assert api.get("/state").status_code == 200
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('one more')"))
    for client in stream:
        client.next_event()


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


# --- A stream and its listener survive whatever clients and the database do --------------------


def test_streams_wait_while_the_listener_has_no_revision_yet(
    database_url: str, engine: Engine
) -> None:
    """A browser reconnecting (with Last-Event-ID) to a process whose listener has not read the
    revision yet must wait for it, not spin: the process keeps answering everything else."""
    with engine.connect() as locker:
        # The listener's first read of the revision waits behind this lock.
        locker.execute(text("LOCK TABLE state_revision IN ACCESS EXCLUSIVE MODE"))
        servers = LiveServers(database_url, 1, DB_LOCK_TIMEOUT="10")
        opened: list[EventClient] = []
        try:
            url = servers.urls[0]
            for last_seen in ("1", "12345"):
                open_stream(opened, f"{url}/events", **{"Last-Event-ID": last_seen})
            for _ in range(10):
                assert httpx.get(f"{url}/health", timeout=1).status_code == 200
            locker.rollback()
            current = revision(engine)
            assert [client.next_event().id for client in opened] == [current, current]
        finally:
            for client in opened:
                client.close()
            servers.stop()


@pytest.mark.parametrize("given", ["²", "9" * 5000, "-1", "7 8", "7x", "", "1e3", "\u0661"])
def test_a_bad_last_event_id_is_ignored_and_takes_no_slot(
    database_url: str, engine: Engine, given: str
) -> None:
    # One slot: each stream below can only open once the one before has let go of it. A
    # closed stream's slot is freed when the server next writes to it (the keep-alive).
    servers = LiveServers(database_url, 1, SSE_MAX_CLIENTS="1", SSE_KEEPALIVE_SECONDS="0.2")
    try:
        url = f"{servers.urls[0]}/events"
        for _ in range(3):
            # Sent as a hostile client would: UTF-8 bytes in the header.
            client = open_when_free(url, {"Last-Event-ID": given.encode()})
            # Treated as no id at all: the current revision comes first.
            assert client.next_event().id == revision(engine)
            client.close()
    finally:
        servers.stop()


def open_when_free(url: str, headers: Mapping[str, str | bytes]) -> "EventClient":
    deadline = time.monotonic() + 5
    while True:
        client = EventClient(url, headers)
        if client.status == 200:
            return client
        client.close()
        assert client.status == 503 and time.monotonic() < deadline, client.status
        time.sleep(0.1)


@pytest.mark.parametrize("payload", ["x", "", "999999999999", "-5", "1" * 7000, "null"])
def test_a_stray_notify_does_not_stop_live_updates(
    live: list[str], engine: Engine, stream: list, payload: str
) -> None:
    client = open_stream(stream, f"{live[0]}/events")
    before = client.next_event().id
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_notify('pepper_state', :payload)"), {"payload": payload})
    # Nothing changed, so nothing is announced, whatever the payload claimed.
    assert client.no_event_within(0.5)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('after the noise')"))
    assert client.next_event().id == before + 1


def listener_pids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = 'pepper-listener'")
        )
        return [row.pid for row in rows]


def test_events_resume_after_the_listener_connection_is_killed(
    live: list[str], engine: Engine, stream: list
) -> None:
    client = open_stream(stream, f"{live[0]}/events")
    before = client.next_event().id
    pids = listener_pids(engine)
    assert len(pids) >= 2  # one per API process
    with engine.begin() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('while reconnecting')"))
    # The change made while the listener was away is caught up when it is back.
    assert client.next_event(timeout=10).id == before + 1
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (name) VALUES ('after')"))
    assert client.next_event().id == before + 2
