"""Live state revisions for the event streams, one database listener per API process.

Every committed change bumps `state_revision` and NOTIFYs `pepper_state` in the same
transaction (migration 0003), so a rolled-back change announces nothing. One LISTEN connection
per process feeds every open stream of that process. A notification only says "look again":
the revision is read from `state_revision` after each burst of them, so a stray NOTIFY (any
database user can send one, with any payload) costs a query and nothing more. The listener
reconnects with backoff whenever anything goes wrong, logging why, and re-reads the revision
when it is back, so nothing is missed for good.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

import psycopg

from app.core.config import Settings
from app.db.session import libpq_options
from app.db.shapes import REVISION

logger = logging.getLogger("pepper.events")

CHANNEL = "pepper_state"
MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
# With no notification for this long the listener reads the revision anyway: a connection that
# died without a word is noticed, and a missed notification is caught up.
HEARTBEAT_SECONDS = 30.0
# After a notification the listener lets the next ones of this long come along, and reads the
# revision once for them all: under a stream of writes (an import, eight clients re-linking)
# a read per commit cost the process more than the writes' own answers.
GATHER_SECONDS = 0.005


class StateListener:
    def __init__(self, settings: Settings) -> None:
        self.conninfo = settings.libpq_url
        self.connect_options = {
            "autocommit": True,
            **libpq_options(settings, "pepper-listener"),
        }
        self.max_clients = settings.sse_max_clients
        self.clients = 0
        self.revision: int | None = None
        # monotonic time since when the listener has had no connection (None: connected)
        self.down_since: float | None = time.monotonic()
        self.closing = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backoff = MIN_BACKOFF_SECONDS

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="pepper-state-listener")

    async def stop(self) -> None:
        self.close_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def close_streams(self) -> None:
        """Ask every open stream to end (on shutdown, so that it does not wait on them)."""
        self.closing.set()
        self._changed.set()

    def down_for(self) -> float:
        """Seconds the listener has been without its connection (0 while connected)."""
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    @contextlib.contextmanager
    def stream_slot(self) -> Iterator[bool]:
        """Take one of the `max_clients` stream slots for the duration; yields False (and takes
        nothing) when they are all taken or the process is shutting down."""
        if self.clients >= self.max_clients or self.closing.is_set():
            yield False
            return
        self.clients += 1
        try:
            yield True
        finally:
            self.clients -= 1

    async def next_revision(self, after: int | None, timeout: float) -> int | None:
        """The current revision once it is known and differs from `after`; None when `timeout`
        passes first or the process is shutting down. Always waits while there is nothing new,
        so a stream never spins."""
        deadline = time.monotonic() + timeout
        while not self.closing.is_set():
            if self.revision is not None and self.revision != after:
                return self.revision
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return None

    def _publish(self, revision: int) -> None:
        if revision == self.revision:
            return
        self.revision = revision
        # Wake everyone waiting on the old event; later waiters get a fresh one.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _listen_forever(self) -> None:
        while not self.closing.is_set():
            try:
                await self._listen()
            except Exception as exc:  # whatever it was, log it and listen again
                logger.warning(
                    "state listener stopped (%s: %s); reconnecting in %.1fs",
                    type(exc).__name__,
                    str(exc).strip(),
                    self._backoff,
                )
            if self.down_since is None:
                self.down_since = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.conninfo, **self.connect_options
        ) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            # Listening first, then reading, so no commit falls between the two.
            await self._read_revision(conn)
            self.down_since = None
            self._backoff = MIN_BACKOFF_SECONDS
            logger.info("state listener connected at revision %s", self.revision)
            while True:
                # Ends after a burst of notifications (or the heartbeat), so that the revision
                # can be read on this connection; later ones wait in psycopg's backlog.
                async for _ in conn.notifies(timeout=HEARTBEAT_SECONDS, stop_after=1):
                    pass
                async for _ in conn.notifies(timeout=GATHER_SECONDS):
                    pass
                await self._read_revision(conn)

    async def _read_revision(self, conn: psycopg.AsyncConnection[tuple[int]]) -> None:
        row = await (await conn.execute(REVISION.text)).fetchone()
        if row is not None:
            self._publish(int(row[0]))
