"""The API's connections to PostgreSQL: one SQLAlchemy Engine per process, every wait bounded.

The timeouts are set on the API's own connections (as libpq options), not on the role or the
database, which the people using pgAdmin share.

Reads run on an autocommit connection: one statement, one snapshot, one round trip. Writes run
in `Database.transaction()`, which a route closes before it builds its response, so a failed
commit is never a 2xx. Services take the `Connection` and never commit.
"""

import asyncio
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Text, bindparam, create_engine, func, select

from app.core.config import Settings
from app.core.logging import actor_var, request_id_var

# The advisory lock every write transaction holds, in shared mode, from its first statement;
# an import (which rebuilds the whole studio) holds it alone (see app/services/locks.py).
STUDIO_LOCK = 0x70657070  # "pepp"


def _holding(lock: Any) -> Any:
    return select(
        func.set_config("pepper.request_id", bindparam("request_id", type_=Text), True),
        func.set_config("pepper.actor", bindparam("actor", type_=Text), True),
        lock(STUDIO_LOCK),
    )


_HOLD = {
    False: _holding(func.pg_advisory_xact_lock_shared),
    True: _holding(func.pg_advisory_xact_lock),
}


# Scene changes are recorded, and count as a change of the state, only when a transaction asks
# (migration 0010): the imports and reverts, which change scenes with the rest of the studio.
RECORD_SCENES = select(func.set_config("pepper.record_scenes", "on", True))


def hold_studio(conn: Connection, *, whole_studio: bool = False) -> None:
    """The first statement of every write transaction: what it tells the history triggers
    about the request (migration 0008), and its hold on the studio (shared, or alone for
    `whole_studio`), in one round trip."""
    params = {"request_id": request_id_var.get(), "actor": actor_var.get()}
    conn.execute(_HOLD[whole_studio], params)


def libpq_options(settings: Settings, application_name: str = "pepper") -> dict[str, Any]:
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


def reserved_for_reads(pool_size: int) -> int:
    """Connections that writes never take, so that reads are served while writes wait on row
    locks (up to `lock_timeout`) or on the studio lock of an import."""
    return min(pool_size - 1, max(1, pool_size // 4))


# Worker threads beyond the pool's connections: for the CPU-heavy part of reads (signal flow,
# patch sheets, history pages), which runs after their connection went back to the pool.
EXTRA_THREADS = 4


def thread_limit(pool_size: int) -> int:
    """FastAPI runs every `def` endpoint in a worker thread. Writes hold at most
    `pool_size - reserved_for_reads` of them (they queue for a slot on the event loop, taking
    no thread: `Database.take_write_slot`), so reads always find a thread and a connection."""
    return pool_size + EXTRA_THREADS


class Database:
    """The process's Engine, and the two ways the API uses it."""

    def __init__(self, settings: Settings) -> None:
        # Autocommit, as reads want it (one statement, one snapshot, one round trip): the reads
        # are the most frequent requests by far (a browser app polls), and switching a
        # connection's mode costs each checkout that switches it.
        self.engine: Engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_timeout=settings.db_pool_timeout,
            connect_args=libpq_options(settings),
            isolation_level="AUTOCOMMIT",
        )
        # The same pool; its connections run transactions while a write has them.
        self.writer = self.engine.execution_options(isolation_level="READ COMMITTED")
        self.write_slots = settings.db_pool_size - reserved_for_reads(settings.db_pool_size)
        self._slots = asyncio.Semaphore(self.write_slots)
        self._slot_timeout = settings.db_pool_timeout

    def close(self) -> None:
        self.engine.dispose()

    def connection(self) -> AbstractContextManager[Connection]:
        """A connection for reads (autocommit: each statement its own snapshot), back in the
        pool when its `with` block ends."""
        return self.engine.connect()

    @contextmanager
    def transaction(self, *, whole_studio: bool = False) -> Iterator[Connection]:
        """A transaction that carries the request's id and actor and holds the studio lock:
        shared, or alone for `whole_studio` (the imports); committed when the block ends,
        rolled back if it raises. Its wait is bounded by `lock_timeout` like any other."""
        with self.writer.begin() as conn:
            hold_studio(conn, whole_studio=whole_studio)
            yield conn

    async def take_write_slot(self) -> bool:
        """Taken by each write request, on the event loop, before it takes a worker thread
        (give it back with `give_back_write_slot`); False when none frees up within
        DB_POOL_TIMEOUT."""
        try:
            async with asyncio.timeout(self._slot_timeout):
                await self._slots.acquire()
        except TimeoutError:
            return False
        return True

    def give_back_write_slot(self) -> None:
        self._slots.release()
