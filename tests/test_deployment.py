"""What can be checked of the production path without a Docker engine."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import psycopg
import yaml

from tests.conftest import ROOT, free_port, wait_until_up
from tests.test_migrations import current_revision, head

# The entrypoint finds alembic and uvicorn on PATH, as in the image: put this Python's first.
WITH_TOOLS = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_entrypoint_migrates_then_serves(scratch_database: Callable[[str], str]) -> None:
    url = scratch_database("entrypoint")
    port = free_port()
    env = {**os.environ, **WITH_TOOLS, "DATABASE_URL": url, "PORT": str(port), "HOST": "127.0.0.1"}
    process = subprocess.Popen(["sh", str(ROOT / "entrypoint.sh")], env=env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        assert current_revision(url) == head()
        assert httpx.get(f"http://127.0.0.1:{port}/state").json() == {
            "patchbay_points": [],
            "devices": [],
        }
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_entrypoint_runs_a_given_command_after_migrating(
    scratch_database: Callable[[str], str],
) -> None:
    url = scratch_database("entrypoint_cmd")
    env = {**os.environ, **WITH_TOOLS, "DATABASE_URL": url}
    result = subprocess.run(
        ["sh", str(ROOT / "entrypoint.sh"), "echo", "migrated"], env=env, capture_output=True
    )
    assert result.returncode == 0
    assert result.stdout.decode().strip() == "migrated"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (0,)


def test_entrypoint_fails_without_a_database() -> None:
    env = {**os.environ, **WITH_TOOLS, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run(["sh", str(ROOT / "entrypoint.sh")], env=env, capture_output=True)
    assert result.returncode != 0


def test_compose_file_wires_the_three_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "api", "pgadmin"}
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "pgdata" in compose["volumes"]
    assert services["api"]["build"] == "."
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready -h 127.0.0.1" in " ".join(services["db"]["healthcheck"]["test"])
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["pgadmin"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["api"]["environment"]["DATABASE_URL"].endswith("@db:5432/${POSTGRES_DB}")


def test_env_example_lists_every_setting() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert {
        "DATABASE_URL",
        "CORS_ORIGINS",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "PGADMIN_DEFAULT_EMAIL",
        "PGADMIN_DEFAULT_PASSWORD",
        "API_KEY",
        "LOG_FORMAT",
        "THREADPOOL_SIZE",
        "DB_POOL_TIMEOUT",
    } <= names


def test_image_runs_as_a_non_root_user() -> None:
    dockerfile = Path(ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("ENTRYPOINT") and "entrypoint.sh" in line for line in dockerfile)
