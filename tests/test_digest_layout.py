"""The HTML digest on a phone, in a real browser (Chromium through Playwright, 390 x 844).

Nothing is wider than the screen; every table either fits or scrolls sideways inside its own
box; the check-in table stacks into cards; every chart label is at least 12 px as drawn. Both
the hand-worked fixture's digest and a digest made to be awkward (long names, long words, big
numbers, many check-ins) are checked.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.digest import content, html
from bot.digest.content import (
    Alerts,
    BucketFigures,
    CheckinFigures,
    Digest,
    LoopClosure,
    Participation,
    QuestionFigures,
    Quote,
    StageFigures,
)
from bot.digest.power import PowerMeter, PowerRow, Share
from bot.settings import Settings, load_settings
from storage.db import Database
from tests.conftest import EXAMPLE
from tests.test_digest import WEEK, build_fixture

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 390, "height": 844}
MIN_TEXT_PX = 12.0


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


pytestmark = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))


def awkward_digest() -> Digest:
    """A digest with everything a phone finds hard: long names and words, big numbers."""
    long_title = "Fortnightly check-in about housing, recovery and what the service does next"
    checkins = [
        CheckinFigures(
            id=f"checkin-{i}",
            title=f"{long_title} ({i})",
            asked=123456,
            answered=98765,
            response_rate=80.0,
            started=100012,
            completed=99999,
            completion_rate=99.9,
            unprompted=1234,
        )
        for i in range(3)
    ]
    labels = [
        "Somewhere safe to sleep that is not the night shelter on Riverside Road",
        "Opening hours",
        "Supercalifragilisticexpialidocious-and-a-very-long-unbroken-answer-label",
        "I'd rather not say",
    ]
    buckets = [
        BucketFigures(label, count, share, previous)
        for label, count, share, previous in zip(
            labels,
            [4321, None, 1234, None],
            [70.0, None, 20.0, None],
            [60.0, None, 30.0, None],
            strict=True,
        )
    ]
    question = QuestionFigures(
        "checkin-0",
        long_title,
        "change",
        "If you could change one thing first about how the service works for you, what would"
        " it be, and why does it matter to you more than anything else right now?",
        "choice",
        6000,
        buckets,
        None,
        None,
    )
    stages = [
        StageFigures(name, 1234, 56789, True)
        for name in ("design", "delivery", "commissioning-and-procurement", "evaluation")
    ]
    return Digest(
        project="The Riverside Pathways housing-and-recovery-service-redesign-programme",
        week=WEEK,
        first_day=date(2026, 3, 2),
        last_day=date(2026, 3, 8),
        timezone="America/Argentina/ComodRivadavia",
        min_group_size=3,
        participation=Participation(123456, 7890, None, 12, None),
        checkins=checkins,
        questions=[question],
        stages=stages,
        every_stage=4321,
        reached_stages=[s.stage for s in stages],
        loop=LoopClosure(12, 34567, 23456, 67.9),
        alerts=Alerts(None, 3),
        quotes=[
            Quote(long_title, "https://example.org/" + "a-very-long-path-without-spaces" * 4),
            Quote(long_title, "Everything was fine. " * 20),
            Quote(long_title, "Sooooooooooooooooooooooooooooooooooooooooooooooooooooooo good"),
        ],
        power=PowerMeter(
            [
                PowerRow(
                    s.stage,
                    123,
                    120,
                    Share(87.5),
                    119,
                    4567,
                    1234,
                    Share(None, True),
                    Share(66.6),
                    s.stage != "evaluation",
                )
                for s in stages
            ],
            [
                PowerRow(
                    f"2026-W{n:02}", n, n, Share(10.0 * n), n, n, n, Share(None), Share(5.0 * n)
                )
                for n in range(3, 11)
            ],
            3,
        ),
    )


@pytest.fixture
def plain_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    return load_settings(EXAMPLE)


async def fixture_digest(settings: Settings) -> Digest:
    db = await Database.open(settings.storage)
    try:
        await build_fixture(db)
        return await content.compute(db, settings, WEEK)
    finally:
        await db.close()


# Measured in the page: every table, whether it fits or sits in a box that scrolls sideways
# (and that box fits), and every chart text's size as drawn (font size times the SVG's scale).
MEASURE = """() => {
  const viewport = document.documentElement.clientWidth;
  const scroller = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll') return p;
    }
    return null;
  };
  const tables = [...document.querySelectorAll('table')].map((t) => {
    const box = t.getBoundingClientRect();
    const s = scroller(t);
    const sb = s && s.getBoundingClientRect();
    return {
      text: t.innerText.slice(0, 40),
      stacked: t.classList.contains('stack'),
      left: box.left, right: box.right,
      fits: box.left >= 0 && box.right <= viewport,
      scrolls: !!s && sb.left >= 0 && sb.right <= viewport,
      overflowing: !!s && s.scrollWidth > s.clientWidth,
    };
  });
  const texts = [...document.querySelectorAll('svg text')].map((t) => ({
    text: t.textContent,
    px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
  }));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth,
    viewport, tables, texts,
  };
}"""


async def measure(page_path: Path) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport=PHONE)
            await page.goto(page_path.as_uri())
            return await page.evaluate(MEASURE)
        finally:
            await browser.close()


def check_phone_layout(found: dict[str, Any]) -> None:
    assert found["viewport"] == PHONE["width"]
    assert found["scrollWidth"] <= PHONE["width"], found["scrollWidth"]
    assert found["bodyScrollWidth"] <= PHONE["width"]
    assert found["tables"], "no tables rendered"
    for table in found["tables"]:
        assert table["fits"] or table["scrolls"], table
        if table["stacked"]:  # the check-in table is one card per check-in: no sideways scroll
            assert table["fits"] and not table["overflowing"], table
    texts = found["texts"]
    assert len(texts) >= 6, "the charts' text is not SVG text"
    small = [t for t in texts if t["px"] < MIN_TEXT_PX]
    assert not small, small


async def test_the_fixture_digest_fits_a_phone(plain_settings: Settings, tmp_path: Path) -> None:
    digest = await fixture_digest(plain_settings)
    page_path = tmp_path / "digest.html"
    page_path.write_text(html.render(digest), encoding="utf-8")
    found = await measure(page_path)
    check_phone_layout(found)
    # The fixture's charts: the week, listened, change (three questions shown) and the stages.
    labels = {t["text"] for t in found["texts"]}
    assert {"Opening hours", "design", "delivery", "fewer than 3"} <= labels


async def test_an_awkward_digest_fits_a_phone(tmp_path: Path) -> None:
    page_path = tmp_path / "digest.html"
    page_path.write_text(html.render(awkward_digest()), encoding="utf-8")
    found = await measure(page_path)
    check_phone_layout(found)
    assert sum(t["stacked"] for t in found["tables"]) == 1
    # The tokenism meter's trend chart, its labels readable like every other chart's.
    labels = {t["text"] for t in found["texts"]}
    assert {"Sharing power, week by week", "Turnout", "Heard back", "W10"} <= labels
