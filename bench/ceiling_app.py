"""A bare FastAPI app: the ceilings Pepper's figures are read against (see bench/README.md).

Served exactly as Pepper is, with nothing but the endpoints: no middleware, logging, validation
or ETag. What is left is uvicorn, routing, a response and, on /select1, one round trip.

  /constant/sync   k1  the small studio's /state bytes (CEILING_BODY_FILE), `def`
  /select1/sync    k2  `SELECT 1` on one SQLAlchemy Engine (postgresql+psycopg, pool_size 10,
                       max_overflow 0, autocommit connections), `def`: the card's shape
  /constant/async  k3  the constant from an `async def` (reference)
  /select1/async   k4  `SELECT 1` on one of 10 psycopg AsyncConnections, `async def` (reference)
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, Response
from sqlalchemy import create_engine, text

POOL_SIZE = 10  # Pepper's
JSON = "application/json"
BODY = Path(os.environ.get("CEILING_BODY_FILE", os.devnull)).read_bytes()
DATABASE_URL = os.environ.get("DATABASE_URL", "")

engine = create_engine(
    DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1),
    pool_size=POOL_SIZE,
    max_overflow=0,
    isolation_level="AUTOCOMMIT",
)
# A queue is the whole pool: psycopg_pool is not a dependency of the card's shape.
connections: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    for _ in range(POOL_SIZE):
        connections.put_nowait(await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True))
    try:
        yield
    finally:
        while not connections.empty():
            await connections.get_nowait().close()
        engine.dispose()


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


@app.get("/select1/sync")
def select1_sync() -> Response:
    with engine.connect() as conn:
        value = conn.execute(text("SELECT 1")).scalar()
    return Response(f'{{"value":{value}}}'.encode(), media_type=JSON)


@app.get("/select1/async")
async def select1_async() -> Response:
    conn = await connections.get()
    try:
        row = await (await conn.execute("SELECT 1")).fetchone()
    finally:
        connections.put_nowait(conn)
    return Response(f'{{"value":{row[0] if row else None}}}'.encode(), media_type=JSON)
