"""Who may call the API, and from where: the optional API keys, the Host header, cross-site
writes, CORS, and the settings behind them."""

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.config import Settings
from app.main import create_app
from tests.conftest import ROOT, empty_tables, settings
from tests.helpers import Db, LogCapture, Operation, add_points, holder_of, make_device, operations

KEY = "s3cret"
ORIGIN = "http://studio.local:5173"
UNAUTHORIZED = {"detail": "Missing or invalid API key"}
# Served to anyone: what load balancers, healthchecks and a browser opening the docs need.
CHECKS = ("/", "/health", "/ready")
OPEN_PATHS = [
    "/",
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
    "alice-key ",
]


def as_bytes(value: str | bytes) -> bytes:
    """A header value as sent on the wire (bytes pass through as they are)."""
    return value.encode("latin-1") if isinstance(value, str) else value


def guarded_operations(schema: dict[str, Any]) -> list[Operation]:
    """Every documented operation but the checks."""
    found = operations(schema, but=CHECKS)
    assert len(found) > 15
    return found


def is_stream(operation: dict[str, Any]) -> bool:
    return "text/event-stream" in operation["responses"].get("200", {}).get("content", {})


# --- The optional API keys ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_app(database_url: str) -> FastAPI:
    return create_app(
        settings(database_url, api_key=KEY, api_keys={"alice": "alice-key"}, cors_origins=[ORIGIN])
    )


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
            if path in CHECKS:
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
            if path not in CHECKS:
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


def test_a_named_key_works_like_the_key(keyed: TestClient) -> None:
    assert keyed.get("/state", headers={"X-API-Key": "alice-key"}).status_code == 200
    point = keyed.post("/patchbay-points", json={"name": "A1"}, headers={"X-API-Key": "alice-key"})
    assert point.status_code == 201


def test_named_keys_alone_guard_the_api(database_url: str) -> None:
    app = create_app(settings(database_url, api_keys={"bob": "bob-key", "carol": "c-key"}))
    with TestClient(app) as client:
        assert client.get("/state").status_code == 401
        assert client.get("/state", headers={"X-API-Key": "bob-key"}).status_code == 200
        assert client.get("/state", headers={"X-API-Key": "c-key"}).status_code == 200
        schema = client.get("/openapi.json").json()
    assert "X-API-Key" in str(schema["components"]["securitySchemes"])


def start_with(**environment: str) -> subprocess.CompletedProcess[str]:
    """Import the app as uvicorn would, with these settings in the environment."""
    env = {**os.environ, "DATABASE_URL": "postgresql://x@127.0.0.1:1/none", **environment}
    return subprocess.run(
        [sys.executable, "-c", "import app.main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"API_KEY": "clé-secrète"}, "API_KEY"),
        ({"API_KEY": "two words"}, "API_KEY"),
        ({"API_KEYS": '{"alice": "pässword"}'}, "API_KEYS"),
        ({"API_KEYS": '{"a b": "key"}'}, "API_KEYS"),
        ({"API_KEYS": "not json"}, "API_KEYS"),
        ({"CORS_ORIGINS": '["*"]'}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '["*/"]'}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '["null"]'}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '["http://studio.local/app"]'}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '["http://*.example"]'}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '["http://[evil"]'}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '["studio.local"]'}, "CORS_ORIGINS"),
        ({"API_KEYS": '{"alice": "same-secret", "bob": "same-secret"}'}, "API_KEYS"),
        ({"DB_LOCK_TIMEOUT": "60"}, "DB_LOCK_TIMEOUT"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"HISTORY_RETENTION_DAYS": "-1"}, "HISTORY_RETENTION_DAYS"),
        # FastAPI pings an idle stream after 15 s: the service's own keep-alive comes first.
        ({"SSE_KEEPALIVE_SECONDS": "15"}, "SSE_KEEPALIVE_SECONDS"),
    ],
)
def test_bad_settings_stop_the_service_with_a_message(
    environment: dict[str, str], named: str
) -> None:
    started = start_with(**environment)
    assert started.returncode == 2, started.stderr
    [message] = [line for line in started.stderr.splitlines() if line.startswith("pepper:")]
    assert named in message
    # A key is never printed, even a refused one.
    for value in environment.values():
        if "secr" in value or "pässword" in value or "same-secret" in value:
            assert value not in started.stderr


def test_good_settings_start(monkeypatch: pytest.MonkeyPatch) -> None:
    started = start_with(
        API_KEY="s3cret",
        API_KEYS='{"alice": "a-key"}',
        CORS_ORIGINS='["http://x", "https://studio.example:8443/", "http://[::1]:5173"]',
    )
    assert started.returncode == 0, started.stderr


# --- The Host header (DNS rebinding) -----------------------------------------------------------

ALLOWED_HOSTS_SETTING = ["studio.example.com", "*.proxy.example"]


@pytest.fixture(scope="module")
def hosted_app(database_url: str) -> FastAPI:
    return create_app(settings(database_url, allowed_hosts=ALLOWED_HOSTS_SETTING))


@pytest.fixture
def hosted(hosted_app: FastAPI, engine: Engine) -> Iterator[TestClient]:
    empty_tables(engine)
    with TestClient(hosted_app) as client:
        yield client
    empty_tables(engine)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8000",
        "127.0.0.1:8088",
        "192.168.1.20:8088",
        "[::1]:8000",
        "[fe80::1]",
        "raspberrypi.local:8088",
        "RaspberryPi.local",
        "studio-pi",
        "pi.lan:8088",
        "pi.home.arpa",
        "studio.example.com",
        "studio.example.com:443",
        "api.proxy.example",
        "raspberrypi.local.",
    ],
)
def test_hosts_of_this_machine_are_served(hosted: TestClient, host: str) -> None:
    assert hosted.get("/state", headers={"Host": host}).status_code == 200


def test_the_hosts_of_cors_origins_are_served(database_url: str) -> None:
    app = create_app(settings(database_url, cors_origins=["http://studio-pi.fritz.box:8080"]))
    with TestClient(app) as client:
        assert (
            client.get("/health", headers={"Host": "studio-pi.fritz.box:8088"}).status_code == 200
        )
        assert client.get("/health", headers={"Host": "other.fritz.box"}).status_code == 400


def test_refused_hosts_are_logged_once_each(database_url: str) -> None:
    app = create_app(settings(database_url))
    with TestClient(app) as client:
        log = LogCapture()
        for host in ("studio-pi.fritz.box", "studio-pi.fritz.box:8088", "x\nFORGED.example"):
            assert client.get("/health", headers={"Host": host}).status_code == 400
    refused = [line for line in log.lines() if "refused Host" in line]
    assert len(refused) == 2, refused
    assert "'studio-pi.fritz.box'" in refused[0] and "ALLOWED_HOSTS" in refused[0]
    assert "'x\\x0aforged.example'" in refused[1]


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "attacker.com:8088",
        "192.168.1.20.nip.io",
        "studio.example.com.evil.example",
        "localhost.evil.example",
        "proxy.example.evil",
        "xn--80ak6aa92e.com",
    ],
)
def test_other_hosts_are_refused(hosted: TestClient, engine: Engine, host: str) -> None:
    headers = {"Host": host}
    response = hosted.get("/state", headers=headers)
    assert (response.status_code, response.json()) == (400, {"detail": "Host not allowed"})
    assert response.headers["x-request-id"]
    refused = hosted.post("/patchbay-points", json={"name": "A1"}, headers=headers)
    assert refused.status_code == 400
    assert hosted.get("/patchbay-points").json() == []
    # The checks stay open, so a load balancer can still tell the process is alive.
    assert hosted.get("/health", headers=headers).status_code == 400


# --- Cross-site writes -------------------------------------------------------------------------

EVIL = "http://evil.example"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "http://testserver:8080"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": EVIL, "Sec-Fetch-Site": "same-origin"},
    ],
    ids=repr,
)
def test_writes_from_other_sites_are_refused(
    client: TestClient, db: Db, headers: dict[str, str]
) -> None:
    [point] = add_points(db, 1)
    device = make_device(client, ports=[{"label": "OUT", "type": "Output", "patchbay_id": point}])
    port = device["ports"][0]["id"]
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    attempts = [
        client.post(f"/ports/{port}/unlink", headers=form),  # a form post needs no preflight
        client.post(f"/ports/{port}/unlink", headers=headers),
        client.delete(f"/devices/{device['id']}", headers=headers),
        client.post("/patchbay-points", json={"name": "X"}, headers=headers),
        client.patch(f"/ports/{port}", json={"label": "X"}, headers=headers),
        client.put(f"/ports/{port}/patchbay", json={"patchbay_id": None}, headers=headers),
    ]
    for response in attempts:
        assert (response.status_code, response.json()) == (
            403,
            {"detail": "Cross-site request refused"},
        )
    assert holder_of(db, point) == port
    assert client.get("/devices").json() == [device]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts
        {"Origin": "http://testserver"},  # the server's own pages (Swagger UI)
        {"Origin": "http://testserver:80"},
        {"Origin": "https://testserver"},  # the page came through a TLS proxy
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
    ids=repr,
)
def test_writes_from_this_site_and_scripts_work(
    client: TestClient, db: Db, headers: dict[str, str]
) -> None:
    [point] = add_points(db, 1)
    device = make_device(client, ports=[{"label": "OUT", "type": "Output", "patchbay_id": point}])
    port = device["ports"][0]["id"]
    assert client.post(f"/ports/{port}/unlink", headers=headers).status_code == 200
    assert holder_of(db, point) is None


def test_reads_from_other_sites_are_answered(client: TestClient) -> None:
    # Without CORS headers a browser keeps the answer from the page anyway.
    response = client.get("/state", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_writes_from_the_cors_origins_work(database_url: str, engine: Engine) -> None:
    empty_tables(engine)
    app = create_app(settings(database_url, cors_origins=[ORIGIN]))
    try:
        with TestClient(app) as client:
            headers = {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site"}
            created = client.post("/patchbay-points", json={"name": "A1"}, headers=headers)
            assert created.status_code == 201
            assert created.headers["access-control-allow-origin"] == ORIGIN
            refused = client.post("/patchbay-points", json={"name": "A2"}, headers={"Origin": EVIL})
            assert refused.status_code == 403
            assert [p["name"] for p in client.get("/patchbay-points").json()] == ["A1"]
    finally:
        empty_tables(engine)


# --- Headers on every response ------------------------------------------------------------------


def test_every_response_says_nosniff(client: TestClient) -> None:
    etag = client.get("/state").headers["etag"]
    for response in (
        client.get("/health"),
        client.get("/state"),
        client.get("/state", headers={"If-None-Match": etag}),
        client.get("/devices/2147483647"),
        client.get("/devices/x"),
        client.put("/health"),
        client.get("/no-such-page"),
        client.get("/docs"),
        client.get("/docs/oauth2-redirect"),
        client.get("/docs-assets/swagger-ui.css"),
        client.get("/openapi.json"),
        client.post("/patchbay-points", json={"name": "A"}, headers={"Origin": EVIL}),
        client.get("/state", headers={"Host": "evil.example"}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


# --- CORS -------------------------------------------------------------------------------------


def cors_client(database_url: str, origins: list[str]) -> TestClient:
    return TestClient(create_app(settings(database_url, cors_origins=origins)))


def test_cors_allows_listed_origins_with_credentials(database_url: str) -> None:
    with cors_client(database_url, ["http://studio.local:5173"]) as client:
        response = client.get("/health", headers={"Origin": "http://studio.local:5173"})
        assert response.headers["access-control-allow-origin"] == "http://studio.local:5173"
        assert response.headers["access-control-allow-credentials"] == "true"
        preflight = client.options(
            "/ports/dev-1-port-1/link",
            headers={
                "Origin": "http://studio.local:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-anything",
            },
        )
        assert preflight.status_code == 200
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "x-anything" in preflight.headers["access-control-allow-headers"].lower()


def test_cors_exposes_the_request_id_and_etag(database_url: str) -> None:
    with cors_client(database_url, ["http://studio.local:5173"]) as client:
        response = client.get("/state", headers={"Origin": "http://studio.local:5173"})
    exposed = {
        name.strip().lower()
        for name in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"x-request-id", "etag", "retry-after", "location"} <= exposed


def test_cors_gives_other_origins_nothing(database_url: str) -> None:
    with cors_client(database_url, ["http://studio.local:5173"]) as client:
        response = client.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in response.headers


def test_no_cors_headers_when_unset(database_url: str) -> None:
    with cors_client(database_url, []) as client:
        response = client.get("/health", headers={"Origin": "http://studio.local:5173"})
        assert "access-control-allow-origin" not in response.headers


def test_cors_origins_come_from_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CORS_ORIGINS", '["http://a.local/", " http://b.local:8080", "HTTP://C.Local:80"]'
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/pepper")
    settings = Settings(_env_file=None)
    # As a browser sends them: lower case, no default port.
    assert settings.cors_origins == ["http://a.local", "http://b.local:8080", "http://c.local"]
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/pepper"
