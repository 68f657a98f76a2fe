"""``everystage demo``: the page's endpoints, hot reload, presets, and a real browser check-in."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.cli import main
from bot.demo import Demo, demo_running
from bot.demo.routes import STATIC_DIR
from bot.demo.server import DEMO_TEAM_CHAT
from bot.settings import load_settings
from tests.conftest import EXAMPLE, ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "demo-chat.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the example project that tests may edit."""
    path = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, path)
    return path


@pytest.fixture
async def demo(config: Path, tmp_path: Path) -> AsyncIterator[Demo]:
    """The whole demo on a free port, with its database in tmp_path."""
    async with demo_running(config, port=0, db=tmp_path / "demo.db", watch_interval=0.1) as d:
        yield d
        assert not d.sandbox.violations, d.sandbox.violations


@pytest.fixture
async def http(demo: Demo) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the demo's server."""
    async with aiohttp.ClientSession(demo.url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> Any:
    """A JSON request; returns (status, data) on errors via an assertion message."""
    async with http.request(method, path, json=body) as response:
        data = await response.json()
        assert response.status == 200, (response.status, data)
        return data


def write(path: Path, text: str) -> None:
    """Save a config file as an editor would."""
    path.write_text(text, encoding="utf-8")


def rows(demo: Demo, sql: str) -> list[tuple[Any, ...]]:
    """Read the demo's database directly."""
    with sqlite3.connect(demo.settings.storage.path) as conn:
        return conn.execute(sql).fetchall()


def bot_texts(demo: Demo, chat_id: int) -> list[str]:
    """What the bot has on screen in a chat, oldest first."""
    messages = demo.sandbox.world.chat(chat_id).messages.values()
    return [m.get("text", "") for m in messages if m["from"]["is_bot"]]


async def test_the_page_is_served_with_no_external_resources(
    demo: Demo, http: aiohttp.ClientSession
) -> None:
    async with http.get("/") as response:
        page = await response.text()
    assert response.status == 200 and 'aria-live="polite"' in page
    for name in ("app.js", "style.css"):
        async with http.get(f"/demo/static/{name}") as response:
            assert response.status == 200
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, path.name
    assert demo.settings.telegram.api_base_url == demo.url  # the bot polls the sandbox
    assert demo.sandbox.requests and {r["method"] for r in demo.sandbox.requests} >= {"getMe"}


async def test_participants_and_preset_state(demo: Demo, http: aiohttp.ClientSession) -> None:
    first = await call(http, "POST", "/demo/participants", {})
    assert first["first_name"] and bot_texts(demo, first["id"]) == []

    reflecting = await call(http, "POST", "/demo/participants", {"checkin": "design-reflection"})
    assert "What would have made that day easier?" in bot_texts(demo, reflecting["id"])[-1]
    weekly = await call(http, "POST", "/demo/participants", {"stage": "delivery"})
    assert "How has your week been?" in bot_texts(demo, weekly["id"])[-1]

    people = {p["id"]: p for p in await call(http, "GET", "/demo/participants")}
    assert people[first["id"]]["consented"] is False
    assert people[reflecting["id"]]["consented"] is True
    assert people[reflecting["id"]]["checkin_in_progress"] == "design-reflection"
    assert people[weekly["id"]]["checkin_in_progress"] == "weekly"
    assert rows(demo, "SELECT count(*) FROM participants") == [(2,)]
    assert sorted(rows(demo, "SELECT checkin_id FROM sessions")) == [
        ("design-reflection",),
        ("weekly",),
    ]

    for bad in ({"checkin": "nope"}, {"stage": "nowhere"}):
        async with http.post("/demo/participants", json=bad) as response:
            assert response.status == 400
            assert "nope" in (await response.json())["error"] or "nowhere" in str(bad)


async def test_coordinators_view_shows_a_team_chat_even_without_one_configured(
    http: aiohttp.ClientSession,
) -> None:
    state = await call(http, "GET", "/demo/state")
    assert state["coordinators"] == {"configured": True, "chat_id": DEMO_TEAM_CHAT, "note": ""}
    assert [c["id"] for c in state["checkins"]] == [c.id for c in load_settings(EXAMPLE).checkins]


async def test_a_kept_database_brings_its_participants_back(config: Path, tmp_path: Path) -> None:
    kept = tmp_path / "kept.db"
    async with (
        demo_running(config, port=0, db=kept) as demo,
        aiohttp.ClientSession(demo.url) as http,
    ):
        first = await call(http, "POST", "/demo/participants", {"checkin": "weekly"})
    async with (
        demo_running(config, port=0, db=kept) as demo,
        aiohttp.ClientSession(demo.url) as http,
    ):
        [again] = await call(http, "GET", "/demo/participants")
        assert again["id"] == first["id"] and again["consented"]
        assert again["checkin_in_progress"] == "weekly"
        second = await call(http, "POST", "/demo/participants", {})
        assert second["id"] != first["id"]


async def test_a_safeguarding_alert_shows_in_the_coordinators_chat(
    demo: Demo, http: aiohttp.ClientSession
) -> None:
    person = await call(http, "POST", "/demo/participants", {"checkin": "weekly"})
    await call(
        http, "POST", f"/sandbox/chats/{person['id']}/messages", {"text": "I want to end it all"}
    )
    for _ in range(100):
        team = await call(http, "GET", f"/sandbox/chats/{DEMO_TEAM_CHAT}/messages")
        if team:
            break
        await asyncio.sleep(0.05)
    assert "Safeguarding alert" in team[-1]["text"] and "end it all" not in team[-1]["text"]
    assert demo.sandbox.world.chat(DEMO_TEAM_CHAT).type == "group"


async def wait_for_generation(http: aiohttp.ClientSession, generation: int) -> dict[str, Any]:
    """Poll /demo/config until the watcher has reloaded that many times (or reported errors)."""
    for _ in range(100):
        status = await call(http, "GET", "/demo/config")
        if status["generation"] >= generation or status["errors"]:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"the watcher never reloaded: {status}")


async def test_editing_the_config_reloads_prompts_and_errors_keep_the_old_ones(
    demo: Demo, http: aiohttp.ClientSession, config: Path
) -> None:
    original = EXAMPLE.read_bytes().decode("utf-8")
    edited = original.replace("How has your week been?", "How was your week, honestly?")
    write(config, edited)
    os.utime(config, ns=(1, 1))  # a different mtime even on coarse file systems
    status = await wait_for_generation(http, 1)
    assert status["ok"] and status["generation"] == 1
    person = await call(http, "POST", "/demo/participants", {"checkin": "weekly"})
    assert "How was your week, honestly?" in bot_texts(demo, person["id"])[-1]

    broken = edited.replace('kind = "yesno"', 'kind = "slider"')
    write(config, broken)
    status = await call(http, "POST", "/demo/config/reload")
    assert not status["ok"] and status["generation"] == 1
    [error] = status["errors"]
    assert re.match(rf"{re.escape(str(config))}:\d+: checkins\[\d+\]\.questions\[\d+\]: ", error)
    assert "unknown question kind 'slider'" in error
    with pytest.raises(Exception, match="slider"):
        load_settings(config)
    state = await call(http, "GET", "/demo/state")
    assert state["config"]["errors"] == status["errors"]

    person = await call(http, "POST", "/demo/participants", {"checkin": "weekly"})
    assert "How was your week, honestly?" in bot_texts(demo, person["id"])[-1]  # kept

    write(config, original.replace('locale = "en"', 'locale = "xx"'))
    status = await call(http, "POST", "/demo/config/reload")
    assert not status["ok"] and "'xx' is not a language Everystage has" in status["errors"][0]

    write(config, original)
    status = await call(http, "POST", "/demo/config/reload")
    assert status["ok"] and status["generation"] == 2 and status["errors"] == []
    assert demo.settings.telegram.api_base_url == demo.url  # still pointed at the sandbox


async def test_included_prompt_files_are_watched_too(tmp_path: Path) -> None:
    main_file = tmp_path / "project.toml"
    write(
        main_file,
        EXAMPLE.read_bytes().decode("utf-8") + '\n[prompts]\ninclude = ["prompts/*.toml"]\n',
    )
    (tmp_path / "prompts").mkdir()
    extra = tmp_path / "prompts" / "extra.toml"
    prompt = """
[[checkins]]
id = "extra"
title = "TITLE"
stages = ["design"]

  [[checkins.questions]]
  id = "one"
  kind = "text"
  text = "Anything to add?"
"""
    write(extra, prompt.replace("TITLE", "Extra questions"))
    async with (
        demo_running(main_file, port=0, db=tmp_path / "d.db", watch_interval=0.05) as demo,
        aiohttp.ClientSession(demo.url) as http,
    ):
        assert demo.settings.checkin("extra") is not None
        write(extra, prompt.replace("TITLE", "Extra questions, renamed"))
        await wait_for_generation(http, 1)
        extra_checkin = demo.settings.checkin("extra")
        assert extra_checkin is not None and extra_checkin.title == "Extra questions, renamed"


def test_the_demo_command_reports_config_problems_with_file_and_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(
        config.read_text(encoding="utf-8").replace("retention_days = 730", "retention_days = 0"),
        encoding="utf-8",
    )
    assert main(["demo", "--config", str(config), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{config}:" in err and "storage.retention_days" in err


async def test_the_demo_command_prints_the_address_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "demo",
        "--config",
        str(EXAMPLE),
        "--port",
        "0",
        "--db",
        str(tmp_path / "kept.db"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
        assert url, line
        async with aiohttp.ClientSession() as session, session.get(url[1] + "/") as page:
            assert page.status == 200 and "Everystage demo" in await page.text()
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert (tmp_path / "kept.db").exists()  # --db keeps the answers
    assert "demo-token" not in err.decode()  # the fake token is redacted like a real one


# ---------------------------------------------------------------------------------------------
# A real browser.


def _playwright_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.mark.skipif(_playwright_missing() is not None, reason=str(_playwright_missing()))
async def test_a_check_in_in_a_real_browser(demo: Demo, tmp_path: Path, config: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 400, "height": 860})
            await page.goto(f"{demo.url}/")
            await expect(page.locator("body[data-ready=true]")).to_have_count(1)
            log = page.get_by_role("log", name="Messages with the bot")
            await expect(log).to_have_attribute("aria-live", "polite")
            chat_id = int(await page.locator("#who").input_value())

            async def says(text: str) -> None:
                await expect(log.get_by_text(text).last).to_be_visible()

            async def tap(label: str) -> None:
                await log.get_by_role("button", name=label, exact=True).click()

            await page.get_by_role("button", name="Start", exact=True).click()
            await says("Is that OK with you?")
            await tap("✅ Yes, I agree")
            await says("How has your week been?")
            await tap("2")
            await says("What made it hard?")
            await page.get_by_label("Voice note options").click()
            await page.get_by_role("button", name="Send a simulated voice note").click()
            await says("Which parts of the service")
            await tap("☐ Meals")
            await expect(log.get_by_role("button", name="☑ Meals")).to_be_visible()
            await tap("☐ Showers")
            await expect(log.get_by_role("button", name="☑ Showers")).to_be_visible()
            await tap("Done ✔")
            await says("Did staff listen")
            await log.get_by_role("button", name="Yes", exact=True).focus()
            await page.keyboard.press("Enter")  # the keyboard works as well as the mouse
            await says("change one thing first")
            who = page.locator("#who option:checked")
            await expect(who).to_contain_text("agreed, in weekly")  # the participants list
            await page.screenshot(path=str(tmp_path / "demo-chat.png"))
            if os.environ.get("EVERYSTAGE_UPDATE_SCREENSHOT") or not SCREENSHOT.exists():
                SCREENSHOT.parent.mkdir(exist_ok=True)
                shutil.copy(tmp_path / "demo-chat.png", SCREENSHOT)
            await tap("Opening hours")
            await says("Anything else")
            box = page.get_by_label("Message", exact=True)
            await box.fill("More evening sessions please")
            await box.press("Enter")
            await says("Your answers go to the team")

            await box.fill("/mydata")
            await page.get_by_role("button", name="Send", exact=True).click()
            link = log.get_by_role("link", name="everystage-my-data.json")
            await expect(link).to_be_visible()
            response = await page.request.get(demo.url + str(await link.get_attribute("href")))
            assert json.loads(await response.body())["answers"][0]["answer"] == 2

            await box.fill("Some days I want to end it all")
            await box.press("Enter")
            await says("You don't have to go through it alone")
            await page.get_by_role("tab", name="Coordinators' view").click()
            team = page.locator("#coord-messages")
            await expect(team.get_by_text("Safeguarding alert")).to_be_visible()
            await expect(team.get_by_text("end it all")).to_have_count(0)
            await page.get_by_role("tab", name="Chat").click()

            await page.get_by_label("New participant at").select_option("checkin:design-reflection")
            await page.get_by_role("button", name="Add and start").click()
            await says("What would have made that day easier?")
            assert int(await page.locator("#who").input_value()) != chat_id
            await page.get_by_label("Voice note options").click()
            await page.locator("#voice-file").set_input_files(
                files=[{"name": "note.ogg", "mimeType": "audio/ogg", "buffer": b"OggS-uploaded"}]
            )
            await expect(log.locator(".msg.me .voice-note")).to_have_count(1)
            await says("If you could tell the staff")

            write(config, "[project]\nname = 'Broken'\n")
            alert = page.get_by_role("alert")
            await expect(alert).to_contain_text(f"{config}:")
            await expect(alert).to_contain_text("keeps its previous prompts")
        finally:
            await browser.close()

    answers = rows(
        demo, "SELECT question_id, value, file_path IS NOT NULL FROM answers ORDER BY id"
    )
    assert [(q, v and json.loads(v), f) for q, v, f in answers[:6]] == [
        ("week", 2, 0),
        ("hard-part", json.loads(answers[1][1]), 1),  # the voice note's file name
        ("used", ["Meals", "Showers"], 0),
        ("listened", "yes", 0),
        ("change", "Opening hours", 0),
        ("anything-else", "More evening sessions please", 0),
    ]
    assert rows(demo, "SELECT checkin_id FROM completions") == [("weekly",)]
    uploaded = rows(demo, "SELECT file_path FROM answers WHERE question_id = 'first-contact'")
    assert len(uploaded) == 1 and uploaded[0][0]
    assert demo.sandbox.world.chat(chat_id).user is not None
