import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import anyio.to_thread
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts

from app import VERSION
from app.api import middleware
from app.api.roles import describe_roles
from app.api.routes import (
    access,
    bays,
    cables,
    checks,
    devices,
    docs,
    electrical,
    events,
    export,
    health,
    history,
    labels,
    patchbay_points,
    ports,
    scenes,
    signal_flow,
    state,
)
from app.api.security import declare_api_key
from app.core.config import Settings, get_settings
from app.core.errors import register_error_handlers
from app.core.logging import configure_logging
from app.db.listener import StateListener
from app.db.session import Database, thread_limit
from app.schemas.common import error_responses
from app.schemas.studio import MAX_IMPORT_BYTES
from app.services import history as history_records

logger = logging.getLogger("pepper.history")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"

DESCRIPTION = """
Pepper keeps a studio's wiring: **devices**, their **ports**, and the **patchbay points** the
ports are patched into. Errors are `{"detail": "<message>"}`; validation errors keep FastAPI's
list of problems. JSON bodies need `Content-Type: application/json`. Every response carries an
`X-Request-ID`.
"""

TAGS = [
    {"name": "Health", "description": "Is the service up, and ready to serve?"},
    {"name": "State", "description": "Everything at once, for the browser app."},
    {"name": "Devices", "description": "Synths, drum machines, effects, mixers."},
    {"name": "Ports", "description": "Wiring ports to patchbay points."},
    {"name": "Patchbay points", "description": "The jacks of the studio's patchbay."},
    {"name": "Bays", "description": "Patchbay units: normalled channels and their jacks."},
    {"name": "Cables", "description": "Patch cables on the front of the bays."},
    {"name": "Signal flow", "description": "What feeds what, once cables and normals count."},
    {"name": "Scenes", "description": "Saved setups, their patch sheets, recalled in one step."},
    {
        "name": "Patch safety",
        "description": "What each port is electrically, and warnings before equipment is at risk.",
    },
    {"name": "History", "description": "Every change, who made it, and undoing it."},
    {"name": "Export", "description": "The studio in and out: JSON, CSV, printable labels."},
    {"name": "Events", "description": "Live notifications of changes (server-sent events)."},
    {"name": "Access", "description": "Which key this is, and what it may do."},
]

# Served to anyone, key or not: what load balancers, healthchecks and a browser opening the
# docs need. Everything else needs the API key when one is configured.
PUBLIC_ROUTERS: tuple[APIRouter, ...] = (health.router, docs.router)
GUARDED_ROUTERS: tuple[APIRouter, ...] = (
    state.router,
    patchbay_points.router,
    devices.router,
    ports.router,
    bays.router,
    labels.router,
    cables.router,
    signal_flow.router,
    scenes.router,
    electrical.router,
    checks.router,
    history.router,
    export.router,
    events.router,
    access.router,
)
# Browsers' EventSource cannot send headers, so the event stream also takes `?api_key=`.
QUERY_KEY_PATHS = ("/events",)
# Every request body is limited to 1 MiB but these.
BODY_LIMITS = {"/import": MAX_IMPORT_BYTES, "/import/patch-list.csv": MAX_IMPORT_BYTES}

# Every operation can answer this, before any of its own rules run.
BAD_HOST: dict[int | str, dict[str, Any]] = {
    400: {"description": "Host not allowed, or a body that is not text (e.g. not UTF-8)"}
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set (use `make run` for a local database)")
    # Every `def` endpoint runs in a worker thread: as many as the pool has connections, and a
    # few for the CPU-heavy part of reads (see thread_limit).
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = thread_limit(settings.db_pool_size)
    database = Database(settings)
    listener = StateListener(settings)
    app.state.database, app.state.listener = database, listener
    listener.start()
    pruning = asyncio.create_task(
        keep_pruning(database, days=settings.history_retention_days), name="pepper-history-pruning"
    )
    _close_streams_on_shutdown_signal(listener)
    # What the process made to start is kept out of the collector's way: a full collection
    # walks every tracked object, ~150,000 of them here, and holds the GIL (and so every
    # request, /health included) for 100-200 ms on a 2-core test machine.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        pruning.cancel()
        await listener.stop()
        database.close()


async def keep_pruning(database: Database, *, days: int) -> None:
    """Prune the history now and then, for as long as the process runs, in a worker thread;
    the first time a minute after the start, out of the way of a busy start."""
    await asyncio.sleep(history_records.PRUNE_FIRST_AFTER_SECONDS)
    while True:
        try:
            await anyio.to_thread.run_sync(lambda: history_records.prune(database, days=days))
        except Exception as exc:  # the database may be away; try again next time
            logger.warning("history pruning failed: %s", exc)
        await asyncio.sleep(history_records.PRUNE_EVERY_SECONDS)


def _close_streams_on_shutdown_signal(listener: StateListener) -> None:
    """End the open event streams as soon as SIGTERM/SIGINT arrives.

    uvicorn lets in-flight responses finish before it shuts down; a stream never finishes by
    itself, so without this a redeploy would wait out the whole graceful-shutdown timeout.
    uvicorn's own handlers are kept and still run.
    """
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(
            signum: int, frame: FrameType | None, previous: Callable[..., Any] = previous
        ) -> None:
            loop.call_soon_threadsafe(listener.close_streams)
            previous(signum, frame)

        try:
            signal.signal(signum, handler)
        except ValueError:  # not the main thread (e.g. under a test client): nothing to chain
            return


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    app = FastAPI(
        title=docs.TITLE,
        summary="The patchbay service for a music studio.",
        description=DESCRIPTION,
        version=VERSION,
        openapi_tags=TAGS,
        openapi_url=docs.OPENAPI_URL,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses=BAD_HOST,
    )
    app.state.settings = settings
    app.state.schema_head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    register_error_handlers(app)

    keyed = bool(settings.named_keys)
    guarded = [Depends(declare_api_key)] if keyed else []
    unauthorized = error_responses(401) if keyed else {}
    describe_roles((*PUBLIC_ROUTERS, *GUARDED_ROUTERS))
    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    for router in GUARDED_ROUTERS:
        app.include_router(router, dependencies=guarded, responses=unauthorized)
    docs.mount_assets(app)

    middleware.install(
        app,
        settings,
        public_paths={route.path for router in PUBLIC_ROUTERS for route in router.routes}  # type: ignore[attr-defined]
        | {docs.OPENAPI_URL},
        public_prefixes=(docs.ASSETS_URL + "/",),
        query_key_paths=QUERY_KEY_PATHS,
        body_limits=BODY_LIMITS,
        routes=list(iter_route_contexts(app.routes)),
    )
    return app


app = create_app()
