from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings

# Connections the pool may open beyond one per worker thread: the code after `yield` in `get_db`
# (commit, close) runs outside the thread limit, so a few requests can be finishing while all
# workers already hold a connection.
POOL_OVERFLOW = 4


def create_db_engine(settings: Settings) -> Engine:
    return create_engine(
        settings.database_url,
        pool_size=settings.threadpool_size,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=settings.db_pool_timeout,
        connect_args={"connect_timeout": settings.db_connect_timeout},
    )


def create_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
