"""The API's connections to PostgreSQL: one pool per process, every wait bounded.

The timeouts are set on the API's own connections (as connection options), not on the role or
the database, which the people using pgAdmin share.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Self

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.core.config import Settings
from app.core.errors import DATABASE_UNAVAILABLE, Unavailable
from app.core.logging import actor_var, request_id_var

logger = logging.getLogger("pepper.db")

Connection = AsyncConnection[tuple[Any, ...]]

# The advisory lock every write transaction holds, in shared mode, from its first statement;
# an import (which rebuilds the whole studio) holds it alone (see app/services/locks.py).
STUDIO_LOCK = 0x70657070  # "pepp"
# What a write transaction tells the history triggers about the request (migration 0008), and
# its hold on the studio, in one round trip.
_CONTEXT = (
    "SELECT set_config('pepper.request_id', %s, true), set_config('pepper.actor', %s, true), "
    "{lock}(%s)"
)
_REQUEST_CONTEXT = _CONTEXT.format(lock="pg_advisory_xact_lock_shared")
_WHOLE_STUDIO_CONTEXT = _CONTEXT.format(lock="pg_advisory_xact_lock")


def connection_kwargs(settings: Settings, application_name: str = "pepper") -> dict[str, Any]:
    """Connection options for every connection the API opens, the listener's included."""

    def ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    options = {
        "lock_timeout": ms(settings.db_lock_timeout),
        "statement_timeout": ms(settings.db_statement_timeout),
        "idle_in_transaction_session_timeout": ms(settings.db_idle_in_transaction_timeout),
        # The planner's row estimates for the nested JSON reads are high enough to start JIT
        # compilation, which took 100+ ms for a query that runs in 1 ms.
        "jit": "off",
    }
    return {
        "autocommit": True,
        "application_name": application_name,
        "connect_timeout": settings.db_connect_timeout,
        "options": " ".join(f"-c {name}={value}" for name, value in options.items()),
        # A database host that vanishes without closing the connection is noticed in about
        # 30 s instead of the kernel's two hours.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 4,
    }


# While the database cannot be reached, a request waits this long for a connection (the pool
# keeps trying in the background) before it is answered 503, instead of the whole pool timeout.
UNREACHABLE_WAIT_SECONDS = 0.5
# The pool retries a failed connection with backoff for this long, then drops the attempt; the
# next request starts a fresh one. So a database that is back is used again within seconds,
# however long it was away.
RECONNECT_SECONDS = 5.0


def _reporting(report: Callable[[bool], None]) -> type[Connection]:
    """A connection class that reports whether each attempt to connect worked."""

    class ReportingConnection(AsyncConnection[tuple[Any, ...]]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            try:
                conn = await super().connect(conninfo, **kwargs)
            except psycopg.OperationalError:
                report(False)
                raise
            report(True)
            return conn

    return ReportingConnection


class Database:
    """The API's pool. Reads run one statement on an autocommit connection; writes run in a
    transaction that commits before the response is built, so a failed commit is never a 2xx."""

    def __init__(self, settings: Settings) -> None:
        self.reachable = True
        self.pool = AsyncConnectionPool(
            settings.libpq_url,
            connection_class=_reporting(self._reached),
            min_size=min(2, settings.db_pool_size),
            max_size=settings.db_pool_size,
            timeout=settings.db_pool_timeout,
            reconnect_timeout=RECONNECT_SECONDS,
            kwargs=connection_kwargs(settings),
            open=False,
            name="pepper",
        )
        self._checking: asyncio.Task[None] | None = None

    def _reached(self, reached: bool) -> None:
        if reached != self.reachable:
            logger.warning("database %s", "reachable again" if reached else "unreachable")
        self.reachable = reached

    async def open(self) -> None:
        # Do not wait for the database: the process starts (and /health answers) without it.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=5)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for reads (autocommit: one statement, one snapshot, one round trip)."""
        try:
            conn = await self.pool.getconn(None if self.reachable else UNREACHABLE_WAIT_SECONDS)
        except PoolTimeout:
            if self.reachable:
                raise  # busy: every connection is in use
            raise Unavailable(DATABASE_UNAVAILABLE) from None
        try:
            yield conn
        except psycopg.OperationalError:
            self._check_pool_if_broken(conn)
            raise
        finally:
            await self.pool.putconn(conn)

    @asynccontextmanager
    async def transaction(self, *, whole_studio: bool = False) -> AsyncIterator[Connection]:
        """A connection inside a transaction that carries the request's id and actor, and holds
        the studio lock: shared, or alone for `whole_studio` (the imports). Its wait is bounded
        by `lock_timeout` like any other."""
        context = _WHOLE_STUDIO_CONTEXT if whole_studio else _REQUEST_CONTEXT
        async with self.connection() as conn, conn.transaction():
            await conn.execute(context, (request_id_var.get(), actor_var.get(), STUDIO_LOCK))
            yield conn

    async def fetch_value(self, query: str, params: dict[str, Any] | None = None) -> Any:
        """The first column of the first row of one statement (None without a row): every GET
        reads through here."""
        async with self.connection() as conn:
            cursor = await conn.execute(query, params, prepare=True)
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def fetch_row(
        self, query: str, params: dict[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        async with self.connection() as conn:
            cursor = await conn.execute(query, params, prepare=True)
            return await cursor.fetchone()

    async def fetch_all(
        self, query: str, params: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        async with self.connection() as conn:
            cursor = await conn.execute(query, params, prepare=True)
            return await cursor.fetchall()

    def _check_pool_if_broken(self, conn: Connection) -> None:
        # The database went away (restart, failover): the other idle connections are as dead as
        # this one. Check them all now rather than fail one request per stale connection.
        if conn.broken and (self._checking is None or self._checking.done()):
            self._checking = asyncio.create_task(self.pool.check())
