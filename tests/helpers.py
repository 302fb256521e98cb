"""What the tests share: SQL in the test's transaction, studio builders, and shape checks."""

import io
import json
import logging
import queue
import re
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import Connection

from app.main import MIGRATIONS_DIR
from app.schemas.bay import BayRead

JSON = {"Content-Type": "application/json"}
# Every table of the studio (and its scenes), emptied between the tests that commit.
STUDIO_TABLES = (
    "cable_ends",
    "cables",
    "ports",
    "devices",
    "patchbay_points",
    "bay_channels",
    "bays",
    "scenes",
)


class Db:
    """SQL (psycopg's `%(name)s` parameters) on the connection the test's requests share."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def execute(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Runs in a savepoint, as a request does: an error undoes this statement alone."""
        with self.conn.begin_nested():
            result = (
                self.conn.exec_driver_sql(query, params)
                if params is not None
                else self.conn.exec_driver_sql(query)
            )
            return [tuple(row) for row in result] if result.returns_rows else []

    def scalar(self, query: str, params: dict[str, Any] | None = None) -> Any:
        rows = self.execute(query, params)
        return rows[0][0] if rows else None


def add_points(db: Db, count: int, *, prefix: str = "P") -> list[int]:
    """Insert patchbay points directly, as a studio did in pgAdmin; returns their ids."""
    rows = db.execute(
        "INSERT INTO patchbay_points (name) "
        "SELECT %(prefix)s || n FROM generate_series(1, %(count)s) AS n RETURNING id",
        {"prefix": prefix, "count": count},
    )
    return [row[0] for row in rows]


def make_device(
    client: TestClient, *, name: str = "Juno-106", ports: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    if ports is None:
        ports = [{"label": "MIDI IN", "type": "Input"}, {"label": "OUT", "type": "Output"}]
    response = client.post("/devices", json={"name": name, "type": "Synth", "ports": ports})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def make_bay(client: TestClient, **body: Any) -> dict[str, Any]:
    """A bay (Bay A, 3 channels, its points made, unless `body` says otherwise), checked
    against its schema."""
    response = client.post("/bays", json={"name": "Bay A", "channels": 3, **body})
    assert response.status_code == 201, response.text
    bay: dict[str, Any] = shaped(response, BayRead)
    return bay


def holder_of(db: Db, point_id: int) -> str | None:
    holder: str | None = db.scalar(
        "SELECT id FROM ports WHERE patchbay_id = %(p)s", {"p": point_id}
    )
    return holder


def count(db: Db, table: str) -> int:
    return int(db.scalar(f"SELECT count(*) FROM {table}") or 0)


def shaped(response: httpx.Response, model: Any) -> Any:
    """The body, checked to be exactly what `model` (a schema or a type) declares: every key
    there, none more, each value of its type. Returns the parsed JSON."""
    adapter = TypeAdapter(model)
    parsed = response.json()
    declared = adapter.dump_python(adapter.validate_json(response.content), mode="json")
    assert _keys(declared) == _keys(parsed), response.text
    # Values compared as the model reads them (a time may be written `Z` or `+00:00`).
    assert adapter.validate_json(json.dumps(declared)) == adapter.validate_json(response.content)
    return parsed


def _keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, all the way down."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys(item) for item in value]
    return None


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up")


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

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


# Values for the path parameters of every operation, so each can be called.
PATH_VALUES = {
    "device_id": "1",
    "point_id": "1",
    "port_id": "dev-1-port-1",
    "bay_id": "1",
    "n": "1",
    "cable_id": "1",
    "scene_id": "1",
    "revision": "1",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with values for its parameters
    has_body: bool
    streams: bool  # a server-sent event stream, which never ends by itself


def operations(schema: dict[str, Any], *, but: tuple[str, ...] = ()) -> list[Operation]:
    """Every operation of an OpenAPI schema, callable (but those of the paths in `but`)."""

    def concrete(path: str) -> str:
        # An unknown parameter fails here, so a new route is not skipped silently.
        return re.sub(r"{(\w+)}", lambda match: PATH_VALUES[match.group(1)], path)

    return [
        Operation(
            method.upper(),
            concrete(path),
            "requestBody" in operation,
            "text/event-stream" in operation["responses"].get("200", {}).get("content", {}),
        )
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if path not in but
    ]


# --- Migrations and tools --------------------------------------------------------------------
def head() -> str:
    """The newest migration's revision."""
    revision = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert revision is not None
    return revision


def current_revision(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def tool(name: str) -> str:
    """A checker installed beside this Python (requirements-dev.txt), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


# --- Event streams ---------------------------------------------------------------------------
@dataclass
class Event:
    id: int
    event: str
    data: str
    received: float


class EventClient:
    """Reads one event stream in a thread; events land in a queue with their arrival time."""

    def __init__(self, url: str, headers: Mapping[str, str | bytes] | None = None) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.comments: queue.Queue[str] = queue.Queue()
        self.status: int | None = None
        self._opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=60))
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "stream did not open"

    def _read(self, url: str, headers: Mapping[str, str | bytes]) -> None:
        fields: dict[str, str] = {}
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                self._opened.set()
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.put(line)
                    elif line == "":
                        if "id" in fields:
                            self.events.put(
                                Event(
                                    int(fields["id"]),
                                    fields.get("event", ""),
                                    fields.get("data", ""),
                                    time.monotonic(),
                                )
                            )
                        fields = {}
                    else:
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()

    def next_event(self, timeout: float = 5) -> Event:
        return self.events.get(timeout=timeout)

    def no_event_within(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self._client.close()
