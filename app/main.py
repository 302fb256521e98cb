from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.api.routes import devices, health, patchbay_points, ports, state
from app.core.config import Settings, get_settings
from app.core.errors import register_error_handlers
from app.core.middleware import BodySizeLimit
from app.db.session import create_db_engine, create_sessionmaker

DESCRIPTION = """
Pepper keeps a studio's wiring: **devices**, their **ports**, and the **patchbay points** the
ports are patched into. Errors are `{"detail": "<message>"}`; validation errors keep FastAPI's
list of problems. JSON bodies need `Content-Type: application/json`.
"""

TAGS = [
    {"name": "Health", "description": "Is the service up?"},
    {"name": "State", "description": "Everything at once, for the browser app."},
    {"name": "Devices", "description": "Synths, drum machines, effects, mixers."},
    {"name": "Ports", "description": "Wiring ports to patchbay points."},
    {"name": "Patchbay points", "description": "The jacks of the studio's patchbay."},
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
    app.state.read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        yield
    finally:
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Pepper",
        summary="The patchbay service for a music studio.",
        description=DESCRIPTION,
        version="1.0.0",
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    register_error_handlers(app)
    for module in (health, state, patchbay_points, devices, ports):
        app.include_router(module.router)
    if app.state.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=app.state.settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodySizeLimit)
    return app


app = create_app()
