"""A studio of the earlier service upgrades: `git pull && docker compose up -d --build`.

Its database (the earlier migration's schema, owned by the superuser, with rows) gets what
compose would give it, with the libpq variables pointed at the test server instead of `db`:
the setup step (scripts/db_setup.py) as the superuser, then the entrypoint as the API's own role,
which migrates and serves. The API then answers as SPEC Part A says, on the upgraded rows.
"""

import base64
import hashlib
import hmac
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString

import httpx2 as httpx
import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy import create_engine, text

from app.core.config import Settings
from tests.compose import WITH_TOOLS, compose_with, earlier_env
from tests.conftest import ROOT, alembic_config, free_port, wait_until_up
from tests.helpers import current_revision, head

EARLIER_SCHEMA = ROOT / "tests" / "fixtures" / "earlier_service_schema.sql"
# What a URL (`@ : / %`) or an SQL literal (quotes, backslash) would trip on.
PASSWORD = "p@ss:w/rd%40 'it\"s\\"
SEED_TABLES = ("patchbay_points", "devices", "ports")

POINTS = [  # name, description, type; ids come from the sequence, as through the API
    ("Bay A 1T", "", "standard"),
    ("Bay A 1B", "", "standard"),
    ("Bay A 2T", "Juno in", "standard"),
    ("Bay A 2B", "", "normalled"),
    ("Bay A 3T", "", "standard"),
]
# (port number, label, type, index of its point or None), in the order the ports were created.
JUNO_PORTS = [
    (1, "MIDI IN", "Input", 0),
    (2, "OUT L", "Output", None),
    (10, "OUT R", "Output", 2),
    (11, "PHONES", "Other", None),
]
MIXER_PORTS = [(1, "MAIN OUT", "Output", None), (2, "AUX", "Other", 3), (3, "CH 3", "Input", 1)]


@dataclass
class Studio:
    url: str  # the scratch database, as the test server's superuser
    role: str  # the API's role that the setup step makes
    points: list[int]
    juno: int
    mixer: int

    @property
    def dbname(self) -> str:
        return str(psycopg.conninfo.conninfo_to_dict(self.url)["dbname"])

    def port_id(self, device: int, number: int) -> str:
        return f"dev-{device}-port-{number}"


def returning_id(conn: psycopg.Connection[Any], query: LiteralString, params: Any) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def add_earlier_rows(url: str) -> tuple[list[int], int, int]:
    """Rows as the earlier service left them: ports inserted out of id order, some linked."""
    with psycopg.connect(url) as conn:
        points = [
            returning_id(
                conn,
                "INSERT INTO patchbay_points (name, description, type) VALUES (%s, %s, %s)"
                " RETURNING id",
                point,
            )
            for point in POINTS
        ]
        juno, mixer = (
            returning_id(conn, "INSERT INTO devices (name, type) VALUES (%s, %s) RETURNING id", d)
            for d in (("Juno-106", "Synth"), ("Mixer", "Mixer"))
        )
        # The Juno's ports were created a minute apart; -port-10 came after -port-2.
        for position in (2, 1, 3, 0):
            number, label, kind, point = JUNO_PORTS[position]
            conn.execute(
                "INSERT INTO ports (id, device_id, label, type, patchbay_id, created_at)"
                " VALUES (%s, %s, %s, %s, %s, '2025-03-01 10:00+00'::timestamptz + %s * interval"
                " '1 minute')",
                (f"dev-{juno}-port-{number}", juno, label, kind, _point(points, point), position),
            )
        # The mixer's ports were created in one transaction: the same created_at.
        for number, label, kind, point in reversed(MIXER_PORTS):
            conn.execute(
                "INSERT INTO ports (id, device_id, label, type, patchbay_id)"
                " VALUES (%s, %s, %s, %s, %s)",
                (f"dev-{mixer}-port-{number}", mixer, label, kind, _point(points, point)),
            )
    return points, juno, mixer


def _point(points: list[int], index: int | None) -> int | None:
    return None if index is None else points[index]


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the three tables, as the earlier schema has them."""
    columns = {
        "patchbay_points": "id, name, description, type, created_at",
        "devices": "id, name, type, created_at",
        "ports": "id, device_id, label, type::text, patchbay_id, created_at",
    }
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT {columns[table]} FROM {table} ORDER BY id").fetchall()
            for table in SEED_TABLES
        }


@pytest.fixture
def earlier_studio(server_url: str, scratch_database: Callable[[str], str]) -> Iterator[Studio]:
    """A database of the earlier service: its schema and rows, all owned by the superuser."""
    url = scratch_database(f"earlier_{secrets.token_hex(3)}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(EARLIER_SCHEMA.read_text())
    points, juno, mixer = add_earlier_rows(url)
    # Roles belong to the whole server: a name of its own for every test.
    studio = Studio(url, f"pepper_api_{secrets.token_hex(4)}", points, juno, mixer)
    yield studio
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(studio.dbname))
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(studio.role)))


def on_test_server(url: str) -> dict[str, str]:
    """The libpq variables that take compose's `db` to the test server's database of `url`."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    names = {"host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE"}
    return {variable: str(params[key]) for key, variable in names.items() if params.get(key)}


def superuser(url: str) -> dict[str, str]:
    params = psycopg.conninfo.conninfo_to_dict(url)
    return {"PGUSER": str(params["user"]), "PGPASSWORD": str(params.get("password") or "")}


def clean_environ() -> dict[str, str]:
    """This process's environment without database settings of its own."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PG") and key != "DATABASE_URL"
    }


def compose_env(studio: Studio, passfile: Path, **dotenv: str) -> dict[str, dict[str, str]]:
    """The environments compose gives db-setup and the API with the earlier .env (plus `dotenv`),
    pointed at the studio's database on the test server."""
    env = earlier_env(PEPPER_DB_USER=studio.role, **dotenv)
    services = compose_with(env)["services"]
    setup = {
        **services["db-setup"]["environment"],
        **on_test_server(studio.url),
        **superuser(studio.url),
        "PEPPER_DB_PASSFILE": str(passfile),
    }
    api = {
        **services["api"]["environment"],
        **on_test_server(studio.url),
        "PGPASSFILE": str(passfile),
    }
    return {"db-setup": setup, "api": api}


def run_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.db_setup"],
        cwd=ROOT,
        env={**clean_environ(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def matches_scram(verifier: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier of pg_authid is that of `password` (an ASCII one)."""
    method, rest = verifier.split("$", 1)
    iterations_and_salt, keys = rest.split("$")
    iterations, salt = iterations_and_salt.split(":")
    stored_key, _ = keys.split(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    expected = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return method == "SCRAM-SHA-256" and stored_key == expected


def role_facts(url: str, role: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        attributes = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
            " rolbypassrls, rolpassword FROM pg_authid WHERE rolname = %s",
            (role,),
        ).fetchone()
        not_owned = conn.execute(
            """
            WITH api AS (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
            SELECT 'schema ' || nspname FROM pg_namespace
             WHERE nspname = 'public' AND nspowner <> (SELECT oid FROM api)
            UNION ALL
            SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
               AND relowner <> (SELECT oid FROM api)
            UNION ALL
            SELECT typname FROM pg_type WHERE typnamespace = 'public'::regnamespace
               AND typowner <> (SELECT oid FROM api)
            UNION ALL
            SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
               AND proowner <> (SELECT oid FROM api)
            """,
            {"role": role},
        ).fetchall()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s",
            (role,),
        ).fetchone()
    assert attributes is not None and tables is not None
    return {
        "login": attributes[0],
        "powers": attributes[1:6],
        "verifier": attributes[6],
        "not_owned": [row[0] for row in not_owned],
        "tables": tables[0],
    }


def expected_state(studio: Studio) -> dict[str, Any]:
    def ports(device: int, created: list[tuple[int, str, str, int | None]]) -> list[Any]:
        return [
            {
                "id": studio.port_id(device, number),
                "label": label,
                "type": kind,
                "patchbay_id": _point(studio.points, point),
            }
            for number, label, kind, point in created
        ]

    return {
        "patchbay_points": [
            {"id": point_id, "name": name, "description": description, "type": kind}
            for point_id, (name, description, kind) in zip(studio.points, POINTS, strict=True)
        ],
        "devices": [
            {
                "id": studio.juno,
                "name": "Juno-106",
                "type": "Synth",
                "ports": ports(studio.juno, JUNO_PORTS),
            },
            {
                "id": studio.mixer,
                "name": "Mixer",
                "type": "Mixer",
                "ports": ports(studio.mixer, MIXER_PORTS),
            },
        ],
        # Part D's keys, new after Part A's: an upgraded studio has no bays or cables yet.
        "bays": [],
        "cables": [],
    }


def check_part_a(api: str, studio: Studio) -> None:
    """SPEC Part A's endpoints on the upgraded rows."""
    juno, mixer, points = studio.juno, studio.mixer, studio.points
    assert httpx.get(f"{api}/health").json() == {"status": "ok"}
    response = httpx.get(f"{api}/state")
    assert response.status_code == 200
    assert response.json() == expected_state(studio)

    # OUT L takes Bay A 1T over from MIDI IN.
    response = httpx.post(
        f"{api}/ports/{studio.port_id(juno, 2)}/link", json={"patchbay_id": points[0]}
    )
    assert (response.status_code, response.json()) == (
        200,
        {
            "id": studio.port_id(juno, 2),
            "label": "OUT L",
            "type": "Output",
            "patchbay_id": points[0],
            "unlinked_port_id": studio.port_id(juno, 1),
        },
    )
    phones = f"{api}/ports/{studio.port_id(juno, 11)}/patchbay"
    response = httpx.put(phones, json={"patchbay_id": points[2]})  # held by OUT R
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "Patchbay point already linked"},
    )
    response = httpx.put(phones, json={"patchbay_id": points[4]})
    assert (response.status_code, response.json()["patchbay_id"]) == (200, points[4])
    response = httpx.put(phones, json={})
    assert (response.status_code, response.json()["patchbay_id"]) == (200, None)
    response = httpx.post(f"{api}/ports/{studio.port_id(mixer, 3)}/unlink")
    assert (response.status_code, response.json()) == (
        200,
        {"id": studio.port_id(mixer, 3), "label": "CH 3", "type": "Input", "patchbay_id": None},
    )
    response = httpx.post(f"{api}/ports/dev-999-port-1/unlink")
    assert (response.status_code, response.json()) == (404, {"detail": "Port not found"})

    # A new device continues the earlier ids and takes the point CH 3 left.
    body = {
        "name": "TR-808",
        "type": "Drum machine",
        "ports": [{"label": "OUT", "type": " output ", "patchbay_id": points[1]}],
    }
    response = httpx.post(f"{api}/devices", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] > mixer
    assert created["ports"] == [
        {
            "id": f"dev-{created['id']}-port-1",
            "label": "OUT",
            "type": "Output",
            "patchbay_id": points[1],
        }
    ]
    response = httpx.delete(f"{api}/devices/{created['id']}")
    assert (response.status_code, response.json()) == (
        200,
        {"id": created["id"], "name": "TR-808", "type": "Drum machine"},
    )
    response = httpx.delete(f"{api}/devices/{created['id']}")
    assert (response.status_code, response.json()) == (404, {"detail": "Device not found"})

    state = httpx.get(f"{api}/state").json()
    assert [port["id"] for port in state["devices"][0]["ports"]] == [
        studio.port_id(juno, number) for number, *_ in JUNO_PORTS
    ]
    assert [
        (port["id"], port["patchbay_id"]) for device in state["devices"] for port in device["ports"]
    ] == [
        (studio.port_id(juno, 1), None),
        (studio.port_id(juno, 2), points[0]),
        (studio.port_id(juno, 10), points[2]),
        (studio.port_id(juno, 11), None),
        (studio.port_id(mixer, 1), None),
        (studio.port_id(mixer, 2), points[3]),
        (studio.port_id(mixer, 3), None),
    ]


@pytest.mark.parametrize("password", ["given", "generated"])
def test_an_earlier_studio_upgrades_in_place(
    earlier_studio: Studio, tmp_path: Path, password: str
) -> None:
    studio = earlier_studio
    before = snapshot(studio.url)
    # The earlier .env has no PEPPER_DB_PASSWORD: db-setup generates one. A studio may set one.
    dotenv = {"PEPPER_DB_PASSWORD": PASSWORD} if password == "given" else {}
    env = compose_env(studio, tmp_path / "pgpass", **dotenv)

    setup = run_setup(env["db-setup"])
    assert setup.returncode == 0, setup.stderr
    facts = role_facts(studio.url, studio.role)
    assert facts["login"] and facts["powers"] == (False,) * 5
    assert facts["not_owned"] == []
    secret = PASSWORD if password == "given" else _generated(tmp_path / "pgpass", studio.role)
    assert matches_scram(facts["verifier"], secret)

    port = free_port()
    process = subprocess.Popen(
        ["sh", str(ROOT / "entrypoint.sh")],
        env={**clean_environ(), **WITH_TOOLS, **env["api"], "PORT": str(port), "HOST": "127.0.0.1"},
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        assert current_revision(studio.url) == head()
        assert snapshot(studio.url) == before
        check_part_a(f"http://127.0.0.1:{port}", studio)
        # The API's connections (pooled, and its LISTEN one) are all the role's.
        with psycopg.connect(studio.url) as conn:
            users = conn.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
        assert users == [(studio.role,)]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)

    # What the migrations made belongs to the role too, and it is still no superuser.
    facts = role_facts(studio.url, studio.role)
    assert facts["powers"] == (False,) * 5
    assert facts["not_owned"] == []
    assert facts["tables"] >= 5  # the three of the earlier service, its version table, and more


def _generated(passfile: Path, role: str) -> str:
    assert passfile.stat().st_mode & 0o077 == 0  # libpq ignores a file others can read
    line = passfile.read_text().strip()
    prefix = f"*:*:*:{role}:"
    assert line.startswith(prefix)
    return line.removeprefix(prefix)


def test_alembic_alone_upgrades_the_earlier_schema(earlier_studio: Studio) -> None:
    studio = earlier_studio
    before = snapshot(studio.url)
    command.upgrade(alembic_config(studio.url), "head")
    assert current_revision(studio.url) == head()
    assert snapshot(studio.url) == before
    with psycopg.connect(studio.url) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM ports ORDER BY device_id, position")]
    assert ids == [studio.port_id(studio.juno, n) for n, *_ in JUNO_PORTS] + [
        studio.port_id(studio.mixer, n) for n, *_ in MIXER_PORTS
    ]


def test_setup_is_repeatable_and_takes_what_the_superuser_adds_later(
    earlier_studio: Studio, tmp_path: Path
) -> None:
    studio = earlier_studio
    env = compose_env(studio, tmp_path / "pgpass", PEPPER_DB_PASSWORD=PASSWORD)
    assert run_setup(env["db-setup"]).returncode == 0
    migrate = subprocess.run(
        ["sh", str(ROOT / "entrypoint.sh"), "true"],
        env={**clean_environ(), **WITH_TOOLS, **env["api"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    again = run_setup(env["db-setup"])
    assert again.returncode == 0, again.stderr
    assert "0 objects in schema public now owned" in again.stdout

    # Someone adds things in pgAdmin, as the superuser.
    with psycopg.connect(studio.url) as conn:
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
        conn.execute("CREATE TYPE mood AS ENUM ('calm', 'loud')")
        conn.execute("CREATE FUNCTION shout(text) RETURNS text LANGUAGE sql AS 'SELECT upper($1)'")
        conn.execute("CREATE VIEW linked AS SELECT id FROM ports WHERE patchbay_id IS NOT NULL")
    later = run_setup(env["db-setup"])
    assert later.returncode == 0, later.stderr
    assert "4 objects in schema public now owned" in later.stdout
    assert role_facts(studio.url, studio.role)["not_owned"] == []


def test_setup_on_a_fresh_database(
    earlier_studio: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio = earlier_studio
    with psycopg.connect(studio.url) as conn:  # emptied: a new studio's database
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    env = compose_env(studio, tmp_path / "pgpass")
    assert run_setup(env["db-setup"]).returncode == 0
    # The API's DATABASE_URL, an empty libpq URI, reaches the role's database through the PG*
    # variables alone, for psycopg and for SQLAlchemy (which Alembic uses) alike.
    for name, value in env["api"].items():
        if name.startswith("PG"):
            monkeypatch.setenv(name, value)
    database_url = env["api"]["DATABASE_URL"]
    with psycopg.connect(database_url) as conn:
        assert conn.info.user == studio.role
        assert conn.info.password == _generated(tmp_path / "pgpass", studio.role)
    engine = create_engine(Settings(database_url=database_url).database_url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT current_user")) == studio.role
    engine.dispose()
    migrate = subprocess.run(
        ["sh", str(ROOT / "entrypoint.sh"), "true"],
        env={**clean_environ(), **WITH_TOOLS, **env["api"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert current_revision(studio.url) == head()
    assert role_facts(studio.url, studio.role)["not_owned"] == []
    # A second run keeps the generated password.
    first = _generated(tmp_path / "pgpass", studio.role)
    assert run_setup(env["db-setup"]).returncode == 0
    assert _generated(tmp_path / "pgpass", studio.role) == first


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("PGPASSWORD", "POSTGRES_PASSWORD"),
        ("PEPPER_DB_PASSWORD", "PEPPER_DB_PASSWORD"),
        ("PGADMIN_DEFAULT_PASSWORD", "PGADMIN_DEFAULT_PASSWORD"),
    ],
)
def test_setup_refuses_the_example_passwords(variable: str, named: str) -> None:
    placeholder = "change-me-too" if "PGADMIN" in variable else "change-me"
    # Refused before connecting anywhere: the host below does not exist.
    result = run_setup({"PGHOST": "db.invalid", variable: placeholder})
    assert result.returncode == 1
    assert f"{named} is still the example's placeholder" in result.stderr


def test_setup_refuses_to_turn_the_superuser_into_the_api_role(
    earlier_studio: Studio, tmp_path: Path
) -> None:
    studio = earlier_studio
    env = compose_env(studio, tmp_path / "pgpass", PEPPER_DB_PASSWORD="x")
    superuser_name = env["db-setup"]["PGUSER"]
    result = run_setup({**env["db-setup"], "PEPPER_DB_USER": superuser_name})
    assert result.returncode == 1
    assert "must not be the superuser" in result.stderr
    with psycopg.connect(studio.url) as conn:
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (True,)
