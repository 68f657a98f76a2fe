"""Voice notes made into words by worker processes, never on the event loop.

The queue is the database's ``transcriptions`` table (storage/transcripts.py): a voice note is
queued with its answer, so nothing waits only in memory and a restart loses nothing. Each of
``[voice] workers`` loops claims the oldest note, hands it to a process of its own (the engine
is CPU-bound and holds the GIL, so a thread would slow every reply) and gives the words to
``on_words``. Only one note per worker is ever in memory.

A worker process that dies (out of memory, killed) is replaced and the note is tried again,
three times in all; a note that cannot be made into words waits for a coordinator (/listen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path

from bot.settings import VoiceSettings
from bot.voice.decode import VoiceError, decode
from bot.voice.engines import Engine, make_engine
from storage import transcripts
from storage.db import Database
from storage.transcripts import Job

log = logging.getLogger(__name__)

# Other workers' notes (PostgreSQL), and notes queued before a restart, are found this often;
# a note this process stored wakes a worker at once (:meth:`Transcriber.wake`).
POLL_SECONDS = 5.0

OnWords = Callable[[Job, str], Awaitable[None]]

_engine: Engine | None = None  # in a worker process: its loaded model


# Worker processes run at a lower CPU priority: on a small server the words can wait a moment,
# a person pressing a button should not (bench/voice_backlog.py measures it).
NICE = 10


def _load(engine: str, model_path: str | None, nice: int) -> None:
    global _engine
    _orphan_watch(os.getppid())
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    _engine = make_engine(engine, Path(model_path) if model_path else None)


def _orphan_watch(parent: int) -> None:
    """In a worker process: exit when the bot is gone. A bot killed outright (SIGKILL) never
    shuts its pool down, and a worker waiting for work would otherwise wait for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="everystage:orphan-watch", daemon=True).start()


def _transcribe(path: str) -> str:
    """In a worker process: the words spoken in the audio file at ``path`` ("" for none)."""
    assert _engine is not None
    return _engine.transcribe(decode(Path(path).read_bytes())).text


class Transcriber:
    """The workers that make queued voice notes into words."""

    def __init__(
        self,
        settings: VoiceSettings,
        db: Database,
        files: Path,
        now: Callable[[], datetime],
        on_words: OnWords,
        *,
        default_language: str,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.settings = settings
        self._db = db
        self._files = files
        self._now = now
        self._on_words = on_words
        self._default_language = default_language
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker processes and the loops feeding them."""
        self._pool = self._new_pool()
        self._tasks = [
            asyncio.create_task(self._work(), name=f"everystage:transcriber-{n}")
            for n in range(self.settings.workers)
        ]

    async def stop(self) -> None:
        """Stop taking notes; notes being transcribed are given back to the queue."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def wake(self) -> None:
        """A voice note was just queued: look now rather than at the next poll."""
        self._wake.set()

    def _new_pool(self) -> ProcessPoolExecutor:
        model = self.settings.model_path
        # spawn, not fork: forking a process with an event loop and threads is unsafe.
        return ProcessPoolExecutor(
            max_workers=self.settings.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=(self.settings.engine, str(model) if model else None, NICE),
        )

    async def _work(self) -> None:
        while True:
            try:
                job = await transcripts.claim(self._db, self._now())
            except Exception as exc:  # the database is away: try again later
                log.warning("voice: could not read the queue: %s", type(exc).__name__)
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                continue
            try:
                await self._one(job)
            except asyncio.CancelledError:  # stopping: the note goes back to the queue
                with contextlib.suppress(Exception):
                    await transcripts.release(self._db, job.answer_id)
                raise
            except Exception as exc:  # one note's trouble never stops the others
                log.error("voice: note %d: %s", job.answer_id, type(exc).__name__, exc_info=exc)
                with contextlib.suppress(Exception):
                    await self._failed(job)

    async def _one(self, job: Job) -> None:
        languages = self.settings.languages
        if languages is not None and (job.language or self._default_language) not in languages:
            await self._on_words(job, "")  # the engine does not know their language
            return
        loop = asyncio.get_running_loop()
        path = str(self._files / job.file_path)
        try:
            assert self._pool is not None
            words = await loop.run_in_executor(self._pool, _transcribe, path)
        except (VoiceError, OSError) as exc:
            log.warning("voice: note %d could not be transcribed: %s", job.answer_id, exc)
            await self._failed(job)
            return
        except BrokenProcessPool:
            log.error("voice: a transcription worker died (out of memory?); starting another")
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            await self._failed(job)
            return
        await self._on_words(job, words)

    async def _failed(self, job: Job) -> None:
        if await transcripts.failed(self._db, job.answer_id, self._now()):
            log.warning("voice: note %d left for a coordinator to listen to", job.answer_id)
