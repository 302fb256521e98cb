"""What can be checked of the production path without a Docker engine.

The compose file is read as data and evaluated the way `docker compose` interpolates it, with the
`.env` of a studio that runs the earlier service; the image is checked through its Dockerfile and
requirements; the entrypoint runs for real against the test server.
"""

import os
import re
import signal
import subprocess
from collections.abc import Callable
from fnmatch import fnmatch

import httpx2 as httpx
import psycopg
import pytest
from packaging.requirements import Requirement

from app.core.config import Settings
from scripts import db_setup
from tests.compose import (
    SETTINGS,
    WITH_TOOLS,
    MissingVariable,
    api_environment,
    compose_file,
    compose_with,
    earlier_env,
    interpolate,
    parse_env,
)
from tests.conftest import ROOT, free_port, wait_until_up
from tests.helpers import current_revision, head, tool


def test_interpolation_follows_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-$SET-$$SET-${UNSET}", env) == "x-x-$SET-"
    assert interpolate("${EMPTY:-d}|${EMPTY-d}|${UNSET-d}|${UNSET:-${SET}y}", env) == "d||d|xy"
    assert interpolate("${SET:+on}|${EMPTY:+on}|${EMPTY+on}", env) == "on||on"
    assert interpolate("${UNSET:-${ALSO_UNSET:-${SET}}}", env) == "x"
    with pytest.raises(MissingVariable, match=r"^say why$"):
        interpolate("${EMPTY:?say why}", env)
    assert interpolate("${EMPTY?fine}", env) == ""


# --- the compose file ---------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification() -> None:
    # No Docker here: the file is checked against the specification's JSON schema instead.
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_keeps_the_earlier_deployments_names() -> None:
    compose = compose_file()
    services = compose["services"]
    assert set(services) == {"db", "db-setup", "api", "pgadmin"}
    assert services["db"]["image"] == "postgres:16"
    assert services["db"]["volumes"] == ["postgres_data:/var/lib/postgresql/data"]
    assert "postgres_data" in compose["volumes"]
    assert services["api"]["build"] == "."
    assert services["db-setup"]["build"] == "."
    assert services["api"]["ports"] == ["${API_PORT:-8088}:8000"]
    assert services["pgadmin"]["ports"] == ["${PGADMIN_BIND:-127.0.0.1}:${PGADMIN_PORT:-8090}:5050"]


def test_the_earlier_env_works_unchanged() -> None:
    earlier = earlier_env()
    services = compose_with(earlier)["services"]
    assert services["api"]["ports"] == ["8088:8000"]
    assert services["pgadmin"]["ports"] == ["127.0.0.1:8090:5050"]
    assert services["db"]["environment"] == {
        "POSTGRES_USER": "studio",
        "POSTGRES_PASSWORD": "Wired-Since-2019",
        "POSTGRES_DB": "patchbay",
    }
    setup = services["db-setup"]["environment"]
    assert (setup["PGHOST"], setup["PGPORT"], setup["PGUSER"], setup["PGDATABASE"]) == (
        "db",
        "5432",
        "studio",
        "patchbay",
    )
    assert setup["PGPASSWORD"] == "Wired-Since-2019"
    assert (setup["PEPPER_DB_USER"], setup["PEPPER_DB_PASSWORD"]) == ("pepper_api", "")

    api = services["api"]["environment"]
    assert api["DATABASE_URL"] == "postgresql://"
    assert {key: api[key] for key in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER")} == {
        "PGHOST": "db",
        "PGPORT": "5432",
        "PGDATABASE": "patchbay",
        "PGUSER": "pepper_api",
    }
    # No PEPPER_DB_PASSWORD in the earlier .env: the API reads db-setup's generated password.
    assert api["PGPASSWORD"] == ""
    assert api["PGPASSFILE"] == setup["PEPPER_DB_PASSFILE"]
    assert api["CORS_ORIGINS"] == '["http://studio-pi.local:8080"]'
    assert services["pgadmin"]["environment"]["PGADMIN_DEFAULT_PASSWORD"] == "Pg-Admin-Secret"


def test_the_superuser_password_reaches_only_db_and_db_setup() -> None:
    services = compose_with(earlier_env(PEPPER_DB_PASSWORD="api-only"))["services"]
    holders = {
        name
        for name, service in services.items()
        if any("Wired-Since-2019" in str(value) for value in service["environment"].values())
    }
    assert holders == {"db", "db-setup"}
    api = services["api"]["environment"]
    assert api["PGPASSWORD"] == "api-only"
    assert api["PGUSER"] != "studio"
    assert not any(key.startswith("POSTGRES_") for key in api)


@pytest.mark.parametrize("missing", ["POSTGRES_PASSWORD", "PGADMIN_DEFAULT_PASSWORD"])
@pytest.mark.parametrize("value", [None, ""])
def test_compose_stops_while_a_password_is_unset(missing: str, value: str | None) -> None:
    env = earlier_env()
    del env[missing]
    if value is not None:
        env[missing] = value
    with pytest.raises(MissingVariable, match=f"set {missing} in .env"):
        compose_with(env)


def test_ports_and_the_pgadmin_address_can_be_changed() -> None:
    env = earlier_env(API_PORT="9000", PGADMIN_PORT="9001", PGADMIN_BIND="0.0.0.0")
    services = compose_with(env)["services"]
    assert services["api"]["ports"] == ["9000:8000"]
    assert services["pgadmin"]["ports"] == ["0.0.0.0:9001:5050"]


def test_every_container_runs_without_new_privileges_and_restarts_by_policy() -> None:
    services = compose_file()["services"]
    for name, service in services.items():
        assert "no-new-privileges:true" in service["security_opt"], name
    assert {name: service["restart"] for name, service in services.items()} == {
        "db": "unless-stopped",
        "db-setup": "no",
        "api": "unless-stopped",
        "pgadmin": "unless-stopped",
    }
    # pgAdmin cannot bind port 80 without new privileges: it is told to listen on 5050.
    assert services["pgadmin"]["environment"]["PGADMIN_LISTEN_PORT"] == "5050"


def test_health_checks_and_start_order() -> None:
    services = compose_file()["services"]
    assert "pg_isready -h 127.0.0.1" in " ".join(services["db"]["healthcheck"]["test"])
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["api"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "db-setup": {"condition": "service_completed_successfully"},
    }
    assert services["db-setup"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["pgadmin"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    # The image's entrypoint would migrate first, as the superuser: db-setup replaces it.
    assert services["db-setup"]["entrypoint"] == ["python", "-m", "scripts.db_setup"]
    # The generated password travels on a volume that the API only reads.
    assert services["db-setup"]["volumes"] == ["api_credentials:/var/lib/pepper"]
    assert services["api"]["volumes"] == ["api_credentials:/var/lib/pepper:ro"]


def test_every_pepper_setting_is_passed_through_with_a_default() -> None:
    api = compose_file()["services"]["api"]["environment"]
    defaults = api_environment()
    for name in SETTINGS:
        assert re.fullmatch(rf"\$\{{{name}:-[^$]*\}}", api[name]), name
        assert api_environment(**{name: "42"})[name] == "42"
    assert defaults["ALLOWED_HOSTS"] == "[]"
    assert defaults["CORS_ORIGINS"] == "[]"


def test_compose_defaults_are_pepper_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """For every setting that Pepper's Settings has, compose's default means the same."""
    defaults = api_environment()
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    own = Settings(_env_file=None)
    for name in SETTINGS:
        field = name.lower()
        if field in Settings.model_fields:
            with monkeypatch.context() as env:
                env.setenv(name, defaults[name])
                given = Settings(_env_file=None)
            assert getattr(given, field) == getattr(own, field), name


def test_compose_has_no_brace_that_compose_versions_read_differently() -> None:
    # Compose releases disagree on whether a plain `{` in a default nests: keep none.
    text = (ROOT / "docker-compose.yml").read_text()
    assert "{" not in text.replace("${", "")


def env_example(*, commented: bool) -> dict[str, str]:
    """The settings .env.example sets (`NAME=value`) or shows commented out (`# NAME=value`)."""
    prefix = "# " if commented else ""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return parse_env(
        "\n".join(
            line.removeprefix(prefix)
            for line in lines
            if re.match(rf"{prefix}[A-Z][A-Z0-9_]*=", line)
        )
    )


def test_env_example_lists_every_setting_with_compose_defaults() -> None:
    active, commented = env_example(commented=False), env_example(commented=True)
    assert set(SETTINGS) <= set(active) | set(commented)
    assert {
        "DATABASE_URL",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "PGADMIN_DEFAULT_EMAIL",
        "PGADMIN_DEFAULT_PASSWORD",
        "PEPPER_DB_USER",
        "PEPPER_DB_PASSWORD",
        "API_PORT",
        "PGADMIN_PORT",
        "PGADMIN_BIND",
    } <= set(active) | set(commented)
    defaults = api_environment()
    for name in set(SETTINGS) & set(commented):
        assert commented[name] == defaults[name], name
    # Its placeholder passwords are the ones the setup step refuses.
    placeholders = {active["POSTGRES_PASSWORD"], active["PGADMIN_DEFAULT_PASSWORD"]}
    assert placeholders <= db_setup.PLACEHOLDERS


# --- the image -----------------------------------------------------------------------------


def dockerfile() -> list[str]:
    return (ROOT / "Dockerfile").read_text().splitlines()


def test_image_runs_as_a_non_root_user() -> None:
    lines = dockerfile()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("ENTRYPOINT") and "entrypoint.sh" in line for line in lines)


def test_image_installs_debians_libpq() -> None:
    text = "\n".join(dockerfile())
    assert re.search(r"apt-get install [^\n]*\blibpq5\b", text)
    assert "pip install -r requirements.txt" in text


def test_everything_the_image_copies_is_in_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            pattern = pattern.removeprefix("!")
            parts = path.split("/")
            prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
            if any(fnmatch(prefix, pattern) for prefix in prefixes):
                result = not negated
        return result

    sources = [
        source
        for line in dockerfile()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
        if not source.startswith("--")
    ]
    assert "scripts/db_setup.py" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), source
    assert ignored("tests/conftest.py") and ignored("bench/run.py") and ignored(".env")


def requirements_for(machine: str) -> dict[str, Requirement]:
    """requirements.txt as pip resolves it on a Linux machine that calls itself `machine`."""
    environment = {
        "implementation_name": "cpython",
        "platform_machine": machine,
        "platform_system": "Linux",
        "sys_platform": "linux",
    }
    chosen = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                key = f"{requirement.name}[{','.join(sorted(requirement.extras))}]"
                chosen[key] = requirement
    return chosen


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_64_bit_machines_get_the_binary_packages(machine: str) -> None:
    chosen = requirements_for(machine)
    assert {"psycopg[]", "psycopg-binary[]", "uvicorn[]", "uvicorn[standard]"} <= set(chosen)
    assert chosen["psycopg-binary[]"].specifier == chosen["psycopg[]"].specifier
    assert chosen["uvicorn[standard]"].specifier == chosen["uvicorn[]"].specifier


@pytest.mark.parametrize("machine", ["armv7l", "armv8l", "armv6l"])
def test_32_bit_arm_gets_only_packages_with_wheels_there(machine: str) -> None:
    # No psycopg-binary and no uvloop/httptools wheels for 32-bit ARM: pure-Python psycopg on
    # Debian's libpq5 (installed by the Dockerfile) and plain uvicorn.
    chosen = requirements_for(machine)
    assert {"psycopg[]", "uvicorn[]"} <= set(chosen)
    assert not {"psycopg-binary[]", "uvicorn[standard]", "psycopg[binary]"} & set(chosen)


# --- the entrypoint ------------------------------------------------------------------------


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
            "bays": [],
            "cables": [],
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
