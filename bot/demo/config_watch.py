"""Hot reload: watch the config file's mtime and swap the bot's settings when it is valid."""

from __future__ import annotations

import asyncio
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
    mtime: float | None = None
    generation: int = 0
    errors: list[str] = field(default_factory=list)
    checked_at: float = 0.0
    reloaded_at: float | None = None

    def state(self) -> dict[str, Any]:
        """What the page shows: ok, FILE:LINE errors, and how many reloads happened."""
        return {
            "path": str(self.path),
            "ok": not self.errors,
            "errors": list(self.errors),
            "generation": self.generation,
            "reloaded_at": self.reloaded_at,
        }

    async def _mtime(self) -> float | None:
        try:
            stat = await asyncio.to_thread(self.path.stat)
        except OSError:
            return None
        return stat.st_mtime_ns / 1e9

    async def prime(self) -> None:
        """Remember the current mtime without reloading (the bot just loaded this file)."""
        self.mtime = await self._mtime()

    async def check(self, force: bool = False) -> bool:
        """Reload if the file changed (or ``force``); return whether anything was attempted."""
        mtime = await self._mtime()
        self.checked_at = time.time()
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
        self.apply(self.adapt(loaded))
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
