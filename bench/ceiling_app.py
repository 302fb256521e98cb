"""A bare FastAPI app: the ceilings that Pepper's figures are read against.

`make bench` serves it the way it serves Pepper (one uvicorn worker, the same flags) and loads it
with the same wrk settings and warm-up, in the same run, so Pepper's requests/s can be given as a
fraction of what the framework and the driver reach on this machine at this moment:

  GET /constant/sync    a constant JSON body from a `def` endpoint (runs in the thread pool)
  GET /constant/async   the same from an `async def` endpoint (runs on the event loop)
  GET /select1/sync     one prepared `SELECT 1` on a psycopg_pool.ConnectionPool, `def`
  GET /select1/async    the same on a psycopg_pool.AsyncConnectionPool, `async def`
  GET /health           for the benchmark's start-up check

No middleware, no logging, no validation, no ETag: what is left is uvicorn, routing, a response
and, on /select1, a pool checkout and one round trip to PostgreSQL.

Environment:
  DATABASE_URL       libpq URL for the two pools; unset: no pools, /select1/* answer 503
  CEILING_BODY_FILE  the body of /constant/* (the benchmark passes the small studio's /state);
                     unset: a generated JSON document of about 27 kB
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from psycopg_pool import AsyncConnectionPool, ConnectionPool

# Pepper's pool size; both pools hold this many connections from the start.
POOL_SIZE = 10
SELECT_ONE = "SELECT 1"
JSON = "application/json"


def _body() -> bytes:
    path = os.environ.get("CEILING_BODY_FILE")
    if path:
        return Path(path).read_bytes()
    # About the size and shape of the small studio's /state.
    points = [{"id": n, "name": f"A{n}", "description": f"Row A, jack {n}"} for n in range(96)]
    devices = [
        {
            "id": d,
            "name": f"Synth {d}",
            "type": "Synth",
            "ports": [
                {
                    "id": f"dev-{d}-port-{p}",
                    "label": f"Input {p}",
                    "type": "Input",
                    "patchbay_id": p,
                }
                for p in range(8)
            ],
        }
        for d in range(30)
    ]
    return json.dumps({"patchbay_points": points, "devices": devices}).encode()


BODY = _body()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    conninfo = os.environ.get("DATABASE_URL")
    if not conninfo:
        app.state.sync_pool = app.state.async_pool = None
        yield
        return
    options = {"autocommit": True}
    sync_pool = ConnectionPool(
        conninfo, min_size=POOL_SIZE, max_size=POOL_SIZE, kwargs=options, open=False
    )
    async_pool = AsyncConnectionPool(
        conninfo, min_size=POOL_SIZE, max_size=POOL_SIZE, kwargs=options, open=False
    )
    sync_pool.open(wait=True)
    await async_pool.open(wait=True)
    app.state.sync_pool, app.state.async_pool = sync_pool, async_pool
    try:
        yield
    finally:
        await async_pool.close()
        sync_pool.close()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/health")
async def health() -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


@app.get("/constant/sync")
def constant_sync() -> Response:
    return Response(BODY, media_type=JSON)


@app.get("/constant/async")
async def constant_async() -> Response:
    return Response(BODY, media_type=JSON)


def _one(value: object) -> Response:
    return Response(f'{{"value":{value}}}'.encode(), media_type=JSON)


@app.get("/select1/sync")
def select1_sync(request: Request) -> Response:
    pool: ConnectionPool | None = request.app.state.sync_pool
    if pool is None:
        return Response(status_code=503)
    with pool.connection() as conn:
        row = conn.execute(SELECT_ONE, prepare=True).fetchone()
    return _one(row[0] if row else None)


@app.get("/select1/async")
async def select1_async(request: Request) -> Response:
    pool: AsyncConnectionPool | None = request.app.state.async_pool
    if pool is None:
        return Response(status_code=503)
    async with pool.connection() as conn:
        cursor = await conn.execute(SELECT_ONE, prepare=True)
        row = await cursor.fetchone()
    return _one(row[0] if row else None)
