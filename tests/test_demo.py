"""``everystage demo``: the page's endpoints, hot reload, presets, and a real browser check-in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.cli import main
from bot.commands import COORDINATOR_COMMANDS
from bot.demo import Demo, demo_running
from bot.demo.people import DEMO_COORDINATOR_ID, DEMO_COORDINATOR_NAME
from bot.demo.routes import STATIC_DIR
from bot.demo.server import DEMO_TEAM_CHAT
from bot.settings import load_settings
from bot.texts import Texts
from tests.conftest import EXAMPLE, ROOT, SHIPPED_EXAMPLE

SVG_NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'
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
    for name in ("app.js", "style.css", "favicon.svg"):
        async with http.get(f"/demo/static/{name}") as response:
            assert response.status == 200
    assert '<link rel="icon" href="/demo/static/favicon.svg" type="image/svg+xml">' in page
    async with http.get("/demo/static/favicon.svg") as response:
        assert response.content_type == "image/svg+xml"
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")  # a name, not a file
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
    assert state["coordinators"] == {
        "configured": True,
        "chat_id": DEMO_TEAM_CHAT,
        "note": "",
        "coordinator": {"id": DEMO_COORDINATOR_ID, "name": DEMO_COORDINATOR_NAME},
    }
    assert [c["id"] for c in state["checkins"]] == [c.id for c in load_settings(EXAMPLE).checkins]


async def test_the_demo_coordinator_is_a_coordinator_without_editing_the_config(
    demo: Demo, http: aiohttp.ClientSession, config: Path
) -> None:
    before = await asyncio.to_thread(config.read_bytes)
    team = demo.settings.coordinators
    listed = load_settings(config).coordinators.user_ids
    assert team.user_ids == [*listed, DEMO_COORDINATOR_ID] and team.chat_id == DEMO_TEAM_CHAT
    people = await call(http, "GET", "/demo/participants")
    assert all(p["id"] != DEMO_COORDINATOR_ID for p in people)

    # Their commands work in the coordinators' chat, and its menu is the coordinators' list.
    menu = await call(http, "GET", f"/demo/chats/{DEMO_TEAM_CHAT}/menu")
    assert [c["command"] for c in menu] == [c for c in COORDINATOR_COMMANDS if c != "reload"]
    private = await call(http, "GET", f"/demo/chats/{DEMO_COORDINATOR_ID}/menu")
    assert [c["command"] for c in private][: len(menu)] == [c["command"] for c in menu]
    await call(
        http,
        "POST",
        f"/sandbox/chats/{DEMO_TEAM_CHAT}/messages",
        {"text": "/stats", "user_id": DEMO_COORDINATOR_ID},
    )
    await until(lambda: any("Answers this week" in t for t in bot_texts(demo, DEMO_TEAM_CHAT)))

    # "I'm on it" in the group, pressed as the demo coordinator: taken, and the toast says so.
    person = await call(http, "POST", "/demo/participants", {"checkin": "weekly"})
    await call(
        http, "POST", f"/sandbox/chats/{person['id']}/messages", {"text": "I want to end it all"}
    )
    alert = await until(lambda: last_with_buttons(demo, DEMO_TEAM_CHAT))
    [[take]] = alert["reply_markup"]["inline_keyboard"]
    pressed = await call(
        http,
        "POST",
        f"/sandbox/chats/{DEMO_TEAM_CHAT}/messages/{alert['message_id']}/press",
        {"callback_data": take["callback_data"], "user_id": DEMO_COORDINATOR_ID},
    )
    answered = await until(lambda: answered_query(demo, pressed["id"]))
    assert answered["text"] == "Thank you. It's yours."
    taken = demo.sandbox.world.chat(DEMO_TEAM_CHAT).messages[alert["message_id"]]
    assert f"{DEMO_COORDINATOR_NAME} is on it" in taken["text"] and "reply_markup" not in taken
    assert rows(demo, "SELECT taken_by FROM alerts") == [(DEMO_COORDINATOR_NAME,)]
    assert await asyncio.to_thread(config.read_bytes) == before  # the user's file is untouched


async def until(found: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Wait for ``found()`` to return something truthy (the bot answers asynchronously)."""
    for _ in range(int(seconds / 0.05)):
        if result := found():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("the bot did not get there in time")


def last_with_buttons(demo: Demo, chat_id: int) -> dict[str, Any] | None:
    """The newest bot message in a chat that has inline buttons."""
    messages = demo.sandbox.world.chat(chat_id).messages.values()
    found = [m for m in messages if m["from"]["is_bot"] and m.get("reply_markup")]
    return found[-1] if found else None


def answered_query(demo: Demo, query_id: str) -> dict[str, Any] | None:
    """A button press's answer, once the bot has answered it."""
    query = demo.sandbox.world.callback_queries[query_id].to_control()
    return query if query["answered"] else None


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
    kind_line = broken.split("\n").index('  kind = "slider"') + 1
    assert error.startswith(f'{config}:{kind_line}: check-in "weekly", question "listened", kind: ')
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


browser_test = pytest.mark.skipif(
    _playwright_missing() is not None, reason=str(_playwright_missing())
)
SMALL_PHONE = {"width": 320, "height": 568}
TARGET = 44  # CSS pixels: the smallest thing a finger should have to press
AXE_VERSION = "4.14.1"
# Where .ci/run installs it too (and says where in $EVERYSTAGE_AXE).
AXE_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "everystage"
    / f"axe-core-{AXE_VERSION}"
)

# Where a piece of text (its last occurrence) and the newest keyboard's first button are, and
# the chat's visible box: both must be inside it for the person to read the question and answer.
WHERE_JS = """([log, needle]) => {
  const box = document.querySelector(log);
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  let found = null;
  while (walker.nextNode()) {
    const at = walker.currentNode.data.lastIndexOf(needle);
    if (at >= 0) found = [walker.currentNode, at];
  }
  const rect = (r) => r && { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
  let text = null;
  if (found) {
    const range = document.createRange();
    range.setStart(found[0], found[1]);
    range.setEnd(found[0], found[1] + needle.length);
    text = rect(range.getBoundingClientRect());
  }
  const key = box.querySelector(".keyboard:not(.old) .key");
  return {
    text, key: rect(key && key.getBoundingClientRect()),
    chat: rect(box.getBoundingClientRect()), height: innerHeight, width: innerWidth,
  };
}"""

# Every visible thing a person can press or type in, with its size.
TARGETS_JS = """() => {
  const selector = "button, select, summary, textarea, .key, .file-button, a.document";
  return [...document.querySelectorAll(selector)]
    .filter((el) => el.checkVisibility({ visibilityProperty: true }))
    .map((el) => {
      const r = el.getBoundingClientRect();
      const name = el.id || el.getAttribute("aria-label") || el.textContent.trim().slice(0, 30);
      return { name: `${el.tagName.toLowerCase()} ${name}`, width: r.width, height: r.height };
    });
}"""


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium, driven by Playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser: Any, demo: Demo, viewport: dict[str, int]) -> Any:
    """The demo page, loaded and ready."""
    from playwright.async_api import expect

    page = await browser.new_page(viewport=viewport)
    await page.goto(f"{demo.url}/")
    await expect(page.locator("body[data-ready=true]")).to_have_count(1)
    return page


async def question_and_buttons_in_view(page: Any, question: str, log: str = "#messages-log"):
    """The question's text and the first of its buttons are both on screen, in the chat."""
    from playwright.async_api import expect

    await expect(page.locator(log).get_by_text(question).last).to_be_visible()
    where = await page.evaluate(WHERE_JS, [log, question])
    chat, text, key = where["chat"], where["text"], where["key"]
    assert chat["top"] >= 0 and chat["bottom"] <= where["height"], where
    assert text and chat["top"] <= text["top"] and text["bottom"] <= chat["bottom"], where
    assert key and chat["top"] <= key["top"] and key["bottom"] <= chat["bottom"], where
    assert text["bottom"] <= key["top"], where  # the question above its buttons


async def all_targets_big_enough(page: Any) -> list[str]:
    """Every visible control is at least 44 by 44 CSS pixels; returns their names."""
    targets = await page.evaluate(TARGETS_JS)
    small = [t for t in targets if t["width"] < TARGET or t["height"] < TARGET]
    assert not small, small
    return [t["name"] for t in targets]


async def big_enough(locator: Any) -> None:
    """One control's bounding box is at least 44 by 44."""
    box = await locator.bounding_box()
    assert box and box["width"] >= TARGET and box["height"] >= TARGET, (locator, box)


@browser_test
async def test_the_demo_speaks_each_language_the_project_offers(tmp_path: Path) -> None:
    """With the example as it ships, a person whose phone is in Polish, Romanian or Arabic is
    welcomed in it; Arabic reads right to left beside the English of the page."""
    from playwright.async_api import expect

    config = tmp_path / "config.toml"
    shutil.copy(SHIPPED_EXAMPLE, config)
    async with demo_running(config, port=0, db=tmp_path / "demo.db") as demo, chromium() as browser:
        settings = demo.settings
        assert settings.project.offered == ["en", "pl", "ro", "ar"]
        page = await open_page(browser, demo, {"width": 400, "height": 860})
        log = page.get_by_role("log", name="Messages with the bot")
        for code in settings.project.offered:
            await page.get_by_label("phone language").select_option(code)
            await page.get_by_role("button", name="Add participant").click()
            await expect(page.locator("#who option:checked")).to_contain_text(f" · {code}")
            await page.get_by_role("button", name="Start", exact=True).click()
            consent = settings.localized(code).consent_text().strip().splitlines()[0]
            message = log.get_by_text(consent).last
            await expect(message).to_be_visible()
            direction = await message.evaluate("e => getComputedStyle(e).direction")
            assert direction == ("rtl" if code == "ar" else "ltr"), code
            agree = Texts.load(code)("consent.yes")
            await expect(log.get_by_role("button", name=agree, exact=True)).to_be_visible()


@browser_test
async def test_the_page_on_a_small_phone(demo: Demo) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await open_page(browser, demo, SMALL_PHONE)
        log = page.get_by_role("log", name="Messages with the bot")
        href = await page.locator("link[rel=icon]").get_attribute("href")
        icon = await page.request.get(f"{demo.url}{href}")
        assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml")

        for control in (
            page.get_by_label("Participant", exact=True),
            page.get_by_role("button", name="Add participant"),
            page.get_by_label("New participant at"),
            page.get_by_role("button", name="Add and start"),
            page.get_by_role("tab", name="Chat"),
            page.get_by_role("tab", name="Coordinators' view"),
            page.get_by_label("Commands", exact=True),
            page.get_by_label("Voice note options"),
            page.get_by_label("Message", exact=True),
            page.get_by_role("button", name="Send", exact=True),
        ):
            await big_enough(control)

        # "Add participant" takes keyboard users straight to the new chat's Start button.
        first = await page.locator("#who").input_value()
        await page.get_by_role("button", name="Add participant").click()
        start = page.get_by_role("button", name="Start", exact=True)
        await expect(start).to_be_focused()
        assert await page.locator("#who").input_value() != first
        await big_enough(start)
        await page.keyboard.press("Enter")
        await question_and_buttons_in_view(page, "Is that OK with you?")
        await log.get_by_role("button", name="✅ Yes, I agree").click()
        await question_and_buttons_in_view(page, "How has your week been?")
        for key in await log.locator(".keyboard .key").all():
            await big_enough(key)
        await log.get_by_role("button", name="2", exact=True).click()
        await question_and_buttons_in_view(page, "What made it hard?")
        await page.get_by_label("Voice note options").click()
        names = await all_targets_big_enough(page)  # the voice menu's buttons too
        assert "button voice-sim" in names
        await page.get_by_role("button", name="Send a simulated voice note").click()
        await question_and_buttons_in_view(page, "Which parts of the service")

        # A second keyboard (/settings) while the question's is still there: Tab reaches only
        # the newest one; the older one can still be tapped.
        box = page.get_by_label("Message", exact=True)
        await box.fill("/settings")
        await box.press("Enter")
        await question_and_buttons_in_view(page, "Your settings")
        old = log.locator(".keyboard.old .key")
        assert await old.count() >= 2
        assert set(await old.evaluate_all("(keys) => keys.map((k) => k.tabIndex)")) == {-1}
        await log.focus()
        reached = []
        for _ in range(12):
            await page.keyboard.press("Tab")
            inside = await page.evaluate(
                "() => document.activeElement.closest('#messages-log') !== null"
            )
            if not inside:
                break
            reached.append(await page.evaluate("() => document.activeElement.textContent"))
        assert reached == [
            "How often",
            "Quiet hours",
            "Time zone",
            "Quoting my words",
            "What everyone said",
            "Payment",
            "Done",
        ]
        await old.first.click()  # still works by touch: the multi option is ticked
        await expect(log.get_by_role("button", name="☑ Drop-in")).to_be_visible()

        # "Add and start": focus on the new participant's first question's buttons.
        await page.get_by_label("New participant at").select_option("checkin:design-reflection")
        await page.get_by_role("button", name="Add and start").click()
        await question_and_buttons_in_view(page, "What would have made that day easier?")
        await expect(log.locator(".keyboard:not(.old) .key").first).to_be_focused()
        await all_targets_big_enough(page)

        await page.get_by_role("tab", name="Coordinators' view").click()
        await page.get_by_label("Coordinators' commands").click()
        await expect(page.get_by_role("button", name="/stats")).to_be_visible()
        names = await all_targets_big_enough(page)
        assert "button coord-send" in names and "textarea coord-text" in names


def axe_script() -> Path | str:
    """axe-core's axe.min.js ($EVERYSTAGE_AXE, else a cached npm install), or why not."""
    if env := os.environ.get("EVERYSTAGE_AXE"):
        return Path(env) if Path(env).is_file() else f"EVERYSTAGE_AXE={env} is not a file"
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if script.is_file():
        return script
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed, so axe-core cannot be fetched (apt-get install npm)"
    command = [npm, "install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock"]
    try:
        subprocess.run(
            [*command, "--prefix", str(AXE_CACHE), f"axe-core@{AXE_VERSION}"],
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"npm could not install axe-core@{AXE_VERSION}: {exc}"
    return script if script.is_file() else f"npm installed no {script}"


async def axe_violations(page: Any, script: Path) -> list[str]:
    """Run axe-core's rules on the page as it is now; one line per violation."""
    await page.add_script_tag(content=await asyncio.to_thread(script.read_text, "utf-8"))
    found = await page.evaluate(
        """async () => (await axe.run(document, {
          resultTypes: ["violations"],
          rules: { "target-size": { enabled: true } },  // WCAG 2.2's, off by default
        })).violations"""
    )
    return [f"{v['id']}: {v['help']} at {[node['target'] for node in v['nodes']]}" for v in found]


@browser_test
async def test_the_page_passes_axe_core(demo: Demo, http: aiohttp.ClientSession) -> None:
    from playwright.async_api import expect

    script = await asyncio.to_thread(axe_script)
    if isinstance(script, str):
        pytest.skip(f"no axe-core: {script}")
    await call(http, "POST", "/demo/participants", {"checkin": "weekly"})
    async with chromium() as browser:
        page = await open_page(browser, demo, SMALL_PHONE)
        log = page.get_by_role("log", name="Messages with the bot")
        await expect(log.get_by_text("How has your week been?")).to_be_visible()
        box = page.get_by_label("Message", exact=True)
        await box.fill("/settings")
        await box.press("Enter")
        await expect(log.get_by_text("Your settings")).to_be_visible()  # and an old keyboard
        seen = {"participant's chat": await axe_violations(page, script)}
        await page.get_by_label("Voice note options").click()
        seen["voice menu"] = await axe_violations(page, script)
        await page.get_by_role("tab", name="Coordinators' view").click()
        await page.get_by_label("Message to the coordinators' chat").fill("/stage")
        await page.get_by_label("Message to the coordinators' chat").press("Enter")
        await expect(page.locator("#coord-log").get_by_text("Move it to")).to_be_visible()
        await page.get_by_label("Coordinators' commands").click()
        await expect(page.get_by_role("button", name="/stats")).to_be_visible()
        seen["coordinators' view"] = await axe_violations(page, script)
    assert seen == {where: [] for where in seen}  # listitem and aria-allowed-role included


@browser_test
async def test_the_coordinators_view_is_a_working_chat(
    demo: Demo, http: aiohttp.ClientSession
) -> None:
    from playwright.async_api import expect

    person = await call(http, "POST", "/demo/participants", {"checkin": "weekly"})
    chat = f"/sandbox/chats/{person['id']}/messages"
    question = await until(lambda: last_with_buttons(demo, person["id"]))
    two = question["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    await call(http, "POST", f"{chat}/{question['message_id']}/press", {"callback_data": two})
    await until(lambda: "What made it hard?" in bot_texts(demo, person["id"])[-1])
    await call(http, "POST", chat, {"text": "Some days I want to end it all"})

    async with chromium() as browser:
        page = await open_page(browser, demo, {"width": 390, "height": 844})
        await page.get_by_role("tab", name="Coordinators' view").click()
        team = page.get_by_role("log", name="Messages in the coordinators' chat")
        box = page.get_by_label("Message to the coordinators' chat")
        toast = page.locator("#coord-toast")

        # "I'm on it": taken by the demo coordinator, the toast shown right here.
        await team.get_by_role("button", name="I'm on it").click()
        await expect(toast).to_have_text("Thank you. It's yours.")
        await expect(toast).to_be_visible()
        await expect(team.get_by_text(f"{DEMO_COORDINATOR_NAME} is on it")).to_be_visible()
        await expect(team.get_by_role("button", name="I'm on it")).to_have_count(0)

        # The menu is what the bot published for this chat; a command from it is sent.
        await page.get_by_label("Coordinators' commands").click()
        menu = page.locator("#coordinators .menu-list .command-name")
        assert await menu.all_text_contents() == [
            f"/{name}" for name in COORDINATOR_COMMANDS if name != "reload"
        ]
        await page.get_by_role("button", name="/stats").click()
        await expect(team.get_by_text("Answers this week")).to_be_visible()

        await box.fill("/alerts")
        await box.press("Enter")
        await expect(team.get_by_text("No open safeguarding alerts")).to_be_visible()

        # /digest: the summary, the HTML file as a download, the chart as a picture.
        await box.fill("/digest")
        await box.press("Enter")
        link = team.get_by_role("link", name=re.compile(r"digest-\d{4}-W\d\d\.html"))
        await expect(link).to_be_visible()
        document = await page.request.get(demo.url + str(await link.get_attribute("href")))
        assert document.ok and "<html" in (await document.text()).lower()
        chart = team.get_by_role("img", name=re.compile(r"one chart from it"))
        await expect(chart).to_be_visible()
        assert await chart.evaluate("(img) => img.complete && img.naturalWidth > 0")

        # /update: write (plain messages go as replies, so the bot sees them), link, send.
        await box.fill("/update")
        await box.press("Enter")
        await expect(team.get_by_text("Send what changed")).to_be_visible()
        await box.fill("Evening sessions start next week.")
        await box.press("Enter")
        await expect(team.get_by_text("Added (1 so far)")).to_be_visible()
        await expect(team.locator(".reply-quote").last).to_contain_text("Everystage")
        await team.get_by_role("button", name="Done", exact=True).last.click()
        await expect(team.get_by_text("What is this update about?")).to_be_visible()
        await team.get_by_role("button", name="Weekly check-in").click()
        await team.get_by_role("button", name="The whole check-in").click()
        await expect(team.get_by_text("This goes to 1 people")).to_be_visible()
        await team.get_by_role("button", name="Send", exact=True).click()
        # (now, or after the participant's quiet hours: the test runs at any time of day)
        sent = team.get_by_text(re.compile(r"Sent to [01] of 1 contributors"))
        await expect(sent).to_be_visible()
        assert await page.locator("#toast").is_hidden()  # nothing landed in the hidden panel

        # /decide: the config's decision, put to people from here, then voted on and closed.
        await box.fill("/decide drop-in-day")
        await box.press("Enter")
        await expect(team.get_by_text("Put this to 1 people?")).to_be_visible()
        await team.get_by_role("button", name="Put it to them").click()
        await expect(team.get_by_text("Decision #1 is on its way to 1 people")).to_be_visible()
        await box.fill("/decide")
        await box.press("Enter")
        await team.get_by_role("button", name="Close #1 now").click()
        await expect(toast).to_contain_text("Decision #1 is closed")
        result = team.get_by_text("Decision #1 has closed.")
        await expect(result).to_be_visible()
        await expect(team.get_by_role("button", name="Tell them what we did")).to_be_visible()
    assert rows(demo, "SELECT text FROM updates") == [("Evening sessions start next week.",)]
    assert rows(demo, "SELECT question, status, asked FROM decisions") == [
        ("The drop-in is moving to one day a week. Which day suits you best?", "closed", 1)
    ]
