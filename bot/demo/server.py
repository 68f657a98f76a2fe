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
from bot.commands import register_commands
from bot.logs import setup_logging
from bot.sandbox import Sandbox
from bot.services import services_of
from bot.settings import Settings, load_settings

from . import people
from .config_watch import ConfigWatch
from .people import DEMO_COORDINATOR_ID, DEMO_COORDINATOR_NAME
from .routes import COORDINATORS_TITLE, add_demo_routes

log = logging.getLogger(__name__)

DEMO_TOKEN = "7000000001:demo-token-not-secret-abcdefgh"
DEMO_TEAM_CHAT = -1000000000042  # the coordinators' chat (the "Coordinators' view")
DEFAULT_PORT = 8080
POLL_TIMEOUT = 10


def default_config() -> Path:
    """The example config shipped in the package (from any folder, installed or not).

    In a source checkout ``bot/demo/config.example.toml`` is a symlink to the top-level
    config.example.toml, resolved here so the demo names (and watches) that file; an installed
    wheel holds a copy of it.
    """
    from importlib.resources import files  # here: the only user in this module

    return Path(str(files(__package__ or "bot.demo").joinpath("config.example.toml"))).resolve()


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
    # The coordinators' view is the coordinators' chat, and the demo coordinator is listed, so
    # coordinators' commands work there whatever the config says (the file is not changed).
    listed = settings.coordinators.user_ids
    coordinators = settings.coordinators.model_copy(
        update={
            "chat_id": DEMO_TEAM_CHAT,
            "user_ids": [*listed, DEMO_COORDINATOR_ID]
            if DEMO_COORDINATOR_ID not in listed
            else list(listed),
        }
    )
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
        # The bot posts alerts and digests there from the start; the demo coordinator has
        # started the bot, so their private chat can have the coordinators' command menu.
        sandbox.world.ensure_group(DEMO_TEAM_CHAT, COORDINATORS_TITLE)
        coordinator = sandbox.world.ensure_user(DEMO_COORDINATOR_ID, DEMO_COORDINATOR_NAME)
        coordinator.started = True
        return adapted

    def apply(fresh: Settings) -> None:
        app = holder["app"]
        services = services_of(app)
        services.use(fresh, services.texts_for(fresh))  # FileNotFoundError: keep the old ones
        app.create_task(register_commands(app))  # the coordinators listed may have changed

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
