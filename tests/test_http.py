"""What a new user meets first: HEAD on every GET, a clear 415 for a body that is not JSON, a
start page, one version, and a start that explains a database it cannot reach."""

import inspect
import os
import subprocess
import sys
import tomllib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import VERSION
from app.api.routes.docs import ASSETS_URL
from tests.conftest import ROOT
from tests.helpers import JSON, Db, add_points, make_device, operations

NOT_JSON = {"detail": "Content-Type must be application/json"}


@pytest.fixture(scope="module")
def schema(app_client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = app_client.get("/openapi.json").json()
    return body


def test_every_get_answers_head_with_its_status_and_headers(
    client: TestClient, db: Db, schema: dict[str, Any]
) -> None:
    make_device(client)
    add_points(db, 2)
    gets = [op for op in operations(schema) if op.method == "GET" and not op.streams]
    assert len(gets) > 20
    for op in gets:
        got = client.get(op.path)
        head = client.head(op.path)
        assert head.status_code == got.status_code, op
        assert head.content == b"", op
        for name in ("content-type", "content-length", "etag", "cache-control"):
            assert head.headers.get(name) == got.headers.get(name), (op, name)


def test_head_works_for_the_docs_the_checks_and_a_conditional_read(client: TestClient) -> None:
    for path in ("/", "/health", "/docs", "/openapi.json", f"{ASSETS_URL}/favicon.png"):
        assert client.head(path).status_code == 200, path
    etag = client.get("/state").headers["etag"]
    assert client.head("/state", headers={"If-None-Match": etag}).status_code == 304
    missing = client.head("/devices/999")
    assert (missing.status_code, missing.content) == (404, b"")


def test_a_path_without_get_answers_head_405_naming_its_methods(client: TestClient) -> None:
    response = client.head("/ports/bulk-link")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert client.post("/state").headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/json",
    ],
)
def test_a_json_body_with_another_content_type_is_415(
    client: TestClient, db: Db, content_type: str
) -> None:
    """curl -d sends a form's Content-Type: the answer says what to send instead."""
    body = b'{"name": "Juno-106", "type": "Synth"}'
    response = client.post("/devices", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert response.json() == NOT_JSON
    assert client.get("/devices").json() == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/vnd+json"]
)
def test_json_content_types_are_taken(client: TestClient, content_type: str) -> None:
    body = b'{"name": "Juno-106", "type": "Synth"}'
    response = client.post("/devices", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text


def test_a_json_body_without_content_type_is_415(client: TestClient) -> None:
    response = client.post("/patchbay-points", content=b'{"name": "A1"}')
    assert response.status_code == 415
    assert response.json() == NOT_JSON


def test_the_csv_import_takes_csv(client: TestClient) -> None:
    header = client.get("/export/patch-list.csv").text
    response = client.post(
        "/import/patch-list.csv", content=header.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert client.post("/patchbay-points", content=b"{}", headers=JSON).status_code == 422


def test_the_start_page_points_to_the_docs(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["docs"] == "/docs" and body["version"] == VERSION
    assert client.get(body["docs"]).status_code == 200


def test_one_version_everywhere(schema: dict[str, Any]) -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        assert tomllib.load(file)["project"]["version"] == VERSION
    assert schema["info"]["version"] == VERSION


def test_redoc_asks_no_cdn(client: TestClient) -> None:
    bundle = client.get(f"{ASSETS_URL}/redoc.standalone.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"cdn.redoc.ly" not in bundle.content
    assert f"{ASSETS_URL}/favicon.png".encode() in bundle.content


def test_a_database_that_cannot_be_reached_stops_the_start_with_one_line() -> None:
    environment = {**os.environ, "DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:9/nowhere"}
    started = subprocess.run(
        [sys.executable, "-m", "scripts.serve"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    [line] = [line for line in started.stderr.splitlines() if line.startswith("pepper:")]
    assert "cannot migrate the database at postgresql+psycopg://nobody:***@127.0.0.1:9/" in line
    assert "Traceback" not in started.stderr
    assert "pw@" not in started.stderr


def test_every_request_response_endpoint_is_a_def() -> None:
    """FastAPI runs a `def` endpoint in a worker thread: no endpoint's work (label strips,
    signal flow, imports) can hold the event loop, and with it /health. Only the event
    stream is async, waiting on the listener."""
    from fastapi.routing import APIRoute, iter_route_contexts

    from app.main import create_app
    from tests.conftest import settings

    app = create_app(settings("postgresql://unused@127.0.0.1/unused"))
    endpoints = {
        context.path_format: context.original_route.endpoint
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    }
    assert len(endpoints) > 40
    asynchronous = sorted(path for path, f in endpoints.items() if inspect.iscoroutinefunction(f))
    streams = sorted(path for path, f in endpoints.items() if inspect.isasyncgenfunction(f))
    assert asynchronous == []
    assert streams == ["/events"]


def test_the_checks_say_what_they_answer(schema: dict[str, Any]) -> None:
    for path in ("/", "/health", "/ready"):
        ok = schema["paths"][path]["get"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"], path
