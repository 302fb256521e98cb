"""Schemathesis over every operation of the OpenAPI schema, with every check, against the live app.

Each operation is one test, run against a uvicorn process on the test database (the `live`
fixture), so every request commits for real. The tables are emptied around each operation and a
small studio is seeded first, so that the happy paths are reached too: points 1..5, devices 1 and
2, ports `dev-1-port-1..3` and `dev-2-port-1..2` (the ids the schema's examples use).

Deterministic (fixed seed, derandomized, no example database) and bounded: MAX_EXAMPLES generated
cases per operation, positive and negative, on top of the schema's examples and the coverage
phase's boundary, negative and protocol cases (about 45 s on two cores).

Every check runs on every case, with one exception: a few rules across fields (a bulk link that
repeats a port or a point, a channel range that goes down, one point for both jacks of a channel)
are documented 422s that JSON Schema cannot express, so those cases are not held to
`positive_data_acceptance`.
The module ends with a line of figures: operations, cases, responses by status.
"""

import json
from collections import Counter
from collections.abc import Iterator

import httpx2 as httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    CHECKS,
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    load_all_checks,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    object_level_authorization,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)
from sqlalchemy import Engine, text

from app.core.config import Settings
from app.db.shapes import PATCH
from app.main import create_app
from tests.helpers import STUDIO_TABLES

SEED = 20240611
MAX_EXAMPLES = 100
TIMEOUT = 30
EVENTS_TIMEOUT = 3

ALL_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    use_after_free,
    ensure_resource_availability,
    ignored_auth,
    object_level_authorization,
]

SEEDED_CHANNELS = 4
STUDIO = [
    "INSERT INTO patchbay_points (name, description, type) VALUES "
    "('A1', 'Top row, jack 1', 'standard'), ('A2', '', 'standard'), ('A3', '', 'normalled'), "
    "('B1', '', 'standard'), ('B2', '', 'half-normalled')",
    "INSERT INTO devices (name, type, last_port_number) VALUES "
    "('Juno-106', 'Synth', 3), ('TR-808', 'Drum machine', 2)",
    "INSERT INTO ports (id, device_id, label, type, patchbay_id) VALUES "
    "('dev-1-port-1', 1, 'MIDI IN', 'Input', 1), ('dev-1-port-2', 1, 'OUT L', 'Output', 2), "
    "('dev-1-port-3', 1, 'OUT R', 'Output', NULL), ('dev-2-port-1', 2, 'MIX OUT', 'Output', 3), "
    "('dev-2-port-2', 2, 'TRIG IN', 'Input', NULL)",
    "INSERT INTO bays (name) VALUES ('Bay A')",
    f"INSERT INTO bay_channels (bay_id, number) SELECT 1, n FROM generate_series(1, {SEEDED_CHANNELS}) n",
    "UPDATE patchbay_points SET bay_id = 1, bay_channel = 1, "
    "bay_row = CASE id WHEN 1 THEN 'top' ELSE 'bottom' END WHERE id IN (1, 2)",
    "INSERT INTO cables (label, color) VALUES ('Juno to comp', 'red')",
    "INSERT INTO cable_ends (cable_id, end_number, point_id) VALUES (1, 1, 4), (1, 2, 5)",
    f"INSERT INTO scenes (name, content) SELECT 'Tracking', {PATCH}",
]

# The schema is what the code declares; no database is needed to build it (the lifespan does not
# run). `test_the_server_serves_this_schema` checks the live server agrees.
OPENAPI = create_app(Settings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()

schema = schemathesis.openapi.from_dict(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # `GET /events` never ends: read up to its first event, or for EVENTS_TIMEOUT.
            "max-stream-events": 1,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "mode": "all",
            },
        }
    ),
)


class Tally:
    """What the run did, for the summary line printed at the end of the module."""

    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.seeded: str | None = None

    def record(self, ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
        """Passed along with the checks, so it sees every response, failing ones included."""
        self.cases[case.operation.label] += 1
        self.statuses[response.status_code] += 1


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not counts.cases:
        return
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(counts.statuses.items()))
    with capture.global_and_fixture_disabled():
        reporter.write_line(
            f"\nschemathesis: {len(counts.cases)} operations, "
            f"{sum(counts.cases.values())} cases; responses by status: {statuses}"
        )


def seed_studio(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(STUDIO_TABLES)} RESTART IDENTITY CASCADE"))
        for statement in STUDIO:
            conn.execute(text(statement))


def breaks_a_rule_json_schema_cannot_state(case: schemathesis.Case) -> bool:
    """Rules across fields, each a documented 4xx that the schema admits: in a bulk link each
    port and each point appears once; a channel range goes up, not down, and stays within the
    bay (the seeded bay has SEEDED_CHANNELS); a point is one jack of a channel, not both; an
    apply's If-Match must name the current revision (412); a patch list is CSV with its
    columns; a studio document's references resolve; phantom power and its damage are for a
    port of the right type, of the device named."""
    label = case.operation.label
    if label in ("POST /import/patch-list.csv", "POST /import"):
        # A CSV's header, columns and cells are a string to JSON Schema; a document's ids must
        # be unique and its references resolve.
        return True
    if label == "POST /scenes/{scene_id}/apply":
        return "if-match" in {name.lower() for name in (case.headers or {})}
    body = case.body
    if not isinstance(body, dict):
        return False
    if label == "POST /ports/bulk-link" and isinstance(body.get("links"), list):
        links = [link for link in body["links"] if isinstance(link, dict)]
        ports = [as_key(link.get("port_id")) for link in links]
        points = [as_key(link.get("patchbay_id")) for link in links]
        points = [point for point in points if point != "null"]
        return len(set(ports)) < len(ports) or len(set(points)) < len(points)
    if label == "PATCH /bays/{bay_id}/channels":
        first, last = body.get("first"), body.get("last")
        numbers = [n for n in (first, last) if isinstance(n, int | float)]
        return any(n > SEEDED_CHANNELS for n in numbers) or (len(numbers) == 2 and last < first)
    if label == "PUT /bays/{bay_id}/channels/{n}":
        top = body.get("top_point_id")
        return top is not None and as_key(top) == as_key(body.get("bottom_point_id"))
    if label == "PATCH /ports/{port_id}/electrical":
        return fragile_or_powered(body)
    if label == "PUT /devices/{device_id}/electrical" and isinstance(body.get("ports"), list):
        ports = [port for port in body["ports"] if isinstance(port, dict)]
        device = as_key((case.path_parameters or {}).get("device_id"))
        return any(
            fragile_or_powered(port) or SEEDED_PORTS.get(str(port.get("port_id"))) != device
            for port in ports
        )
    return False


# Each seeded port's device; which type it is decides whether it may be phantom or fragile.
SEEDED_PORTS = {"dev-1-port-1": "1", "dev-1-port-2": "1", "dev-1-port-3": "1"} | {
    "dev-2-port-1": "2",
    "dev-2-port-2": "2",
}


def fragile_or_powered(values: dict[str, object]) -> bool:
    """Phantom power is for an Input, damage by it for an Output: which one a port is, JSON
    Schema cannot know."""
    return values.get("phantom") is True or values.get("phantom_safe") is False


def as_key(value: object) -> str:
    """A hashable key that is equal for values the API sees as equal (JSON's 7 and 7.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)


def test_every_check_is_used() -> None:
    load_all_checks()
    assert {check.__name__ for check in CHECKS.get_all()} == {c.__name__ for c in ALL_CHECKS}


def test_the_server_serves_this_schema(live: list[str]) -> None:
    assert httpx.get(f"{live[0]}/openapi.json", timeout=10).json() == OPENAPI


@schema.parametrize()
# `live` and `engine` are meant to be shared by all the cases of an operation.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api(case: schemathesis.Case, live: list[str], engine: Engine, tally: Tally) -> None:
    label = case.operation.label
    if tally.seeded != label:
        # Once per operation (the `live` fixture emptied the tables before it).
        seed_studio(engine)
        tally.seeded = label
    timeout = EVENTS_TIMEOUT if case.operation.path == "/events" else TIMEOUT
    checks = ALL_CHECKS
    if breaks_a_rule_json_schema_cannot_state(case):
        checks = [check for check in ALL_CHECKS if check is not positive_data_acceptance]
    case.call_and_validate(
        base_url=live[0], checks=checks, additional_checks=[tally.record], timeout=timeout
    )
