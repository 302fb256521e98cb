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

# uvicorn's h11 protocol rather than httptools, which `make bench` measured at 1.2-1.4x h11's
# requests/s on the 304 poll and 1.4x on a constant answer (rows p1-p6), but whose handling of
# pipelined requests the hostile-client suite caught out twice: a request pipelined behind a
# running write that fails to parse is answered 400 in the write's place while the write goes
# on and commits; and a request pipelined behind GET /events takes over the connection, so
# when the client leaves the stream is never told, writes on into the closed socket and ends
# in a logged error. h11 answers pipelined requests in order and tells the stream at once.
# Everything that starts the API for real (this script, the tests' and the benchmark's
# servers) uses these options.
HTTP_PROTOCOL = "h11"
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
