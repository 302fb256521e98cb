#!/bin/sh
# Container entrypoint (also runs fine outside a container): migrate, then serve.
# Replicas starting together are safe: the migration run holds a PostgreSQL advisory lock, so
# one of them migrates and the others wait, then find nothing left to do.
set -eu
cd "$(dirname "$0")"

alembic upgrade head

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
# uvicorn finishes in-flight requests for up to GRACEFUL_SHUTDOWN_SECONDS after SIGTERM.
# Pepper writes its own access lines (with request ids), so uvicorn's are off.
exec uvicorn app.main:app \
    --host "${HOST:-0.0.0.0}" \
    --port "${PORT:-8000}" \
    --timeout-graceful-shutdown "${GRACEFUL_SHUTDOWN_SECONDS:-20}" \
    --no-access-log
