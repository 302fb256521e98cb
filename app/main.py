from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from alembic.script import ScriptDirectory
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.api.routes import devices, events, health, patchbay_points, ports, state
from app.api.routes.docs import add_offline_docs
from app.api.security import RequireApiKey, require_api_key
from app.core.config import Settings, get_settings
from app.core.errors import InternalErrors, register_error_handlers
from app.core.logging import REQUEST_ID_HEADER, RequestIdMiddleware, configure_logging
from app.core.middleware import BodySizeLimit
from app.db.session import create_db_engine, create_sessionmaker
from app.schemas.common import error_responses
from app.services.events import StateBroadcaster, close_streams_on_shutdown_signal

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
    {"name": "Events", "description": "Live notifications of changes (server-sent events)."},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set (use `make run` for a local database)")
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
    engine = create_db_engine(settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    broadcaster = StateBroadcaster(settings.libpq_url, max_clients=settings.sse_max_clients)
    app.state.broadcaster = broadcaster
    broadcaster.start()
    close_streams_on_shutdown_signal(broadcaster)
    try:
        yield
    finally:
        await broadcaster.stop()
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    app = FastAPI(
        title="Pepper",
        summary="The patchbay service for a music studio.",
        description=DESCRIPTION,
        version="1.0.0",
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.schema_head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    register_error_handlers(app)

    # The dependency declares the key in OpenAPI (Swagger's Authorize button); the middleware
    # below enforces it before any body is read.
    guarded = [Depends(require_api_key)] if settings.api_key else []
    unauthorized = error_responses(401) if settings.api_key else {}
    app.include_router(health.router)
    # Checks the key itself: browsers' EventSource cannot send headers, so it may come as a query.
    app.include_router(events.router)
    for module in (state, patchbay_points, devices, ports):
        app.include_router(module.router, dependencies=guarded, responses=unauthorized)
    add_offline_docs(app)

    # Added innermost first: the request id wraps everything; CORS headers go on 401s, 413s and
    # 500s too.
    app.add_middleware(InternalErrors)
    app.add_middleware(BodySizeLimit)
    if settings.api_key:
        app.add_middleware(RequireApiKey, key=settings.api_key.get_secret_value())
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER, "ETag", "Location", "Retry-After"],
        )
    app.add_middleware(RequestIdMiddleware)
    return app


app = create_app()
