"""Build and run the demo: a sandbox, the real bot polling it, the chat page, hot reload."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.app import Everystage, build_application, serving
from bot.logs import setup_logging
from bot.sandbox import Sandbox
from bot.services import services_of
from bot.settings import Settings, load_settings

from . import people
from .config_watch import ConfigWatch
from .routes import COORDINATORS_TITLE, add_demo_routes

log = logging.getLogger(__name__)

DEMO_TOKEN = "7000000001:demo-token-not-secret-abcdefgh"
DEMO_TEAM_CHAT = -1000000000042  # the coordinators' chat when the config names none
DEFAULT_PORT = 8080
POLL_TIMEOUT = 10


def default_config() -> Path:
    """config.example.toml: next to the source tree, else in the current folder."""
    beside_source = Path(__file__).resolve().parents[2] / "config.example.toml"
    return beside_source if beside_source.is_file() else Path("config.example.toml")


@dataclass
class Demo:
    """Everything one demo process runs."""

    sandbox: Sandbox
    app: Everystage
    watch: ConfigWatch
    url: str

    @property
    def settings(self) -> Settings:
        """The settings the bot is running with right now."""
        return services_of(self.app).settings


def demo_settings(settings: Settings, sandbox_url: str, db: Path, files: Path) -> Settings:
    """The project's settings pointed at the sandbox, a fake token and the demo's database."""
    telegram = settings.telegram.model_copy(
        update={
            "token": SecretStr(DEMO_TOKEN),
            "api_base_url": sandbox_url,
            "rate_limit": False,
            "poll_timeout": POLL_TIMEOUT,
        }
    )
    storage = settings.storage.model_copy(update={"path": db, "files_dir": files})
    coordinators = settings.coordinators
    if coordinators.chat_id is None:
        # So the coordinators' view shows alerts and digests even for a project without one.
        coordinators = coordinators.model_copy(update={"chat_id": DEMO_TEAM_CHAT})
    return settings.model_copy(
        update={"telegram": telegram, "storage": storage, "coordinators": coordinators}
    )


@contextlib.asynccontextmanager
async def demo_running(
    config: Path | None = None,
    port: int = DEFAULT_PORT,
    db: Path | None = None,
    host: str = "127.0.0.1",
    watch_interval: float = 1.0,
) -> AsyncIterator[Demo]:
    """Start the sandbox, the page and the bot; stop all of it when the block ends.

    Raises ConfigError (before anything starts) if the config is invalid.
    """
    config = config or default_config()
    loaded = await asyncio.to_thread(load_settings, config)
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="everystage-demo-"))
    database = db or workdir / "everystage.db"
    files = database.parent / "files" if db else workdir / "files"
    sandbox = Sandbox(token=DEMO_TOKEN, files_dir=workdir / "sandbox-files")
    holder: dict[str, Everystage] = {}

    def adapt(fresh: Settings) -> Settings:
        adapted = demo_settings(fresh, sandbox.url, database, files)
        team = adapted.coordinators.chat_id
        if team is not None:  # the bot posts alerts and digests there from the start
            sandbox.world.ensure_group(team, COORDINATORS_TITLE)
        return adapted

    def apply(fresh: Settings) -> None:
        services = services_of(holder["app"])
        services.use(fresh, services.texts_for(fresh))  # FileNotFoundError: keep the old ones

    watch = ConfigWatch(config, adapt, apply)
    add_demo_routes(sandbox.app, sandbox, lambda: holder["app"], watch)
    try:
        url = await sandbox.start(host, port)
        app = holder["app"] = build_application(adapt(loaded))
        await watch.prime(loaded)
        async with serving(app, poll_timeout=POLL_TIMEOUT):
            await people.restore(sandbox, services_of(app))
            watcher = asyncio.create_task(watch.watch(watch_interval))
            try:
                yield Demo(sandbox, app, watch, url)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    finally:
        await sandbox.stop()
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def run_demo(config: Path | None, port: int = DEFAULT_PORT, db: Path | None = None) -> None:
    """Run until Ctrl-C or SIGTERM, printing where the page is."""
    setup_logging("INFO", DEMO_TOKEN)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with demo_running(config, port, db) as demo:
            print(f"Everystage demo running: open {demo.url}/ in a browser (Ctrl-C stops it).")
            print(f"Config: {demo.watch.path} (edits are reloaded automatically)")
            print(f"Database: {demo.settings.storage.path}", flush=True)
            await stop.wait()
            print("Stopping…", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
