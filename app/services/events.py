"""Live state revisions for the event streams, one database listener per API process.

Every committed change bumps `state_revision` and NOTIFYs `pepper_state` in the same
transaction (migration 0003), so a rolled-back change announces nothing. One LISTEN connection
per process feeds every open stream of that process; it reconnects with backoff when the
database goes away, and re-reads the revision when it is back, so nothing is missed for good.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import psycopg

logger = logging.getLogger("pepper.events")

CHANNEL = "pepper_state"
MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0


class StateBroadcaster:
    def __init__(self, conninfo: str, *, max_clients: int) -> None:
        self.conninfo = conninfo
        self.max_clients = max_clients
        self.clients = 0
        self.revision: int | None = None
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

    def try_join(self) -> bool:
        if self.clients >= self.max_clients or self.closing.is_set():
            return False
        self.clients += 1
        return True

    def leave(self) -> None:
        self.clients -= 1

    async def wait_for_change(self, seen: int | None, timeout: float) -> bool:
        """Wait until the revision differs from `seen` (True) or `timeout` passes (False)."""
        changed = self._changed
        if self.revision != seen or self.closing.is_set():
            return True
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return False
        return True

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
            except (psycopg.Error, OSError) as exc:
                logger.warning(
                    "state listener lost the database (%s); retrying in %.1fs", exc, self._backoff
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            # Listening first, then reading, so no commit falls between the two.
            cursor = await conn.execute("SELECT revision FROM state_revision")
            row = await cursor.fetchone()
            if row is not None:
                self._publish(int(row[0]))
            self._backoff = MIN_BACKOFF_SECONDS
            logger.info("state listener connected at revision %s", self.revision)
            async for notification in conn.notifies():
                revision = int(notification.payload)
                # Notifications queued before the read above may be older than what it saw.
                if self.revision is None or revision > self.revision:
                    self._publish(revision)


def close_streams_on_shutdown_signal(broadcaster: StateBroadcaster) -> None:
    """End the open streams as soon as SIGTERM/SIGINT arrives.

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
            loop.call_soon_threadsafe(broadcaster.close_streams)
            previous(signum, frame)

        try:
            signal.signal(signum, handler)
        except ValueError:  # not the main thread (e.g. under a test client): nothing to chain
            return
