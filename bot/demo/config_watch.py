"""Hot reload: watch the config (and prompt) files' contents; swap the bot's settings if valid."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import ConfigError, Settings, load_settings

log = logging.getLogger(__name__)


@dataclass
class ConfigWatch:
    """The config file, the last reload outcome, and a ``check()`` that reloads on change.

    ``adapt`` turns freshly loaded settings into what the demo runs with (sandbox URL, token,
    database); ``apply`` installs them in the running bot.
    """

    path: Path
    adapt: Callable[[Settings], Settings]
    apply: Callable[[Settings], None]
    includes: list[str] = field(default_factory=list)
    # What the files held at the last attempt: a digest of each, so one edit is one reload
    # whatever the file system's mtime resolution, and saving unchanged bytes is no reload.
    stamp: tuple[tuple[str, str | None], ...] | None = None
    generation: int = 0
    settle: float = 0.05
    errors: list[str] = field(default_factory=list)
    reloaded_at: float | None = None
    # The watcher and the page's Reload button may look at the same moment: one at a time,
    # so one edit is one reload (one generation), never two.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def state(self) -> dict[str, Any]:
        """What the page shows: ok, FILE:LINE errors, and how many reloads happened."""
        return {
            "path": str(self.path),
            "ok": not self.errors,
            "errors": list(self.errors),
            "generation": self.generation,
            "reloaded_at": self.reloaded_at,
        }

    def _stamp(self) -> tuple[tuple[str, str | None], ...]:
        """Name and content digest of the config file and of its included prompt files."""
        files = [self.path]
        for pattern in self.includes:
            files += sorted(Path(p) for p in glob.glob(str(self.path.parent / pattern)))
        stamps: list[tuple[str, str | None]] = []
        for file in files:
            try:
                digest: str | None = hashlib.blake2b(file.read_bytes(), digest_size=16).hexdigest()
            except OSError:
                digest = None
            stamps.append((str(file), digest))
        return tuple(stamps)

    async def _read_stamp(self) -> tuple[tuple[str, str | None], ...]:
        return await asyncio.to_thread(self._stamp)

    async def prime(self, settings: Settings) -> None:
        """Remember what the files hold without reloading (the bot just loaded them)."""
        self.includes = list(settings.prompts.include)
        self.stamp = await self._read_stamp()

    async def check(self, force: bool = False) -> bool:
        """Reload if the files changed; return whether anything was attempted.

        ``force`` (the page's Reload button) also retries when the files are unchanged but the
        last attempt failed (a locale file added since, say). Unchanged files that loaded fine
        are not loaded again: the watcher may have just done it.
        """
        async with self._lock:
            stamp = await self._read_stamp()
            if stamp == self.stamp and not (force and self.errors):
                return False
            # An editor may be halfway through saving (truncate, then write in chunks): wait
            # until the files hold still, or a half-written file could load as a valid one.
            for _ in range(20):
                await asyncio.sleep(self.settle)
                again = await self._read_stamp()
                if again == stamp:
                    break
                stamp = again
            self.stamp = stamp
            await self.reload()
            return True

    async def reload(self) -> None:
        """Validate the file; on success swap settings, on failure keep the old ones."""
        try:
            loaded = await asyncio.to_thread(load_settings, self.path)
        except ConfigError as exc:
            self.errors = [str(problem) for problem in exc.problems]
            log.warning("config not reloaded, keeping the previous prompts:\n%s", exc)
            return
        try:
            self.apply(self.adapt(loaded))
        except (OSError, ValueError) as exc:  # e.g. a locale with no bot/locales file
            self.errors = [f"{self.path}: {exc}"]
            log.warning("config not reloaded, keeping the previous prompts: %s", exc)
            return
        if loaded.prompts.include != self.includes:
            self.includes = list(loaded.prompts.include)
            self.stamp = await self._read_stamp()
        self.errors = []
        self.generation += 1
        self.reloaded_at = time.time()
        log.info("config reloaded from %s", self.path)

    async def watch(self, interval: float = 1.0) -> None:
        """Poll forever (until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception:  # a broken reload must not stop the watcher
                log.exception("config reload failed")
