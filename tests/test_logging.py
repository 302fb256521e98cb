"""Request ids, access logs and unexpected errors."""

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.api.middleware import MAX_BODY_BYTES
from app.core.config import Settings
from app.main import create_app
from tests.conftest import settings
from tests.helpers import LogCapture

# A fresh request id: what the server makes when the client gave none or an unusable one.
FRESH_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
ORIGIN = "http://studio.local:5173"


def as_bytes(value: str | bytes) -> bytes:
    """A header value as sent on the wire (bytes pass through as they are)."""
    return value.encode("latin-1") if isinstance(value, str) else value


def add_boom(app: FastAPI) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the amp caught fire")


# --- Request ids and logs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_app(database_url: str) -> FastAPI:
    app = create_app(settings(database_url, cors_origins=[ORIGIN]))
    add_boom(app)
    return app


@pytest.fixture
def plain(open_app: FastAPI) -> Iterator[TestClient]:
    """A client of an app without a key that only reads (and fails on /boom)."""
    with TestClient(open_app, raise_server_exceptions=False) as client:
        yield client


def test_every_response_carries_a_request_id(plain: TestClient) -> None:
    etag = plain.get("/state").headers["etag"]
    responses = {
        200: plain.get("/health"),
        304: plain.get("/state", headers={"If-None-Match": etag}),
        404: plain.get("/devices/2147483647"),
        405: plain.put("/health"),
        413: plain.post(
            "/devices",
            content=b" " * (MAX_BODY_BYTES + 1),
            headers={"Content-Type": "application/json"},
        ),
        422: plain.get("/devices/not-a-number"),
        500: plain.get("/boom"),
    }
    ids = set()
    for status, response in responses.items():
        assert response.status_code == status, (status, response.text)
        assert FRESH_ID.fullmatch(response.headers.get("x-request-id", "")), status
        ids.add(response.headers["x-request-id"])
    assert len(ids) == len(responses)
    assert plain.get("/no-such-page").headers["x-request-id"]


@pytest.mark.parametrize("given", ["abc-123", "0f1e2d3c4b5a", "a" * 128, "req.7:retry_2"])
def test_a_sane_client_request_id_is_echoed(plain: TestClient, given: str) -> None:
    assert plain.get("/health", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    [
        "",
        "a" * 129,
        "two words",
        'say "hi"',
        "it's",
        "a,b",
        "<script>",
        "tab\there",
        "bell\x07",
        b"abc-123\n",
        b"forged\r\nX-Admin: 1",
        "caf\xe9".encode(),
        "caf\xe9".encode("latin-1"),
    ],
    ids=repr,
)
def test_an_unusable_client_request_id_is_replaced(plain: TestClient, given: str | bytes) -> None:
    answered = plain.get("/health", headers={b"X-Request-ID": as_bytes(given)})
    request_id = answered.headers["x-request-id"]
    assert FRESH_ID.fullmatch(request_id)
    assert request_id != as_bytes(given).decode("latin-1")


def test_request_ids_differ_between_requests(plain: TestClient) -> None:
    ids = {plain.get("/health").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_access_log_lines_carry_the_request_id(database_url: str) -> None:
    app = create_app(settings(database_url))
    log = LogCapture()
    with TestClient(app) as client:
        client.get("/health", headers={"X-Request-ID": "abc-123"})
        missing = client.get("/devices/2147483647")
        client.post("/devices", json={"name": ""})
    access = [line for line in log.lines() if " pepper.access " in line]
    assert len(access) == 3, log.text()
    assert re.search(r" INFO pepper\.access \[abc-123\] GET /health 200 [\d.]+ms$", access[0])
    assert f"[{missing.headers['x-request-id']}] GET /devices/2147483647 404 " in access[1]
    assert "POST /devices 422 " in access[2]


def test_json_log_lines(database_url: str) -> None:
    app = create_app(settings(database_url, log_format="json"))
    log = LogCapture()
    with TestClient(app) as client:
        client.get("/health", headers={"X-Request-ID": "abc-123"})
        missing = client.get("/devices/2147483647")
    entries = [json.loads(line) for line in log.lines()]
    assert all(isinstance(entry, dict) for entry in entries)
    access = [entry for entry in entries if entry["logger"] == "pepper.access"]
    assert len(access) == 2, log.text()
    for entry, (request_id, path, status) in zip(
        access,
        [
            ("abc-123", "/health", 200),
            (missing.headers["x-request-id"], "/devices/2147483647", 404),
        ],
        strict=True,
    ):
        assert entry["level"] == "INFO"
        assert datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert entry["request_id"] == request_id
        assert (entry["method"], entry["path"], entry["status"]) == ("GET", path, status)
        assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0
        assert path in entry["message"]


def test_log_format_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert Settings(_env_file=None).log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


# --- Unexpected errors -----------------------------------------------------------------------


def assert_internal_error_with_its_id(response: Any, log: LogCapture) -> str:
    assert response.status_code == 500, response.text
    request_id: str = response.headers.get("x-request-id", "")
    assert FRESH_ID.fullmatch(request_id), response.headers
    assert response.json() == {"detail": "Internal Server Error", "request_id": request_id}
    # The traceback is logged under the id the client can quote.
    [error_line] = [line for line in log.lines() if " ERROR pepper " in line]
    assert f"[{request_id}]" in error_line, log.text()
    assert "Traceback (most recent call last)" in log.text()
    return request_id


def test_an_unexpected_error_is_500_with_the_request_id(database_url: str) -> None:
    app = create_app(settings(database_url))
    add_boom(app)
    log = LogCapture()
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert_internal_error_with_its_id(response, log)
    assert "RuntimeError: the amp caught fire" in log.text()
    # Nothing of the exception reaches the client.
    assert "amp" not in response.text
    assert f"[{response.headers['x-request-id']}] GET /boom 500 " in log.text()


def test_a_database_error_is_500_with_the_request_id(
    scratch_database: Callable[[str], str],
) -> None:
    # A database without the tables: every query fails, as after a botched manual restore.
    app = create_app(settings(scratch_database("hardening_empty")))
    log = LogCapture()
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/state", "/devices", "/ports"):
            response = client.get(path)
            assert_internal_error_with_its_id(response, log)
            assert "does not exist" not in response.text
            log.stream.seek(0)
            log.stream.truncate()


@pytest.mark.parametrize(
    "path",
    [
        "/devices/1%0a2026-01-01 00:00:00.000 INFO pepper.access [x] GET /admin 200 1.0ms",
        "/x%0d%0aforged",
        "/bell%07%1b[31mred",
        "/%c2%85next-line",
    ],
)
def test_a_path_cannot_write_a_second_log_line(database_url: str, path: str) -> None:
    app = create_app(settings(database_url))
    log = LogCapture()
    with TestClient(app) as client:
        client.get(path)
    lines = [line for line in log.lines() if " pepper.access " in line]
    assert len(lines) == 1, log.text()
    assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in lines[0])


def test_a_path_cannot_forge_a_json_log_line(database_url: str) -> None:
    app = create_app(settings(database_url, log_format="json"))
    log = LogCapture()
    with TestClient(app) as client:
        client.get('/x%0a{"level":"INFO"}')
    [access] = [json.loads(line) for line in log.lines() if "pepper.access" in line]
    assert access["path"] == '/x\\x0a{"level":"INFO"}'


def test_each_text_log_line_has_its_own_milliseconds() -> None:
    import logging

    from app.core.logging import TextFormatter

    formatter = TextFormatter()

    def formatted(created: float) -> str:
        record = logging.LogRecord("pepper", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs, record.request_id = created, (created % 1) * 1000, "-"
        return formatter.format(record)

    # Within one second (the date and time are formatted once a second).
    first, second = formatted(1_800_000_000.125), formatted(1_800_000_000.875)
    assert first.split(" ")[1].endswith(".125")
    assert second.split(" ")[1].endswith(".875")
