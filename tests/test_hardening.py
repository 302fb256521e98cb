"""Production hardening: the optional API key, request ids and logs, internal errors, and the
liveness/readiness checks."""

import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from app.core.config import Settings
from app.core.middleware import MAX_BODY_BYTES
from app.main import create_app
from tests.conftest import alembic_config, empty_tables

KEY = "s3cret"
ORIGIN = "http://studio.local:5173"
UNAUTHORIZED = {"detail": "Missing or invalid API key"}
# Served to anyone: what load balancers, healthchecks and a browser opening the docs need.
OPEN_PATHS = [
    "/health",
    "/ready",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/docs-assets/swagger-ui-bundle.js",
    "/docs-assets/swagger-ui.css",
    "/docs-assets/redoc.standalone.js",
    "/docs-assets/favicon.png",
]
WRONG_KEYS: list[str | bytes] = [
    "nope",  # wrong, shorter
    "s3cret-and-more",  # the right key plus more: a different length
    "s3cre",  # a prefix of the right key
    "S3CRET",  # keys are case-sensitive
    " s3cret",
    "",
    b"s3cr\xff",  # not even ASCII
]
# A fresh request id: what the server makes when the client gave none or an unusable one.
FRESH_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
PATH_VALUES = {"device_id": "1", "point_id": "1", "port_id": "dev-1-port-1"}


def settings(database_url: str, **overrides: Any) -> Settings:
    """Settings from the arguments alone: no `.env` file, no API_KEY from the environment."""
    return Settings(_env_file=None, database_url=database_url, **overrides)


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("LOG_FORMAT", raising=False)


@pytest.fixture(autouse=True)
def restore_pepper_logging() -> Iterator[None]:
    """`create_app` reconfigures the `pepper` loggers; leave them as the test found them."""
    logger = logging.getLogger("pepper")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]


class LogCapture:
    """What the `pepper` log handler writes, exactly as it would reach stderr."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        for handler in logging.getLogger("pepper").handlers:
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(self.stream)

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[str]:
        return self.text().splitlines()


def as_bytes(value: str | bytes) -> bytes:
    """A header value as sent on the wire (bytes pass through as they are)."""
    return value.encode("latin-1") if isinstance(value, str) else value


def add_boom(app: FastAPI) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the amp caught fire")


def concrete(path: str) -> str:
    # An unknown parameter fails here, so a new route is not skipped silently.
    return re.sub(r"{(\w+)}", lambda match: PATH_VALUES[match.group(1)], path)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with values for its parameters
    has_body: bool
    streams: bool  # a server-sent event stream, which never ends by itself


def is_stream(operation: dict[str, Any]) -> bool:
    return "text/event-stream" in operation["responses"].get("200", {}).get("content", {})


def guarded_operations(schema: dict[str, Any]) -> list[Operation]:
    """Every documented operation but the checks."""
    found = [
        Operation(
            method.upper(),
            concrete(path),
            "requestBody" in operation,
            is_stream(operation),
        )
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if path not in ("/health", "/ready")
    ]
    assert len(found) > 15
    return found


# --- The optional API key --------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_app(database_url: str) -> FastAPI:
    return create_app(settings(database_url, api_key=KEY, cors_origins=[ORIGIN]))


@pytest.fixture
def keyed(keyed_app: FastAPI, engine: Engine) -> Iterator[TestClient]:
    """A client of the keyed app; it commits, so the tables are emptied around the test."""
    empty_tables(engine)
    with TestClient(keyed_app, raise_server_exceptions=False) as client:
        yield client
    empty_tables(engine)


@pytest.fixture(scope="module")
def keyed_schema(keyed_app: FastAPI) -> dict[str, Any]:
    with TestClient(keyed_app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


@pytest.mark.parametrize("given", [None, *WRONG_KEYS], ids=repr)
def test_every_operation_but_the_checks_and_docs_needs_the_key(
    keyed: TestClient, keyed_schema: dict[str, Any], given: str | bytes | None
) -> None:
    headers = {} if given is None else {b"X-API-Key": as_bytes(given)}
    for op in guarded_operations(keyed_schema):
        response = keyed.request(
            op.method, op.path, headers=headers, json={} if op.has_body else None
        )
        assert response.status_code == 401, (op, response.text)
        assert response.json() == UNAUTHORIZED, op
        assert response.headers["x-request-id"]


def test_with_the_key_every_operation_gets_past_the_check(
    keyed: TestClient, keyed_schema: dict[str, Any]
) -> None:
    for op in guarded_operations(keyed_schema):
        if op.streams:
            # Never ends in-process; tests/test_events.py opens it with the key on a live server.
            continue
        response = keyed.request(
            op.method, op.path, headers={"X-API-Key": KEY}, json={} if op.has_body else None
        )
        # The studio is empty: 200, 404 or 422 as the case may be, but never refused for the key.
        assert response.status_code in (200, 404, 422), (op, response.text)


def test_the_key_is_not_taken_from_the_query_string_of_ordinary_operations(
    keyed: TestClient, keyed_schema: dict[str, Any]
) -> None:
    # Query strings end up in access logs and browser history; only the event stream, which a
    # browser's EventSource opens without custom headers, takes the key there.
    for op in guarded_operations(keyed_schema):
        if op.streams:
            continue
        response = keyed.request(
            op.method, op.path, params={"api_key": KEY}, json={} if op.has_body else None
        )
        assert response.status_code == 401, (op, response.text)


def test_with_the_key_the_api_works(keyed: TestClient) -> None:
    auth = {"X-API-Key": KEY}
    point = keyed.post("/patchbay-points", json={"name": "A1"}, headers=auth)
    assert point.status_code == 201, point.text
    device = keyed.post(
        "/devices",
        json={"name": "Juno-106", "type": "Synth", "ports": [{"label": "OUT", "type": "Output"}]},
        headers=auth,
    )
    assert device.status_code == 201, device.text
    port_id = device.json()["ports"][0]["id"]
    linked = keyed.post(
        f"/ports/{port_id}/link", json={"patchbay_id": point.json()["id"]}, headers=auth
    )
    assert linked.status_code == 200, linked.text
    state = keyed.get("/state", headers=auth)
    assert state.status_code == 200
    assert state.json()["devices"][0]["ports"][0]["patchbay_id"] == point.json()["id"]
    # The header name is case-insensitive, like every HTTP header.
    assert keyed.get("/devices", headers={"x-api-key": KEY}).status_code == 200


def test_a_body_is_not_parsed_before_the_key_is_checked(keyed: TestClient) -> None:
    # A client without the key learns nothing about what the API would accept.
    response = keyed.post(
        "/devices", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401, response.text
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize("path", OPEN_PATHS)
def test_checks_and_docs_need_no_key(keyed: TestClient, path: str) -> None:
    response = keyed.get(path)
    assert response.status_code == 200, (path, response.text)


def test_openapi_declares_the_key_for_swagger_authorize(keyed_schema: dict[str, Any]) -> None:
    schemes = keyed_schema["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "X-API-Key"
    for path, item in keyed_schema["paths"].items():
        for method, operation in item.items():
            if path in ("/health", "/ready"):
                assert "security" not in operation, (method, path)
            elif is_stream(operation):
                # The event stream takes the key as a query parameter too, and says so.
                assert {"name": "api_key", "in": "query"}.items() <= next(
                    param for param in operation["parameters"] if param["name"] == "api_key"
                ).items()
            else:
                assert operation["security"] == [{name: []}], (method, path)


def test_openapi_documents_the_401(keyed_schema: dict[str, Any]) -> None:
    for path, item in keyed_schema["paths"].items():
        for method, operation in item.items():
            if path not in ("/health", "/ready"):
                assert "401" in operation["responses"], (method, path)


def test_cors_preflight_needs_no_key(keyed: TestClient) -> None:
    preflight = keyed.options(
        "/devices",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    # The browser app can read the 401 itself, and tell the user about the key.
    refused = keyed.get("/state", headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN


def test_without_a_key_configured_everything_is_open(database_url: str) -> None:
    app = create_app(settings(database_url))
    with TestClient(app) as client:
        assert client.get("/state").status_code == 200
        assert client.get("/devices", headers={"X-API-Key": "anything"}).status_code == 200
        schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    for item in schema["paths"].values():
        for operation in item.values():
            assert "security" not in operation


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("API_KEY", "")
    empty = Settings(_env_file=None, database_url=database_url)
    assert empty.api_key is None
    with TestClient(create_app(empty)) as client:
        assert client.get("/state").status_code == 200

    monkeypatch.setenv("API_KEY", KEY)
    given = Settings(_env_file=None, database_url=database_url)
    assert given.api_key is not None
    assert given.api_key.get_secret_value() == KEY
    # Never printed by accident, in a log line or a traceback.
    assert KEY not in repr(given)
    assert KEY not in str(given.model_dump())


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


def test_cors_exposes_the_request_id_and_etag(plain: TestClient) -> None:
    response = plain.get("/state", headers={"Origin": ORIGIN})
    exposed = {
        name.strip().lower()
        for name in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"x-request-id", "etag", "retry-after"} <= exposed


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
        assert datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S%z")
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


# --- /health and /ready ----------------------------------------------------------------------


def test_health_needs_no_database() -> None:
    app = create_app(settings("postgresql://x@127.0.0.1:1/none"))
    with TestClient(app) as client:
        started = time.monotonic()
        response = client.get("/health")
        assert time.monotonic() - started < 1
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.text == '{"status":"ok"}'
        # /ready, on the other hand, says what is wrong, at once.
        started = time.monotonic()
        ready = client.get("/ready")
        assert time.monotonic() - started < 5
        assert ready.status_code == 503
        assert ready.headers["retry-after"].isdigit()
        assert ready.json() == {"status": "unavailable", "detail": "Database unavailable"}


def test_health_opens_no_connection(database_url: str) -> None:
    app = create_app(settings(database_url))
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/health").status_code == 200
        pool = app.state.engine.pool
        assert (pool.checkedin(), pool.checkedout()) == (0, 0)


def test_ready_at_head(database_url: str) -> None:
    with TestClient(create_app(settings(database_url))) as client:
        response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_not_ready_when_the_schema_is_behind(scratch_database: Callable[[str], str]) -> None:
    url = scratch_database("hardening_behind")
    command.upgrade(alembic_config(url), "0002")
    app = create_app(settings(url))
    with TestClient(app) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    head = app.state.schema_head
    assert head != "0002"
    assert response.json() == {
        "status": "unavailable",
        "detail": f"Database schema is at 0002, the code needs {head}",
    }


@pytest.mark.parametrize("history", ["never", "downgraded"])
def test_not_ready_when_the_schema_is_not_migrated(
    scratch_database: Callable[[str], str], history: str
) -> None:
    url = scratch_database(f"hardening_unmigrated_{history}")
    if history == "downgraded":
        # alembic_version is left behind, empty.
        command.upgrade(alembic_config(url), "head")
        command.downgrade(alembic_config(url), "base")
    with TestClient(create_app(settings(url))) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json() == {"status": "unavailable", "detail": "Database schema is not migrated"}
