"""Each person in their own language: suggested from their Telegram app, confirmed with one tap
(the consent they agree to), changeable any time, and used for everything the bot sends them,
nudges and news included. Their answers add up with everyone else's.

The bot's words here come from a pseudo-locale: English with "[xx] " before every text, so a
test can see at a glance which language each message was made in, whatever the real
translations say (tests/test_locales.py checks those).
"""

from __future__ import annotations

import csv
import io
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import texts as texts_module
from bot.clock import FakeClock
from bot.digest import content, markdown
from bot.handlers import checkin
from bot.language import native_name, suggest
from bot.sandbox import Sandbox, SandboxClient, SandboxUser
from bot.sandbox.errors import ApiError
from bot.services import services_of
from bot.settings import Settings
from bot.texts import Texts
from storage import export
from tests.conftest import SHIPPED_EXAMPLE, rows, running, settle, tap

MARK = "[xx] "
COORDINATOR = 9300
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WEEK_OF_NOON = "2026-W49"


def _quoted(value: str) -> str:
    return '"""' + value.replace("\\", "\\\\").replace('"""', '\\"""') + '"""'


@pytest.fixture
def pseudo_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A locale "xx": every English text with a mark in front. Returns its code."""
    folder = tmp_path / "locales"
    folder.mkdir()
    english = (texts_module.LOCALES / "en.toml").read_text(encoding="utf-8")
    (folder / "en.toml").write_text(english, encoding="utf-8")
    lines = []
    for section, names in tomllib.loads(english).items():
        lines.append(f"[{section}]")
        lines += [f"{name} = {_quoted(MARK + value)}" for name, value in names.items()]
    (folder / "xx.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(texts_module, "LOCALES", folder)
    return "xx"


def bot_texts(user: SandboxUser, messages: list[Any]) -> list[str]:
    return [m.text or "" for m in messages if m.from_bot]


async def test_a_person_takes_part_in_their_own_language_and_can_change_it(
    pseudo_locale: str, client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(
        project__languages=f'["en", "{pseudo_locale}"]',
        coordinators__user_ids=f"[{COORDINATOR}]",
        nudges__quiet_hours="null",
    )
    async with running(settings, clock=FakeClock(NOON)) as app:
        jo = await client.user(COORDINATOR, first_name="Jo")
        # Their phone is set to the project's second language: the welcome comes in it, with
        # a button to read it in English instead; agreeing stores the language agreed in.
        ola = await client.user(9301, first_name="Ola", language_code=pseudo_locale)
        await ola.send("/start")
        welcome = await ola.expect("Is that OK with you?")
        assert welcome.text.startswith(MARK)
        assert welcome.button_texts()[-1] == "🌐 English"
        await ola.press(f"{MARK}✅ Yes, I agree")
        first = await ola.expect("How has your week been?")
        assert MARK in first.text
        # Someone whose phone is in English (or a language not offered) gets English, with
        # the other language offered by its own name.
        ann = await client.user(9302, first_name="Ann", language_code="de")
        await ann.send("/start")
        english = await ann.expect("Is that OK with you?")
        assert MARK not in english.text
        assert english.button_texts()[-1] == f"🌐 {native_name(pseudo_locale)}"
        # Tapping it shows the consent again in that language; agreeing there keeps it.
        await ann.press(f"🌐 {native_name(pseudo_locale)}", english.message_id)
        again = await ann.expect("Is that OK with you?")
        assert again.text.startswith(MARK)
        await ann.press(f"{MARK}✅ Yes, I agree", again.message_id)
        await ann.expect("How has your week been?")
        assert rows(settings, "SELECT chat_id, language FROM participants ORDER BY chat_id") == [
            (9301, pseudo_locale),
            (9302, pseudo_locale),
        ]

        # Ann answers, then changes to English half-way through: from then on, English.
        await ann.press("4")
        await ann.expect("Which parts")
        await ann.send("/language")
        menu = await ann.expect("Which language would you like me to use?")
        assert menu.text.startswith(MARK)
        assert menu.button_texts() == ["English", f"✅ {native_name(pseudo_locale)}"]
        await ann.press("English", menu.message_id)
        done = await ann.expect("I'll talk to you in English from now on.")
        assert MARK not in done.text
        await ann.send("/help")
        assert MARK not in (await ann.expect("Here's what I can do")).text

        # Messages sent later come in each person's language: a nudge, and stage news.
        await jo.send("/ask pulse")
        await jo.expect("Sending the Quick pulse to 2 people now.")
        ola_nudge = await ola.expect("Quick pulse", timeout=10)
        ann_nudge = await ann.expect("Quick pulse", timeout=10)
        assert ola_nudge.text.startswith(MARK) and MARK not in ann_nudge.text
        assert ola_nudge.button_texts()[0].startswith(MARK)
        await jo.send("/stage")
        await jo.expect("The project is in the design stage")
        await jo.press("→ delivery")
        confirm = await jo.expect("Move the project to the delivery stage")
        await jo.press("Yes, move to delivery", confirm.message_id)
        ola_news = await ola.expect("delivery", timeout=10)
        ann_news = await ann.expect("delivery", timeout=10)
        assert ola_news.text.startswith(MARK) and MARK not in ann_news.text
        await settle(sandbox, app)

        # Every message the bot sent Ola was in her language.
        said = bot_texts(ola, await ola.messages())
        assert said and all(MARK in text for text in said), said

        # Someone who never chose answers too: in the project's default language.
        eve = await client.user(9303, first_name="Eve", language_code="en")
        await eve.send("/start")
        await eve.expect("Is that OK with you?")
        await eve.press("✅ Yes, I agree")
        await eve.expect("How has your week been?")
        await eve.press("2")
        await eve.expect("What made it hard?")
        await settle(sandbox, app)

        # One export, both answers to the same question, each with the language it was in.
        out = io.StringIO()
        db = services_of(app).db
        await export.write_csv(db, out, labels=export.labels_of(settings.checkins, "en"))
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert sorted((r["question_id"], r["answer"], r["language"]) for r in table) == [
        ("week", "2", "en"),
        ("week", "4", pseudo_locale),
    ]


def test_a_telegram_language_code_suggests_an_offered_language() -> None:
    offered = ["en", "pl", "pt-br"]
    assert suggest("pl", offered) == "pl"
    assert suggest("pl-PL", offered) == "pl"
    assert suggest("pt-BR", offered) == "pt-br"
    assert suggest("de", offered) is None and suggest(None, offered) is None
    assert native_name("pl") == "Polski" and native_name("ar") == "العربية"
    assert native_name("ro") == "Română" and native_name("en") == "English"


# --- The shipped languages, end to end -------------------------------------------------------
# The example project offers English, Polish, Romanian and Arabic (machine drafts, see README).
# What each person should read is taken from the config's own translations and the locale
# files, so the test checks the bot sends each person their language's words, whatever they are.


def first_line(text: str) -> str:
    return text.strip().splitlines()[0]


async def weekly_in(user: SandboxUser, local: Settings, words: Texts, *, said: str) -> None:
    """Answer the example's weekly check-in in the language of ``local`` and ``words``: 4,
    the first two services, yes, the first change, and ``said`` in words."""
    weekly = local.checkin("weekly")
    assert weekly is not None
    asked = {question.id: question for question in weekly.questions}
    used, change = asked["used"], asked["change"]
    await user.press("4")
    await user.expect(first_line(used.text))
    await tap(user, f"☐ {used.labels[0]}")  # type: ignore[attr-defined]
    await tap(user, f"☐ {used.labels[1]}")  # type: ignore[attr-defined]
    await user.press(words("checkin.done"))
    await user.expect(first_line(asked["listened"].text))
    await user.press(words("checkin.yes"))
    await user.expect(first_line(change.text))
    await user.press(change.labels[0])  # type: ignore[attr-defined]
    await user.expect(first_line(asked["anything-else"].text))
    await user.send(said)
    await user.expect(first_line(weekly.closing))


async def test_polish_and_arabic_speakers_take_part_beside_english_speakers(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(
        SHIPPED_EXAMPLE,
        coordinators__user_ids=f"[{COORDINATOR}]",
        nudges__quiet_hours="null",
        digest__min_group_size="1",
    )
    assert settings.project.offered == ["en", "pl", "ro", "ar"]
    polish, arabic = settings.localized("pl"), settings.localized("ar")
    pl, ar, en = Texts.load("pl"), Texts.load("ar"), Texts.load("en")
    english_weekly = settings.checkin("weekly")
    polish_weekly, arabic_weekly = polish.checkin("weekly"), arabic.checkin("weekly")
    assert english_weekly and polish_weekly and arabic_weekly
    week_en = english_weekly.questions[0].text
    week_pl, week_ar = polish_weekly.questions[0].text, arabic_weekly.questions[0].text
    assert len({week_en, week_pl, week_ar}) == 3  # really translated

    async with running(settings, clock=FakeClock(NOON)) as app:
        jo = await client.user(COORDINATOR, first_name="Jo")
        # Ola's phone is in Polish: the consent is in Polish, and so is her check-in.
        ola = await client.user(9311, first_name="Ola", language_code="pl-PL")
        await ola.send("/start")
        consent = await ola.expect(first_line(polish.consent_text()))
        assert pl("consent.yes") in consent.button_texts()
        await ola.press(pl("consent.yes"), consent.message_id)
        await ola.expect(first_line(week_pl))
        await weekly_in(ola, polish, pl, said="Więcej godzin otwarcia w weekend")

        # Amir's phone is in English; he reads the consent in Arabic (one tap on its name)
        # and agrees there: his check-in is in Arabic, right to left.
        amir = await client.user(9312, first_name="Amir", language_code="en")
        await amir.send("/start")
        english = await amir.expect(first_line(settings.consent_text()))
        await amir.press(f"🌐 {native_name('ar')}", english.message_id)
        again = await amir.expect(first_line(arabic.consent_text()))
        await amir.press(ar("consent.yes"), again.message_id)
        await amir.expect(first_line(week_ar))
        await weekly_in(amir, arabic, ar, said="أريد مكانًا آمنًا للنوم")

        # Eve takes part in English.
        eve = await client.user(9313, first_name="Eve", language_code="en")
        await eve.send("/start")
        await eve.expect(first_line(settings.consent_text()))
        await eve.press(en("consent.yes"))
        await eve.expect(week_en)
        await weekly_in(eve, settings, en, said="More staff on Fridays")

        # Half-way through the week Ola moves to English and Amir to Polish: the pulse that
        # goes to everyone reaches each of them in the language they chose last.
        for person, words, new, new_words in (
            (ola, pl, "en", en),
            (amir, ar, "pl", pl),
        ):
            await person.send("/language")
            menu = await person.expect(words("language.choose"))
            await person.press(native_name(new), menu.message_id)
            await person.expect(first_line(new_words("language.set", language=native_name(new))))
        await jo.send("/stage")
        await jo.expect("The project is in the design stage")
        await jo.press("→ delivery")
        confirm = await jo.expect("Move the project to the delivery stage")
        await jo.press("Yes, move to delivery", confirm.message_id)
        pulse_en = settings.checkin("pulse")
        pulse_pl = polish.checkin("pulse")
        assert pulse_en and pulse_pl
        news_pl = polish.project.stage_messages["delivery"]
        await amir.expect(first_line(news_pl), timeout=10)
        await ola.expect(first_line(settings.project.stage_messages["delivery"]), timeout=10)
        await jo.send("/ask pulse")
        await jo.expect("Sending the Quick pulse to 3 people now.")
        await amir.expect(pulse_pl.title, timeout=10)
        await ola.expect(pulse_en.title, timeout=10)
        await settle(sandbox, app)
        amir_said = bot_texts(amir, await amir.messages())
        assert not any(week_en in text or pulse_en.title in text for text in amir_said)

        db = services_of(app).db
        digest = markdown.render(await content.compute(db, settings, WEEK_OF_NOON))
        out = io.StringIO()
        await export.write_csv(db, out, labels=export.labels_of(settings.checkins, "en"))

    # One digest: everyone's answers counted together under the project's own words.
    week = next(q for q in english_weekly.questions if q.id == "change")
    assert f"{week.options[0]}: 3" in digest or f"{week.options[0]} | 3" in digest, digest
    # One export: each answer once, with the option ids every language shares, and the
    # language it was given in.
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    change = sorted((r["answer"], r["language"]) for r in table if r["question_id"] == "change")
    assert change == [(week.options[0], language) for language in ("ar", "en", "pl")]
    words = {r["language"]: r["answer"] for r in table if r["question_id"] == "anything-else"}
    assert words == {
        "pl": "Więcej godzin otwarcia w weekend",
        "ar": "أريد مكانًا آمنًا للنوم",
        "en": "More staff on Fridays",
    }


async def test_a_question_sent_again_after_an_outage_is_in_the_persons_language(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(SHIPPED_EXAMPLE, nudges__quiet_hours="null")
    polish, pl = settings.localized("pl"), Texts.load("pl")
    weekly = polish.checkin("weekly")
    assert weekly is not None
    clock = FakeClock(NOON)
    outage = {"on": False}

    async def down(method: str, params: Any) -> None:
        if outage["on"] and method == "sendMessage":
            raise ApiError(502, "Bad Gateway")

    sandbox.hooks.append(down)
    async with running(settings, clock=clock) as app:
        ola = await client.user(9321, first_name="Ola", language_code="pl")
        await ola.send("/start")
        consent = await ola.expect(first_line(polish.consent_text()))
        await ola.press(pl("consent.yes"), consent.message_id)
        await ola.expect(first_line(weekly.questions[0].text))
        outage["on"] = True
        await ola.press("4")
        await settle(sandbox, app, timeout=20)  # stored; its next question could not go out
        outage["on"] = False
        clock.advance(timedelta(minutes=1))
        assert await checkin.resend_undelivered(app) == 1
        again = await ola.expect(first_line(weekly.questions[2].text))
    assert pl("checkin.done") in again.button_texts()
    assert pl("checkin.progress", number=2, total=5).split()[0] in again.text
