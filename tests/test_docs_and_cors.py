from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app

EXPECTED_TAGS = {"Health", "State", "Devices", "Ports"}


@pytest.fixture(scope="module")
def openapi(app: Any) -> dict[str, Any]:
    with TestClient(app) as client:
        schema: dict[str, Any] = client.get("/openapi.json").json()
    return schema


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_has_a_summary_description_and_tag(openapi: dict[str, Any]) -> None:
    for method, path, operation in operations(openapi):
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert set(operation["tags"]) <= {tag["name"] for tag in openapi["tags"]}
    assert {tag["name"] for tag in openapi["tags"]} >= EXPECTED_TAGS


def test_every_request_body_has_an_example(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for method, path, operation in operations(openapi):
        if "requestBody" not in operation:
            continue
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert schemas[ref.rsplit("/", 1)[1]].get("examples"), (method, path)


def test_errors_are_declared(openapi: dict[str, Any]) -> None:
    link = openapi["paths"]["/ports/{port_id}/link"]["post"]["responses"]
    assert {"200", "404", "422"} <= set(link)
    put = openapi["paths"]["/ports/{port_id}/patchbay"]["put"]["responses"]
    assert {"200", "404", "409", "422"} <= set(put)
    create = openapi["paths"]["/devices"]["post"]["responses"]
    assert {"201", "404", "409", "413", "422"} <= set(create)


def test_port_type_is_an_enum_in_the_schema(openapi: dict[str, Any]) -> None:
    assert openapi["components"]["schemas"]["PortType"]["enum"] == ["Input", "Output", "Other"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_are_served(app: Any, path: str) -> None:
    with TestClient(app) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


def cors_client(database_url: str, origins: list[str]) -> TestClient:
    return TestClient(create_app(Settings(database_url=database_url, cors_origins=origins)))


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


def test_cors_gives_other_origins_nothing(database_url: str) -> None:
    with cors_client(database_url, ["http://studio.local:5173"]) as client:
        response = client.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in response.headers


def test_no_cors_headers_when_unset(database_url: str) -> None:
    with cors_client(database_url, []) as client:
        response = client.get("/health", headers={"Origin": "http://studio.local:5173"})
        assert "access-control-allow-origin" not in response.headers


def test_cors_origins_come_from_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["http://a.local", "http://b.local:8080"]')
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/pepper")
    settings = Settings(_env_file=None)
    assert settings.cors_origins == ["http://a.local", "http://b.local:8080"]
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/pepper"
