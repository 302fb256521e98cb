#!/bin/sh
# Container entrypoint (also runs fine outside a container): migrate, then serve.
# Replicas starting together are safe: the migration run holds a PostgreSQL advisory lock, so
# one of them migrates and the others wait, then find nothing left to do.
set -eu
cd "$(dirname "$0")"

if [ "$#" -gt 0 ]; then
    alembic upgrade head
    exec "$@"
fi
# Migrates (DATABASE_URL is set in the container), then serves with the project's uvicorn
# options (scripts/serve.py).
exec python -m scripts.serve
