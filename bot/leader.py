"""This process among several workers sharing one PostgreSQL database: who leads, who is alive.

Several ``everystage run --webhook`` processes behind a load balancer may share one database.
Each is a :class:`Worker`:

* It registers in the database and renews every ``HEARTBEAT_SECONDS`` (storage/leases.py). A
  worker that is killed is gone as soon as the server sees its connection close; one cut off
  from the network, 30 seconds after its last renewal.
* It handles a chat's updates only while it holds the chat's turn (bot/processor.py): any
  worker may receive a person's next message, and whoever holds the turn handles all that
  chat's pending updates in update_id order, from their stored payloads if another worker
  received them.
* Every ``SWEEP_SECONDS`` it looks for what nobody alive looks after: chats held by a worker
  that is gone, or with pending updates and nobody holding them (it takes their turn and
  handles them), and sends a gone worker left in flight (each settled as an unknown outcome:
  sent once more, never again; bot/outreach.py).
* One worker at a time *leads*: it holds a session advisory lock on a PostgreSQL connection
  of its own, kept for the process's life. The others try again every
  ``LEADER_RETRY_SECONDS``; when the leader dies its connection closes, the lock is free, and
  the next worker to try leads (and catches up on a digest that fell due meanwhile).

Which jobs run where, and why. On the leader only: planning nudges and expiring them (one pass
over everyone; a second worker's pass would find nothing new), re-sending questions that did not
arrive (every worker would find the same ones), retention, and the weekly digest (claimed per
week anyway; only one worker need compute it). On every worker: sending what is due (claims,
``FOR UPDATE SKIP LOCKED`` and the one-attempt-in-flight index, make each message go once; the
work spreads across workers and a worker dying mid-broadcast leaves the rest to the others at
once, without waiting for a new leader) and the sweep (each of its steps is a claim).

On SQLite there is one process: no Worker, and that process always leads (:func:`is_leader`).
Logs say "leader" or "follower" and never anything about people.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from storage import leases
from storage.db import Database

log = logging.getLogger(__name__)

WORKER_KEY = "everystage.worker"
ALONE_KEY = "everystage.alone"  # long polling on PostgreSQL: the connection holding the project
SERVED_ALREADY = (
    "another Everystage process is serving this project's database (webhook workers, or"
    " `everystage run` without --webhook): long polling needs to be the only one. Stop it,"
    " or run every process with --webhook"
)
WEBHOOK_REFUSED = (
    "an `everystage run` without --webhook (long polling) is serving this project's database:"
    " stop it before starting webhook workers"
)
SWEEP_SECONDS = 2.0
HEARTBEAT_SECONDS = 5.0
LEADER_RETRY_SECONDS = 3.0
FORGET_GONE_SECONDS = 3600.0

Callback = Callable[[], Awaitable[Any]]


class Worker:
    """This process as one of the workers sharing a PostgreSQL database."""

    def __init__(self, app: Any, db: Database) -> None:
        self.app = app
        self.db = db
        # Host and process: enough to tell workers apart in the database; nothing personal.
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.started = datetime.now(UTC)
        self.leader = False
        self.takeovers = 0  # chats taken over from gone workers (tests, logs)
        self._session: leases.Session | None = None
        self._task: asyncio.Task[None] | None = None
        self._elected: list[Callback] = []
        self._sweeps: list[Callback] = []
        self._after_takeover: list[Callback] = []
        self._took_over = False
        self._loose_before: set[int] = set()
        self._mine_before: set[int] = set()
        self._trouble: str | None = None  # the error of the current spell, logged once
        self._next_beat = 0.0
        self._next_try = 0.0
        self._next_forget = 0.0

    # -- wiring ---------------------------------------------------------------------------------

    def on_elected(self, callback: Callback) -> None:
        """Run ``callback`` when this worker comes to lead after start-up (a failover)."""
        self._elected.append(callback)

    def every_sweep(self, callback: Callback) -> None:
        """Run ``callback`` on every sweep."""
        self._sweeps.append(callback)

    def after_takeover(self, callback: Callback) -> None:
        """Run ``callback`` on the sweep after this worker took a chat over from a gone one."""
        self._after_takeover.append(callback)

    def took_over(self) -> None:
        """A chat's turn was taken from a worker that is gone (bot/inbox.py says so)."""
        self.takeovers += 1
        self._took_over = True

    # -- life -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register, try to lead, and start the sweeps (the first once the bot is running)."""
        self._session = await leases.Session.open(self.db)
        if not await self._session.try_serve(alone=False):
            await self._close_session()
            raise _startup_error(WEBHOOK_REFUSED)
        await leases.beat(self.db, self.id, self.started, self._session.pid)
        self._next_beat = time.monotonic() + HEARTBEAT_SECONDS
        self.leader = await self._session.try_lead()
        self._next_try = time.monotonic() + LEADER_RETRY_SECONDS
        if self.leader:
            log.info("this worker is the leader: it plans nudges and sends the weekly digest")
        else:
            log.info(
                "this worker is a follower: another worker leads; trying again every %g s",
                LEADER_RETRY_SECONDS,
            )
        self._task = asyncio.create_task(self._run(), name="everystage:worker")

    async def stop(self) -> None:
        """Stop sweeping, leave the database (what this worker still held is taken over at
        once) and close its connection (another worker may lead)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await leases.leave(self.db, self.id)
        except Exception as exc:  # the database going away at shutdown must not crash here
            log.warning("could not leave the list of workers: %s", type(exc).__name__)
        await self._close_session()
        if self.leader:
            log.info("the leader stopped; another worker may lead now")
        self.leader = False

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.close()
            except Exception as exc:
                log.debug("closing the worker's connection: %s", type(exc).__name__)

    async def _run(self) -> None:
        while not getattr(self.app, "running", True):  # noqa: ASYNC110 (PTB has no event)
            await asyncio.sleep(0.02)
        startup = True
        while True:
            try:
                await self.step(startup=startup)
                startup = False
                if self._trouble is not None:
                    log.info("worker: the database answers again")
                    self._trouble = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._trouble != type(exc).__name__:
                    log.warning("worker: a sweep failed (%s); trying again", type(exc).__name__)
                    self._trouble = type(exc).__name__
            await asyncio.sleep(SWEEP_SECONDS)

    async def step(self, *, startup: bool = False) -> None:
        """One round: keep the connection and the lead, renew, then sweep."""
        now = time.monotonic()
        await self._keep_lead(now)
        if now >= self._next_beat:
            await leases.beat(
                self.db, self.id, self.started, self._session.pid if self._session else None
            )
            self._next_beat = now + HEARTBEAT_SECONDS
        if self.leader and now >= self._next_forget:
            await leases.forget_gone(self.db)
            self._next_forget = now + FORGET_GONE_SECONDS
        await self.sweep(startup=startup)

    async def _keep_lead(self, now: float) -> None:
        if self._session is None:
            self._session = await leases.Session.open(self.db)
            if not await self._session.try_serve(alone=False):
                # Our connection was away long enough for a long-polling process to start:
                # both now receive updates. Say so; the poller cannot tell.
                log.error(WEBHOOK_REFUSED.replace("stop it before starting", "stop it, or stop"))
            self._next_beat = 0.0  # its new session's pid is recorded now
            self._next_try = 0.0
        if self.leader:
            try:
                await self._session.check()
            except Exception as exc:
                log.error(
                    "this worker lost the lead (its database connection closed: %s);"
                    " it follows now",
                    type(exc).__name__,
                )
                self.leader = False
                await self._close_session()
            return
        if now < self._next_try:
            return
        self._next_try = now + LEADER_RETRY_SECONDS
        try:
            elected = await self._session.try_lead()
        except Exception:
            await self._close_session()
            raise
        if elected:
            self.leader = True
            log.info("this worker is now the leader (the previous leader stopped)")
            for callback in self._elected:
                self.app.create_task(callback(), name="everystage:elected")

    async def sweep(self, *, startup: bool = False) -> None:
        """Take over the chats nobody alive looks after, then run the sweep callbacks.

        A chat with pending updates and no holder is taken only if it was so on the previous
        sweep too (or at start-up): its worker is most likely taking its turn right now.
        Nothing is done while the bot is not running (starting, or stopping).
        """
        if not getattr(self.app, "running", True):
            return  # stopping: what is left is for the other workers, or the next start
        found = await leases.orphans(self.db, self.id)
        processor = self.app.update_processor
        loose = {chat for chat in found.loose if not processor.busy(chat)}
        chats = set(found.gone) | (loose if startup else loose & self._loose_before)
        # Ours but not in hand on two sweeps running: giving the turn back failed (the
        # database was away for a moment).
        mine = {chat for chat in found.mine if not processor.busy(chat)}
        stale = mine & self._mine_before
        self._loose_before, self._mine_before = loose, mine
        for chat in sorted(chats | stale):
            processor.drain_soon(chat)
        if chats:
            log.info("worker: looking after %d chat(s) no live worker held", len(chats))
        for callback in self._sweeps:
            await callback()
        if self._took_over:
            self._took_over = False
            for callback in self._after_takeover:
                await callback()


def _startup_error(message: str) -> Exception:
    from bot.polling import StartupError  # bot.polling needs bot.inbox, which needs this module

    return StartupError(message)


def worker_of(app: Any) -> Worker | None:
    """This process's Worker, or None (SQLite, or not serving)."""
    found = app.bot_data.get(WORKER_KEY)
    return found if isinstance(found, Worker) else None


def worker_id(app: Any) -> str | None:
    """This worker's id as send attempts record it (None: the only process)."""
    worker = worker_of(app)
    return worker.id if worker is not None else None


def is_leader(app: Any) -> bool:
    """Whether this process runs the once-per-project jobs: the leader, or the only process."""
    worker = worker_of(app)
    return worker is None or worker.leader


async def start(app: Any, db: Database, *, webhook: bool) -> Worker | None:
    """In post_init, on PostgreSQL: with a webhook, become one of the workers; with long
    polling, hold the project alone (no Worker: like SQLite's one process, it handles every
    update and runs every job). Raises StartupError if the other mode serves the project.
    On SQLite: nothing."""
    if db.dialect != "postgresql":
        return None
    if not webhook:
        session = await leases.Session.open(db)
        try:
            alone = await session.try_serve(alone=True)
        except BaseException:
            await session.close()
            raise
        if not alone:
            await session.close()
            raise _startup_error(SERVED_ALREADY)
        app.bot_data[ALONE_KEY] = session
        return None
    worker = Worker(app, db)
    await worker.start()
    app.bot_data[WORKER_KEY] = worker
    return worker


async def stop(app: Any) -> None:
    """Leave (in post_shutdown, before the database closes)."""
    worker = app.bot_data.pop(WORKER_KEY, None)
    if isinstance(worker, Worker):
        await worker.stop()
    session = app.bot_data.pop(ALONE_KEY, None)
    if isinstance(session, leases.Session):
        try:
            await session.close()
        except Exception as exc:
            log.debug("closing the serving connection: %s", type(exc).__name__)
