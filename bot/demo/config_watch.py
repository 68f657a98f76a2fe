"""Hot reload: watch the config (and prompt) files' mtimes; swap the bot's settings if valid."""

from __future__ import annotations

import asyncio
import glob
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
    mtime: tuple[tuple[str, int, int], ...] | None = None
    generation: int = 0
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

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        """Name, mtime and size of the config file and of its included prompt files."""
        files = [self.path]
        for pattern in self.includes:
            files += sorted(Path(p) for p in glob.glob(str(self.path.parent / pattern)))
        stamps = []
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                stamps.append((str(file), -1, -1))
                continue
            stamps.append((str(file), stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)

    async def _mtime(self) -> tuple[tuple[str, int, int], ...]:
        return await asyncio.to_thread(self._stamp)

    async def prime(self, settings: Settings) -> None:
        """Remember the files' mtimes without reloading (the bot just loaded them)."""
        self.includes = list(settings.prompts.include)
        self.mtime = await self._mtime()

    async def check(self, force: bool = False) -> bool:
        """Reload if the files changed (or ``force``); return whether anything was attempted."""
        async with self._lock:
            mtime = await self._mtime()
            if not force and mtime == self.mtime:
                return False
            self.mtime = mtime
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
            self.mtime = await self._mtime()
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
