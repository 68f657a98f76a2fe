"""The demo page and its JSON endpoints under /demo/, added to the sandbox's aiohttp app.

The page talks to the sandbox's own control API (/sandbox/) for chatting; these endpoints
add what only the demo knows: participants with their database state, presets, the config
reload status and the coordinators' view.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import Everystage
from bot.language import native_name
from bot.sandbox import Sandbox
from bot.sandbox.errors import ControlError
from bot.services import services_of
from bot.settings import Settings

from . import people
from .config_watch import ConfigWatch

STATIC_DIR = Path(__file__).parent / "static"
COORDINATORS_TITLE = "Coordinators"

Handler = Callable[[web.Request], Awaitable[Any]]


def add_demo_routes(
    app: web.Application,
    sandbox: Sandbox,
    bot: Callable[[], Everystage],
    watch: ConfigWatch,
) -> None:
    """Register the page (/), its static files and the /demo/ endpoints."""
    api = _DemoApi(sandbox, bot, watch)
    app.router.add_get("/", _index)
    app.router.add_static("/demo/static/", STATIC_DIR)
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/demo/state", api.state),
        ("GET", "/demo/participants", api.participants),
        ("POST", "/demo/participants", api.add_participant),
        ("GET", "/demo/config", api.config),
        ("POST", "/demo/config/reload", api.reload),
        ("GET", "/demo/coordinators", api.coordinators),
        ("GET", "/demo/chats/{chat_id}/menu", api.menu),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _json(handler))


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


def _json(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        try:
            return web.json_response(await handler(request))
        except ControlError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        except people.PresetError as exc:
            return web.json_response({"error": str(exc)}, status=504)

    return route


class _DemoApi:
    def __init__(self, sandbox: Sandbox, bot: Callable[[], Everystage], watch: ConfigWatch) -> None:
        self.sandbox = sandbox
        self.bot = bot
        self.watch = watch

    @property
    def settings(self) -> Settings:
        return services_of(self.bot()).settings

    async def state(self, request: web.Request) -> dict[str, Any]:
        settings = self.settings
        project = settings.project
        return {
            "project": {
                "name": project.name,
                "stage": project.stage,
                "stages": project.stages,
                # What a new person's phone may be set to: the languages people may choose.
                "languages": [
                    {"code": code, "name": native_name(code)} for code in project.offered
                ],
            },
            "checkins": [
                {"id": c.id, "title": c.title, "stages": c.stages} for c in settings.checkins
            ],
            "config": self.watch.state(),
            "coordinators": await self.coordinators(request),
        }

    async def participants(self, request: web.Request) -> list[dict[str, Any]]:
        return await people.describe(self.sandbox, services_of(self.bot()))

    async def add_participant(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                raise ControlError("request body must be JSON") from None
        if not isinstance(body, dict):
            raise ControlError("request body must be a JSON object")
        settings = self.settings
        checkin_id, stage = body.get("checkin") or None, body.get("stage") or None
        if checkin_id is not None and settings.checkin(str(checkin_id)) is None:
            raise ControlError(f"no check-in called {checkin_id!r} in the config")
        if stage is not None:
            if stage not in settings.project.stages:
                raise ControlError(f"no stage called {stage!r} in the config")
            for_stage = settings.checkin_for_stage(str(stage))
            if for_stage is None:
                raise ControlError(f"no check-in belongs to stage {stage!r}")
            checkin_id = checkin_id or for_stage.id
        name = body.get("first_name")
        language = body.get("language_code") or None
        if language is not None and language not in settings.project.offered:
            raise ControlError(f"the project does not offer the language {language!r}")
        user = people.create(self.sandbox, str(name) if name else None, language)
        if checkin_id is not None:
            default = settings.checkin_for_stage(settings.project.stage)
            await people.start_at(
                self.sandbox, user["id"], str(checkin_id), default.id if default else None
            )
        return user

    async def config(self, request: web.Request) -> dict[str, Any]:
        return self.watch.state()

    async def reload(self, request: web.Request) -> dict[str, Any]:
        # "Run what is on disk now": if the watcher has just loaded this version, that's done.
        await self.watch.check()
        return self.watch.state()

    async def coordinators(self, request: web.Request) -> dict[str, Any]:
        # The demo always has a coordinators' chat and a coordinator listed (demo_settings),
        # and creates both in the sandbox when it loads settings.
        return {
            "configured": True,
            "chat_id": self.settings.coordinators.chat_id,
            "note": "",
            "coordinator": {"id": people.DEMO_COORDINATOR_ID, "name": people.DEMO_COORDINATOR_NAME},
        }

    async def menu(self, request: web.Request) -> list[dict[str, Any]]:
        """The command menu Telegram would show in that chat (what the bot published)."""
        try:
            chat_id = int(request.match_info["chat_id"])
        except ValueError:
            raise ControlError("chat_id must be an integer") from None
        return self.sandbox.world.menu(chat_id)
