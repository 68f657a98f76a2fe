"""The involvement record: hand-counted numbers from a database built through storage."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.sandbox import SandboxClient
from bot.settings import Settings, load_settings
from storage import involvement, outbox, participants, suggestions, you_said
from storage.db import Database, utc_text
from storage.participants import NewAnswer
from tests.conftest import EXAMPLE, join, rows, tap

MINUTES = {"weekly": 3, "design-reflection": 5, "pulse": 1}  # as in config.example.toml


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


async def complete(
    db: Database, person: str, checkin: str, stage: str, when: datetime, *answers: NewAnswer
) -> None:
    plan = participants.SessionPlan(checkin, stage, "{}", 1)
    session = await participants.start_session(db, person, plan, when)
    assert await participants.save_step(db, session, "{}", list(answers), None, when)


async def build(path: Path) -> dict[str, str]:
    """Three people; returns pseudonym by name."""
    db = await Database.open(path)
    try:
        ana, _ = await participants.consent(db, 777001, 1, at(2, 1), cohort="Riverside drop-in")
        ben, _ = await participants.consent(db, 777002, 1, at(2, 1))
        cat, _ = await participants.consent(db, 777003, 1, at(2, 1))  # never answers
        week = NewAnswer("week", "scale", 4)
        # Ana: weekly (3 min) and a reflection with its follow-up (5 min) in design, weekly in
        # delivery (3 min), and a check-in no longer configured (0 min).
        await complete(db, ana.id, "weekly", "design", at(3, 2), week)
        await complete(
            db,
            ana.id,
            "design-reflection",
            "design",
            at(3, 3),
            NewAnswer("first-contact", "reflection", "A warm welcome"),
            NewAnswer("first-contact.follow_up", "text", "Listen first"),
        )
        await complete(db, ana.id, "weekly", "delivery", at(4, 6), week)
        await complete(db, ana.id, "retired", "design", at(3, 9), NewAnswer("q", "text", "x"))
        # Ben: a skipped reflection (5 min, no reflection) in range; a weekly before it.
        await complete(
            db,
            ben.id,
            "design-reflection",
            "design",
            at(3, 4),
            NewAnswer("first-contact", "reflection", None),
        )
        await complete(db, ben.id, "weekly", "design", at(1, 5), week)
        # An update to both weekly contributors and a stage message; only Ana's update is sent.
        published = await you_said.publish(
            db,
            author="9001",
            link=you_said.Link(checkin_id="weekly"),
            text="We changed it",
            message="📣 We changed it",
            consent_version=1,
            now=at(4, 10),
        )
        assert (published.contributors, published.queued) == (2, 2)
        await outbox.queue_outbox(db, [ana.id], "stage:delivery", "News", at(4, 10))
        # Ana suggested twice: once in the period, once before it.
        await suggestions.add(db, ana.id, "Ask about the night shelter", at(3, 20))
        await suggestions.add(db, ana.id, "An earlier idea", at(1, 20))
        # A decision: Ben voted in the period and changed his vote (one decision voted in);
        # Ana voted before the period.
        await db.write(
            "INSERT INTO decisions (id, question, options, method, audience, created_at,"
            " opened_at, closes_at) VALUES (1, 'Which day?', '[\"a\", \"b\"]', 'approval',"
            " 'everyone', ?, ?, ?)",
            (utc_text(at(1, 1)), utc_text(at(1, 1)), utc_text(at(5, 1))),
        )
        for who, option, when in (
            (ben.id, 0, at(3, 2)),
            (ben.id, 1, at(3, 3)),
            (ana.id, 1, at(1, 2)),
        ):
            await db.write(
                "INSERT INTO votes (decision_id, participant_id, option, voted_at)"
                " VALUES (1, ?, ?, ?)",
                (who, option, utc_text(when)),
            )
        for message in await outbox.due(db, at(4, 10)):
            if message.participant_id == ana.id:
                attempt = await outbox.claim(db, message, at(4, 10))
                assert attempt is not None
                await outbox.settle(db, message, attempt, outbox.SENT, at(4, 10))
        return {"ana": ana.pseudonym, "ben": ben.pseudonym, "cat": cat.pseudonym}
    finally:
        await db.close()


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    return load_settings(EXAMPLE)


async def test_records_count_by_hand(configured: Settings) -> None:
    names = await build(configured.storage.path)
    db = await Database.open(configured.storage.path)
    try:
        found = {
            r.pseudonym: r
            for r in await involvement.records(
                db, MINUTES, at(3, 1), datetime(2026, 5, 1, tzinfo=UTC)
            )
        }
        everything = {r.pseudonym: r for r in await involvement.records(db, MINUTES)}
    finally:
        await db.close()
    ana, ben, cat = found[names["ana"]], found[names["ben"]], found[names["cat"]]
    assert ana.by_stage == {"design": 3, "delivery": 1} and ana.checkins_completed == 4
    assert (ana.reflections, ana.updates_received, ana.minutes) == (1, 1, 11)
    assert (ana.suggestions, ben.suggestions) == (1, 0)
    assert everything[names["ana"]].suggestions == 2
    assert (ana.votes, ben.votes, everything[names["ana"]].votes) == (0, 1, 1)
    assert ana.cohort == "Riverside drop-in"
    assert ben.by_stage == {"design": 1}
    assert (ben.reflections, ben.updates_received, ben.minutes) == (0, 0, 5)
    assert cat.empty
    assert everything[names["ben"]].by_stage == {"design": 2}  # January counts over all time
    assert everything[names["ben"]].minutes == 8


def test_the_csv_is_by_pseudonym_and_period(
    configured: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    names = asyncio.run(build(configured.storage.path))
    output = tmp_path / "involvement.csv"
    code = main(
        [
            "involvement",
            "--config",
            str(EXAMPLE),
            "--from",
            "2026-03-01",
            "--to",
            "2026-04-30",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    raw = output.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfpseudonym,")  # a BOM: Excel opens it as UTF-8
    text = raw.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == [
        "pseudonym",
        "cohort",
        "checkins_completed",
        "checkins_design",
        "checkins_delivery",
        "checkins_commissioning",
        "checkins_evaluation",
        "reflections",
        "suggestions",
        "decisions_voted_in",
        "updates_received",
        "minutes",
    ]
    by_name = {row["pseudonym"]: row for row in table}
    assert set(by_name) == {names["ana"], names["ben"]}  # Cat gave nothing: no row
    assert by_name[names["ana"]] == {
        "pseudonym": names["ana"],
        "cohort": "Riverside drop-in",
        "checkins_completed": "4",
        "checkins_design": "3",
        "checkins_delivery": "1",
        "checkins_commissioning": "0",
        "checkins_evaluation": "0",
        "reflections": "1",
        "suggestions": "1",
        "decisions_voted_in": "0",
        "updates_received": "1",
        "minutes": "11",
    }
    assert by_name[names["ben"]]["checkins_completed"] == "1"
    assert by_name[names["ben"]]["minutes"] == "5"
    assert by_name[names["ben"]]["decisions_voted_in"] == "1"
    assert "77700" not in text  # never a chat id

    # The last day is included, in the project's time zone; a later period is empty.
    assert main(["involvement", "--config", str(EXAMPLE), "--from", "2026-04-06", "--to",
                 "2026-04-06", "--output", str(output)]) == 0  # fmt: skip
    [only] = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    assert only["pseudonym"] == names["ana"] and only["checkins_delivery"] == "1"
    assert main(["involvement", "--config", str(EXAMPLE), "--from", "2026-13-01"]) == 2


async def test_mydata_shows_the_involvement_record(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(4701)
    await join(user)
    await user.press("4")
    await user.expect("Which parts")
    await tap(user, "☐ Meals")
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("Yes")
    await user.expect("change one thing")
    await user.press("Opening hours")
    await user.expect("Anything else")
    await user.send("No")
    await user.expect("Thank you")

    await user.send("/mydata")
    summary = await user.expect("Your involvement")
    [(pseudonym,)] = rows(settings, "SELECT pseudonym FROM participants")
    assert "Check-ins finished: 1 in design" in summary.text
    assert "Reflections shared: 0" in summary.text
    assert "about 3 minutes" in summary.text
    assert f"show them your code name {pseudonym}" in summary.text
    document = await user.wait_for_bot_message()
    data = json.loads(await client.download(document.document["file_id"]))
    assert data["involvement"] == {
        "pseudonym": pseudonym,
        "cohort": None,
        "checkins_completed": 1,
        "checkins_by_stage": {"design": 1},
        "reflections": 0,
        "suggestions": 0,
        "decisions_voted_in": 0,
        "updates_received": 0,
        "minutes": 3,
    }
