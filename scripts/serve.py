"""Run Pepper: `make run`, and the container's entrypoint.

With DATABASE_URL set (environment or .env), that server is used. Without it, an embedded PostgreSQL keeps its data
in `.pgdata/` (kept between runs) and stops when this process does. Either way the schema is
migrated to the latest revision before the API starts on port 8000 (PORT / HOST override).
"""

import os
import signal
import sys
from pathlib import Path

import sqlalchemy.exc
import uvicorn
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from app.core.config import get_settings
from scripts.embedded_db import ensure_database, start_server

ROOT = Path(__file__).resolve().parent.parent

# uvicorn's httptools parser where its wheel exists (64-bit machines: `uvicorn[standard]` in
# requirements.txt), else h11: `make bench` measured httptools at 1.2x h11's requests/s on the
# 304 poll a browser app sends most, and 1.4x on a constant answer (bench/README.md). What h11
# did better: httptools reads a pipeline whole, so garbage pipelined behind a write is answered
# 400 at once in place of the write's own answer while the write goes on and may commit. Only a
# client that pipelines (no browser, curl or httpx does) and sends garbage meets it, and nothing
# else is refused or changed (tests/test_hostile.py). Everything that starts the API for real
# (this script, the tests' and the benchmark's servers) uses these options.
HTTP_PROTOCOL = "auto"
UVICORN_OPTIONS = ["--http", HTTP_PROTOCOL, "--no-access-log"]


def migrate() -> None:
    """`alembic upgrade head`; a database that cannot be reached (or does not exist) stops the
    start with one line saying so, not a traceback."""
    try:
        command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    except sqlalchemy.exc.OperationalError as exc:
        where = make_url(get_settings().database_url).render_as_string(hide_password=True)
        reason = str(exc.orig or exc).strip().splitlines()[0]
        print(f"pepper: cannot migrate the database at {where}: {reason}", file=sys.stderr)
        raise SystemExit(2) from None


def main() -> None:
    if not get_settings().database_url:
        pgdata = Path(os.environ.get("PEPPER_PGDATA", ROOT / ".pgdata"))
        print(
            f"DATABASE_URL is not set: using the embedded PostgreSQL in {pgdata}", file=sys.stderr
        )
        os.environ["DATABASE_URL"] = ensure_database(
            start_server(pgdata, delete_on_exit=False).get_uri(), "pepper"
        )
        get_settings.cache_clear()
        # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through Python instead
        # lets the embedded server stop with us.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    migrate()
    # uvicorn finishes in-flight requests for up to GRACEFUL_SHUTDOWN_SECONDS after SIGTERM.
    # Pepper writes its own access lines (with request ids), so uvicorn's are off.
    uvicorn.run(
        "app.main:app",
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8000")),
        http=HTTP_PROTOCOL,
        timeout_graceful_shutdown=int(os.environ.get("GRACEFUL_SHUTDOWN_SECONDS", "20")),
        access_log=False,
    )


if __name__ == "__main__":
    main()
