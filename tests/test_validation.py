"""SPEC B7: bad input is a clean 4xx, never a 500, never half-applied, and the server goes on."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Db, add_points, count, make_device


def device_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Juno-106",
        "type": "Synth",
        "ports": [{"label": "MIDI IN", "type": "Input"}],
    }
    body.update(overrides)
    return body


def port_body(**overrides: Any) -> dict[str, Any]:
    return device_body(ports=[{"label": "MIDI IN", "type": "Input", **overrides}])


@pytest.mark.parametrize(
    "body",
    [
        device_body(name="Ju\x00no"),
        device_body(type="\x00"),
        port_body(label="MIDI\x00IN"),
        device_body(name=""),
        device_body(name="   "),
        device_body(type="\t\n"),
        port_body(label=" "),
        device_body(name="x" * 201),
        device_body(type="x" * 201),
        port_body(label="x" * 201),
        port_body(patchbay_id=2**31),
        port_body(patchbay_id=-(2**31) - 1),
        port_body(patchbay_id=10**40),
        port_body(patchbay_id=1.5),
        device_body(name=None),
        device_body(name=12),
        device_body(ports=None),
        device_body(ports=[{"label": "x", "type": "Input"}] * 501),
        {"type": "Synth", "ports": []},
        {"name": "X", "ports": []},
        [],
        "text",
    ],
    ids=lambda body: repr(body)[:40],
)
def test_bad_device_bodies_are_422_and_create_nothing(
    client: TestClient, db: Db, body: Any
) -> None:
    response = client.post("/devices", json=body)
    assert response.status_code == 422, response.text
    assert count(db, "devices") == 0
    assert client.get("/health").status_code == 200


def test_limits_are_inclusive(client: TestClient) -> None:
    body = device_body(
        name="n" * 200, type="t" * 200, ports=[{"label": "l" * 200, "type": "Input"}] * 500
    )
    response = client.post("/devices", json=body)
    assert response.status_code == 201
    assert len(response.json()["ports"]) == 500


def test_text_keeps_non_ascii(client: TestClient) -> None:
    device = make_device(client, name="Müller ☃ 合成器")
    assert device["name"] == "Müller ☃ 合成器"


def test_json_body_needs_a_json_content_type(client: TestClient, db: Db) -> None:
    # Browsers may send text/plain cross-site without a preflight; refusing it keeps other web
    # pages from rewiring the studio.
    # 415 naming the Content-Type to send (SPEC G).
    response = client.post(
        "/devices", content='{"name": "X", "type": "Y"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "Content-Type" in response.json()["detail"]
    response = client.post("/devices", content='{"name": "X", "type": "Y"}')
    assert response.status_code == 415
    assert count(db, "devices") == 0


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/devices", content='{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_body_over_one_mib_is_413(client: TestClient, db: Db) -> None:
    big = device_body(name="x", type="y", padding="p" * (1024 * 1024))
    response = client.post("/devices", json=big)
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}
    assert count(db, "devices") == 0
    assert client.get("/health").status_code == 200


def test_streamed_body_over_one_mib_is_413(client: TestClient, db: Db) -> None:
    def chunks() -> Any:
        yield b'{"name": "x", "type": "y", "padding": "'
        for _ in range(20):
            yield b"p" * 65536
        yield b'"}'

    response = client.post(
        "/devices", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert count(db, "devices") == 0


def test_streamed_body_under_the_limit_is_accepted(client: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"name": "x", '
        yield b'"type": "y"}'

    response = client.post(
        "/devices", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize("port_id", ["%00", "dev-1-port-1%00", "x" * 201])
def test_bad_port_ids_in_paths_are_422(client: TestClient, db: Db, port_id: str) -> None:
    [point] = add_points(db, 1)
    assert client.post(f"/ports/{port_id}/link", json={"patchbay_id": point}).status_code == 422
    assert client.put(f"/ports/{port_id}/patchbay", json={}).status_code == 422
    assert client.post(f"/ports/{port_id}/unlink").status_code == 422


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "a\\ud800b", "type": "Synth"}',  # a lone surrogate: JSON allows it, UTF-8 not
        b'{"name": "\\udfff", "type": "Synth"}',
        b'{"name": "x", "type": "Synth", "ports": [{"label": "\\ud83d", "type": "Input"}]}',
        b'{"name": "x", "type": "Synth", "ports": [{"label": "a", "type": "Input", '
        b'"patchbay_id": 1e400}]}',
        b'{"name": "x", "type": "Synth", "ports": [{"label": "a", "type": "Input", '
        b'"patchbay_id": NaN}]}',
        b'{"name": "x", "type": "Synth", "ports": [{"label": "a", "type": "Input", '
        b'"patchbay_id": -Infinity}]}',
        b'{"name": 1e400, "type": "Synth"}',
        b'{"\\ud800": 1, "name": "x", "type": "y", "ports": "\\ud800"}',
        b"NaN",
        b'["\\ud800"]',
    ],
)
def test_bodies_json_allows_but_text_cannot_hold_are_422(
    client: TestClient, db: Db, raw: bytes
) -> None:
    response = client.post("/devices", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert count(db, "devices") == 0


def test_a_422_shows_only_a_short_prefix_of_what_was_sent(client: TestClient) -> None:
    huge = "x" * 900_000
    for body in (
        {"name": huge, "type": "Synth"},
        {"name": "x", "type": "Synth", "ports": [{"label": huge}]},
        [huge],
        {"name": "x", "type": "Synth", "ports": {"k" * 1000: huge}},
    ):
        response = client.post("/devices", json=body)
        assert response.status_code == 422
        assert len(response.content) < 2000, response.content[:300]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/devices/{device}", {"name": ""}, ["body", "name"]),
        ("/devices/{device}", {"type": 5}, ["body", "type"]),
        ("/bays/{bay}", {"name": "b" * 191}, ["body", "name"]),
        ("/patchbay-points/{point}", {"description": "d" * 2001}, ["body", "description"]),
        ("/devices/{device}", {"name": None}, ["body"]),
    ],
)
def test_a_bad_patch_field_is_one_error_under_its_own_name(
    client: TestClient, db: Db, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    """A PATCH field may be left out but not null: a bad value is one error, whose `loc` is
    the field (not the internal names of the branches of its type)."""
    device = make_device(client)
    bay = client.post("/bays", json={"name": "Bay A", "channels": 1}).json()
    [point] = add_points(db, 1)
    url = path.format(device=device["id"], bay=bay["id"], point=point)
    response = client.patch(url, json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc
