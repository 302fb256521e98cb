"""Roles on keys (SPEC F): a wall display's key reads, an assistant's patches, the owner's does
everything; a key used beyond its role is refused before anything else, and nothing changes."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.api.roles import PATCH_OPERATIONS, needed
from app.core.config import Role
from app.main import create_app
from tests.conftest import empty_tables, settings
from tests.helpers import JSON, LogCapture, Operation, operations

KEYS = {
    "wall-display": {"key": "wall-key", "role": "read"},
    "assistant": {"key": "assistant-key", "role": "patch"},
    "owner": "owner-key",  # a plain key is an admin's
}
# Each key: its header value, the actor it records and its role.
CALLERS = {
    "wall-display": ("wall-key", "wall-display", Role.READ),
    "assistant": ("assistant-key", "assistant", Role.PATCH),
    "owner": ("owner-key", "owner", Role.ADMIN),
    "API_KEY": ("unnamed-key", None, Role.ADMIN),
}
REFUSED = {"detail": "This key may not make this change"}
CHECKS = ("/", "/health", "/ready")


@pytest.fixture(scope="module")
def roles_app(database_url: str) -> FastAPI:
    return create_app(settings(database_url, api_key="unnamed-key", api_keys=KEYS))


@pytest.fixture
def api(roles_app: FastAPI, engine: Engine) -> Iterator[TestClient]:
    empty_tables(engine)
    with TestClient(roles_app, raise_server_exceptions=False) as client:
        yield client
    empty_tables(engine)


@pytest.fixture(scope="module")
def schema(roles_app: FastAPI) -> dict[str, Any]:
    with TestClient(roles_app) as client:
        body: dict[str, Any] = client.get("/openapi.json").json()
    return body


def revision(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT revision FROM state_revision")) or 0)


def seed(api: TestClient) -> None:
    """Something of everything, so that the allowed operations find what they name."""
    owner = {"X-API-Key": "owner-key"}
    assert api.post("/bays", json={"name": "Bay A", "channels": 2}, headers=owner).is_success
    device = {"name": "Juno", "type": "Synth", "ports": [{"label": "OUT", "type": "Output"}]}
    assert api.post("/devices", json=device, headers=owner).is_success
    assert api.post("/cables", json={"points": [1, 2]}, headers=owner).is_success
    assert api.post("/scenes", json={"name": "Mix"}, headers=owner).is_success


@pytest.mark.parametrize("caller", CALLERS)
def test_each_key_may_do_what_its_role_allows_and_no_more(
    api: TestClient, schema: dict[str, Any], engine: Engine, caller: str
) -> None:
    key, _, role = CALLERS[caller]
    seed(api)
    for path, method, op in each_operation(schema):
        if op.streams:
            continue  # the event stream is read by every role: tests/test_events.py
        before = revision(engine)
        response = api.request(
            op.method, op.path, headers={"X-API-Key": key}, json={} if op.has_body else None
        )
        if role.allows(needed(method, path)):
            assert response.status_code != 403, (caller, op, response.text)
        else:
            assert response.status_code == 403, (caller, op, response.text)
            assert response.json() == REFUSED
            assert revision(engine) == before, (caller, op)


def each_operation(schema: dict[str, Any]) -> list[tuple[str, str, Operation]]:
    """Every guarded operation: its path as declared, its method, and how to call it."""
    return [
        (path, method.upper(), operations({"paths": {path: {method: operation}}})[0])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if path not in CHECKS
    ]


def test_the_role_is_checked_before_anything_else(api: TestClient, engine: Engine) -> None:
    """Whatever else is wrong with a request beyond the key's role, the answer is the 403."""
    wall = {"X-API-Key": "wall-key"}
    before = revision(engine)
    for method, path, body, headers in [
        ("POST", "/devices", b"{not json", JSON),
        ("POST", "/devices", b"name=Juno", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/ports/dev-1-port-1/link", b'{"patchbay_id": "x"}', JSON),
        ("DELETE", "/devices/99999999999", b"", {}),
        ("POST", "/import", b" " * (2**20 + 10), JSON),
        ("POST", "/no/such/path", b"{}", JSON),
    ]:
        response = api.request(method, path, content=body, headers={**wall, **headers})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json() == REFUSED
    assistant = {"X-API-Key": "assistant-key"}
    for method, path in [("POST", "/devices"), ("POST", "/import?dry_run=true")]:
        response = api.request(method, path, content=b"{", headers={**assistant, **JSON})
        assert response.status_code == 403, (method, path)
    assert revision(engine) == before


def test_an_assistant_patches_but_does_not_rewire(api: TestClient, engine: Engine) -> None:
    seed(api)
    assistant = {"X-API-Key": "assistant-key"}
    linked = api.post("/ports/dev-1-port-1/link", json={"patchbay_id": 3}, headers=assistant)
    assert linked.status_code == 200, linked.text
    relabelled = api.patch("/cables/1", json={"label": "Drums"}, headers=assistant)
    assert relabelled.status_code == 200
    modes = api.patch("/bays/1/channels", json={"first": 1, "mode": "thru"}, headers=assistant)
    assert modes.status_code == 200
    for method, path, body in [
        ("PATCH", "/devices/1", {"name": "Juno-106"}),
        ("PUT", "/bays/1/channels/1", {"top_point_id": None}),
        ("POST", "/scenes/1/capture", None),
        ("POST", "/history/1/revert", None),
    ]:
        response = api.request(method, path, json=body, headers=assistant)
        assert response.status_code == 403, (method, path, response.text)


def test_a_refusal_is_logged_with_the_keys_name(api: TestClient) -> None:
    log = LogCapture()
    response = api.delete("/devices/1", headers={"X-API-Key": "wall-key"})
    assert response.status_code == 403
    [line] = [line for line in log.lines() if "WARNING pepper [" in line and "may not" in line]
    assert "wall-display" in line and "read" in line and "DELETE /devices/1" in line


@pytest.mark.parametrize("caller", CALLERS)
def test_whoami_names_the_key_and_its_role(api: TestClient, caller: str) -> None:
    key, actor, role = CALLERS[caller]
    response = api.get("/whoami", headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.json() == {"actor": actor, "role": role.value}
    assert api.get("/whoami").status_code == 401


def test_whoami_without_keys(client: TestClient) -> None:
    assert client.get("/whoami").json() == {"actor": None, "role": "admin"}


def test_the_role_of_each_operation_is_in_openapi(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            role = needed(method.upper(), path)
            assert operation["x-role"] == role.value, (method, path)
            assert f"role is `{role.value}`" in operation["description"], (method, path)


def test_every_patch_operation_exists(schema: dict[str, Any]) -> None:
    """The table of operations a `patch` key may make names real ones only."""
    for method, path in PATCH_OPERATIONS:
        assert method.lower() in schema["paths"].get(path, {}), (method, path)


def test_roles_are_checked_when_the_settings_are_read() -> None:
    with pytest.raises(ValueError, match="role"):
        settings("postgresql://x@y/z", api_keys={"a": {"key": "k", "role": "owner"}})
    with pytest.raises(ValueError, match="key"):
        settings("postgresql://x@y/z", api_keys={"a": {"role": "read"}})
