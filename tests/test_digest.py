"""The weekly digest: figures worked out by hand, small groups hidden, quotes only with consent,
ISO weeks across clock changes, exactly-once delivery across a restart, and a real browser."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from html import escape
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.digest import content, html, markdown, tables, weeks
from bot.digest.content import Digest
from bot.digest.power import Share
from bot.digest.redact import redact
from bot.handlers import weekly_digest as delivery
from bot.settings import Settings, load_settings
from storage.db import Database, utc_text
from tests.conftest import EXAMPLE, ROOT, join, rows, running

WEEK = "2026-W10"  # Mon 2 Mar - Sun 8 Mar 2026, GMT all week
TEAM_CHAT = -100700
SCREENSHOT = ROOT / "docs" / "digest.png"


def at(text: str) -> str:
    """'2026-03-03 10:00' (UTC) as stored."""
    return utc_text(datetime.fromisoformat(text).replace(tzinfo=UTC))


@pytest.fixture
def plain_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    return load_settings(EXAMPLE)


class Fixture:
    """A hand-made database: people, answers, nudges, updates, alerts, quote consent.

    Rows are written as the bot writes them: a check-in that answers a nudge links its
    completion to the occurrence and marks that answered at the same moment."""

    def __init__(self, db: Database):
        self.db = db
        self.sessions = 0

    async def person(
        self,
        pid: str,
        created: str,
        status: str = "active",
        unreachable: bool = False,
        unreachable_since: str | None = None,  # when unreachable; default: since joining
    ) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO participants (id, pseudonym, chat_id, status, consent_version,"
                " consented_at, created_at, unreachable_since) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                (
                    pid,
                    f"code-{pid}",
                    770000000 + int(pid[1:]),
                    status,
                    at(created),
                    at(created),
                    at(unreachable_since or created) if unreachable else None,
                ),
            )

    async def session(
        self,
        pid: str,
        checkin: str,
        when: str,
        answers: dict[str, Any],
        stage: str = "delivery",
        completed: bool = True,
        voice: bool = False,
        nudge: str | None = None,
    ) -> None:
        """One check-in session; ``nudge`` is the occurrence key it answers (None: /checkin
        with no nudge waiting)."""
        self.sessions += 1
        sid = f"s{self.sessions}"
        async with self.db.transaction() as tx:
            for question, value in answers.items():
                kind = {"week": "scale", "right-now": "scale", "listened": "yesno"}.get(
                    question, "choice" if question == "change" else "text"
                )
                await tx.execute(
                    "INSERT INTO answers (participant_id, session_id, checkin_id, question_id,"
                    " kind, value, file_path, stage, answered_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        pid,
                        sid,
                        checkin,
                        question,
                        kind,
                        None if value is None else json.dumps(value),
                        "note.ogg" if voice else None,
                        stage,
                        at(when),
                    ),
                )
            if completed:
                occurrence = None
                if nudge is not None:
                    row = await tx.one(
                        "SELECT id FROM occurrences WHERE participant_id = ? AND checkin_id = ?"
                        " AND occurrence_key = ?",
                        (pid, checkin, nudge),
                    )
                    assert row is not None, nudge
                    occurrence = row["id"]
                    await tx.execute(
                        "UPDATE occurrences SET status = 'answered', answered_at = ? WHERE id = ?",
                        (at(when), occurrence),
                    )
                await tx.execute(
                    "INSERT INTO completions (session_id, participant_id, checkin_id, stage,"
                    " completed_at, occurrence_id) VALUES (?, ?, ?, ?, ?, ?)",
                    (sid, pid, checkin, stage, at(when), occurrence),
                )

    async def sql(self, sql: str, params: tuple = ()) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(sql, params)


@pytest.fixture
async def db(plain_settings: Settings) -> AsyncIterator[Database]:
    database = await Database.open(plain_settings.storage)
    yield database
    await database.close()


async def build_fixture(db: Database) -> None:
    """W10 (2 to 8 March 2026) worked by hand, with a week before it and weeks after it.

    Everything dated after W10 (marked "later") must not change W10's digest: a late answer,
    a nudge that went out on the Monday after, someone who became unreachable later, a new
    stage, contributions in later weeks and an update that reached someone after the week.
    """
    f = Fixture(db)
    before, new = "2026-02-01 12:00", "2026-03-03 08:00"
    for pid in ("p1", "p2", "p3", "p4"):
        await f.person(pid, before)
    await f.person("p5", before, unreachable=True)  # active but unreachable
    await f.person("p6", before, status="paused")
    await f.person("p9", before, status="stopped")
    for pid in ("p7", "p8", "p10"):
        await f.person(pid, new)  # new this week
    await f.person("p11", "2026-03-10 09:00")  # joined after the week: not counted
    # Later: unreachable only from 20 March, so still taking part in W10.
    await f.person("p12", before, unreachable=True, unreachable_since="2026-03-20 09:00")

    # The project entered design, then delivery (so both stages are "reached").
    await f.sql(
        "INSERT INTO stages (stage, entered_at, source) VALUES ('design', ?, 'config')",
        (at("2026-01-01 09:00"),),
    )
    await f.sql(
        "INSERT INTO stages (stage, entered_at, source) VALUES ('delivery', ?, 'x')",
        (at("2026-02-20 09:00"),),
    )
    # Later: commissioning from Monday 16 March (W12): not reached in W10.
    await f.sql(
        "INSERT INTO stages (stage, entered_at, source) VALUES ('commissioning', ?, 'x')",
        (at("2026-03-16 09:00"),),
    )

    # Nudges due this week; Telegram confirmed each opening message (sent_at) except the
    # failed one. The check-ins below answer them (status 'answered', answered_at).
    for pid, checkin, status in (
        ("p1", "weekly", "open"),
        ("p2", "weekly", "open"),
        ("p3", "weekly", "open"),
        ("p4", "weekly", "open"),
        ("p7", "weekly", "open"),
        ("p8", "weekly", "open"),  # answered only later, on 10 March
        ("p10", "weekly", "expired"),
        ("p5", "weekly", "failed"),
        ("p1", "pulse", "open"),
        ("p2", "pulse", "open"),
    ):
        await f.sql(
            "INSERT INTO occurrences (participant_id, checkin_id, occurrence_key, due_at, status,"
            " sent_at) VALUES (?, ?, ?, ?, ?, CASE WHEN ?5 = 'failed' THEN NULL ELSE ?4 END)",
            (pid, checkin, f"{checkin}-{pid}", at("2026-03-02 10:00"), status),
        )
    # Due on Sunday evening, sent on the Monday after (quiet hours): not asked in W10.
    await f.sql(
        "INSERT INTO occurrences (participant_id, checkin_id, occurrence_key, due_at, status,"
        " sent_at) VALUES ('p12', 'weekly', 'weekly-p12', ?, 'open', ?)",
        (at("2026-03-08 20:00"), at("2026-03-09 09:00")),
    )

    # Previous week (W09), design stage: everyone said 3; p1 and p12 typed words too.
    for pid in ("p1", "p2", "p3", "p4"):
        await f.session(pid, "weekly", "2026-02-25 10:00", {"week": 3}, stage="design")
    await f.session(
        "p1", "weekly", "2026-02-26 10:00", {"anything-else": "Old words"}, stage="design"
    )
    await f.session(
        "p12", "weekly", "2026-02-26 11:00", {"anything-else": "Earlier words"}, stage="design"
    )

    # This week (W10), delivery stage; p1-p4 and p7 answer their nudges.
    w = "2026-03-03 10:00"
    await f.session(
        "p1",
        "weekly",
        w,
        {
            "week": 4,
            "listened": "yes",
            "change": "Opening hours",
            "anything-else": "My name is Sarah, call me on 07700 900123 or a@b.org",
        },
        nudge="weekly-p1",
    )
    await f.session(
        "p2",
        "weekly",
        w,
        {
            "week": 4,
            "listened": "yes",
            "change": "Opening hours",
            "anything-else": "Not for quoting",
        },
        nudge="weekly-p2",
    )
    await f.session(
        "p3",
        "weekly",
        w,
        {
            "week": 4,
            "listened": "yes",
            "change": "Waiting times",
            "anything-else": "Also not for quoting",
        },
        nudge="weekly-p3",
    )
    await f.session(
        "p4",
        "weekly",
        w,
        {"week": 5, "listened": "no", "anything-else": "x.ogg"},
        voice=True,
        nudge="weekly-p4",
    )
    await f.session("p7", "weekly", w, {"week": 2, "listened": "no"}, nudge="weekly-p7")
    await f.session("p8", "weekly", w, {"week": 1, "listened": None}, completed=False)
    # The pulse: p1 and p2 answer their nudges; p1 once more with /checkin, no nudge waiting.
    await f.session("p1", "pulse", "2026-03-04 11:00", {"right-now": 4}, nudge="pulse-p1")
    await f.session("p1", "pulse", "2026-03-05 11:00", {"right-now": 4})
    await f.session("p2", "pulse", "2026-03-05 12:00", {"right-now": 2}, nudge="pulse-p2")

    # Later weeks.
    # A late-Sunday answer in the next week does not count.
    await f.session("p3", "weekly", "2026-03-09 00:30", {"week": 1})
    # p8 finishes W10's nudge on 10 March: asked in W10, but not answered by its end.
    await f.session("p8", "weekly", "2026-03-10 09:00", {"week": 2}, nudge="weekly-p8")
    # p12 contributes to delivery only in W11 (so is not yet at every stage in W10), and p1
    # to commissioning in W12.
    await f.session("p12", "weekly", "2026-03-11 10:00", {"week": 3}, nudge="weekly-p12")
    await f.session("p1", "weekly", "2026-03-17 10:00", {"week": 5}, stage="commissioning")

    # Quote consent: p1 yes, p2 no, p3 asked but no answer, p4 yes (but a voice note).
    for pid, may in (("p1", 1), ("p2", 0), ("p3", None), ("p4", 1)):
        await f.sql(
            "INSERT INTO quote_consent (participant_id, may_quote, asked_at) VALUES (?, ?, ?)",
            (pid, may, at(before)),
        )

    # "You said, we did": one update this week (4 contributors; 3 reached this week, p4 only on
    # the Monday after), one last week.
    await f.sql(
        "INSERT INTO updates (id, created_at, author, text, contributors) VALUES"
        " (1, ?, 'Jo', 'We changed the hours', 4)",
        (at("2026-03-04 15:00"),),
    )
    await f.sql(
        "INSERT INTO updates (id, created_at, author, text, contributors) VALUES"
        " (2, ?, 'Jo', 'Older', 4)",
        (at("2026-02-24 15:00"),),
    )
    for pid, sent in (
        ("p1", "2026-03-04 15:01"),
        ("p2", "2026-03-04 15:01"),
        ("p3", "2026-03-08 23:59"),
        ("p4", "2026-03-09 08:00"),  # later
    ):
        await f.sql(
            "INSERT INTO outbox (participant_id, message_key, text, status, next_at, sent_at)"
            " VALUES (?, 'update:1', 'x', 'sent', ?, ?)",
            (pid, at("2026-03-04 15:00"), at(sent)),
        )
    await f.sql(
        "INSERT INTO outbox (participant_id, message_key, text, status, next_at, sent_at)"
        " VALUES ('p1', 'update:2', 'x', 'sent', ?, ?)",
        (at("2026-02-24 15:00"), at("2026-02-24 15:01")),
    )
    # Did we get it right? Both updates were written in delivery. By the end of W10: yes from
    # p1, p2 and p3 (update 1); partly from p1 and no from p2 (update 2, the week before). p4's
    # no came on the Monday after.
    for update_id, pid, verdict, when in (
        (1, "p1", "yes", "2026-03-04 16:00"),
        (1, "p2", "yes", "2026-03-05 09:30"),
        (1, "p3", "yes", "2026-03-08 23:59"),
        (1, "p4", "no", "2026-03-09 08:30"),  # later
        (2, "p1", "partly", "2026-02-25 10:00"),
        (2, "p2", "no", "2026-02-26 10:00"),
    ):
        await f.sql(
            "INSERT INTO update_feedback (update_id, participant_id, verdict, answered_at)"
            " VALUES (?, ?, ?, ?)",
            (update_id, pid, verdict, at(when)),
        )

    # Sharing power. Decision 1 (delivery): 6 asked, 3 voted, closed, update 1 says what the
    # team did. Decision 2: put this week, still open. Decision 3: later. Suggestions: p1's
    # (delivery, adopted), p2's (delivery, not now), p3's in design (adopted), p4's later.
    for number, opened, status, asked, voted in (
        (1, "2026-03-02 10:00", "closed", 6, 3),
        (2, "2026-03-05 10:00", "open", None, None),
        (3, "2026-03-10 10:00", "open", None, None),  # later
    ):
        await f.sql(
            "INSERT INTO decisions (id, question, options, method, audience, stage, created_at,"
            " opened_at, closes_at, status, asked, voted)"
            " VALUES (?, 'Which day?', '[\"a\", \"b\"]', 'plurality', 'everyone', 'delivery',"
            " ?, ?, ?, ?, ?, ?)",
            (number, at(opened), at(opened), at(opened), status, asked, voted),
        )
    await f.sql("UPDATE updates SET decision_id = 1 WHERE id = 1")
    for pid, made, status in (
        ("p1", "2026-03-03 12:00", "adopted"),
        ("p2", "2026-03-04 12:00", "not_now"),
        ("p3", "2026-02-10 12:00", "adopted"),  # in design
        ("p4", "2026-03-09 12:00", "adopted"),  # later
    ):
        await f.sql(
            "INSERT INTO suggestions (participant_id, text, created_at, status)"
            " VALUES (?, 'an idea', ?, ?)",
            (pid, at(made), status),
        )

    # Alerts: three people raised one this week; one taken this week, one only later.
    for pid, raised, taken in (
        ("p1", "2026-03-03 10:05", "2026-03-03 11:00"),
        ("p2", "2026-03-04 10:05", "2026-03-10 09:00"),
        ("p3", "2026-03-05 10:05", None),
        ("p4", "2026-02-25 10:05", None),  # last week
    ):
        await f.sql(
            "INSERT INTO alerts (participant_id, category, raised_at, taken_at)"
            " VALUES (?, 'suicide', ?, ?)",
            (pid, at(raised), at(taken) if taken else None),
        )


@pytest.fixture
async def digest(db: Database, plain_settings: Settings) -> Digest:
    await build_fixture(db)
    return await content.compute(db, plain_settings, WEEK)


async def test_figures_match_the_hand_worked_fixture(digest: Digest) -> None:
    p = digest.participation
    # active: p1-p4, p7, p8, p10, and p12 (unreachable only from 20 March); p5 is unreachable,
    # p11 joined later; paused (p6), stopped (p9) and unreachable (p5): 1 each, hidden.
    assert (p.active, p.new, p.paused, p.stopped, p.unreachable) == (8, 3, None, None, None)

    weekly, pulse = digest.checkins
    # Weekly: asked 7 (p1-p4, p7 answered; p8 open; p10 expired). Not asked: p5 (failed, never
    # confirmed) and p12 (sent on the Monday after). Answered by Sunday: 5 (p8 only on 10 March).
    assert (weekly.asked, weekly.answered) == (7, 5)
    assert weekly.response_rate == pytest.approx(100 * 5 / 7)
    # Started: six sessions with an answer this week; completed: five, all answering nudges.
    assert (weekly.started, weekly.completed, weekly.unprompted) == (6, 5, 0)
    assert weekly.completion_rate == pytest.approx(100 * 5 / 6)
    # Pulse: two people only -> everything hidden.
    assert (pulse.asked, pulse.answered, pulse.response_rate) == (None, None, None)
    assert (pulse.started, pulse.completed, pulse.completion_rate) == (None, None, None)
    assert pulse.unprompted is None

    questions = {q.question_id: q for q in digest.questions}
    week = questions["week"]
    # 4, 4, 4, 5, 2, 1 from six people: mean 20/6; 1, 2 and 5 come from one person each.
    assert week.people == 6
    assert week.mean == pytest.approx(20 / 6)
    assert week.previous_mean == pytest.approx(3.0)
    assert week.change == pytest.approx(20 / 6 - 3)
    assert [(b.label, b.count) for b in week.buckets] == [
        ("1", None),
        ("2", None),
        ("3", 0),
        ("4", 3),
        ("5", None),
    ]
    four = week.buckets[3]
    assert four.share == pytest.approx(50.0) and four.previous_share == pytest.approx(0.0)
    assert week.buckets[2].change == pytest.approx(-100.0)  # everyone said 3 last week

    listened = questions["listened"]
    # yes 3, no 2 (p8 skipped): "no" is hidden, so "yes" is hidden too (else 5 - 3 = 2),
    # and so is the share of yes.
    assert listened.people == 5
    assert [(b.label, b.count) for b in listened.buckets] == [("Yes", None), ("No", None)]
    assert listened.mean is None and listened.previous_mean is None

    change = questions["change"]
    assert change.people == 3  # shown, but each option has fewer than 3
    assert all(b.count in (None, 0) for b in change.buckets)
    assert [b.label for b in change.buckets if b.count is None] == [
        "Opening hours",
        "Waiting times",
    ]
    assert questions["right-now"].hidden  # two people

    stages = {s.stage: s for s in digest.stages}
    # design since the start: p1-p4 (3 in W09) and p12 (typed words in W09).
    assert (stages["design"].this_week, stages["design"].since_start) == (0, 5)
    # delivery this week: p1, p2, p3, p4, p7, p8 (p8's week answer counts; the skip does not).
    # Since the start, up to Sunday: the same six (p3 on Monday 00:30, p8 and p12 later: no).
    assert (stages["delivery"].this_week, stages["delivery"].since_start) == (6, 6)
    # Commissioning began on 16 March: not reached in W10, and p1's answer there is later.
    commissioning = stages["commissioning"]
    assert (commissioning.this_week, commissioning.since_start) == (0, 0)
    assert not commissioning.reached
    assert digest.reached_stages == ["design", "delivery"]
    assert digest.every_stage == 4  # p1-p4 (p12 reached delivery only in W11)

    # Update 1 reached p1, p2 and p3 by Sunday 23:59; p4 only on the Monday after.
    assert (digest.loop.updates, digest.loop.contributors, digest.loop.reached) == (1, 4, 3)
    assert digest.loop.share == pytest.approx(75.0)
    # Yes from three people; partly and no from one each, so both hidden (and, two hidden,
    # neither can be worked out from the other).
    assert [(a.stage, a.yes, a.partly, a.no) for a in digest.loop.agreement] == [
        ("delivery", 3, None, None)
    ]
    # Taken this week: p1 only (p2's was taken on 10 March).
    assert (digest.alerts.raised, digest.alerts.taken) == (3, None)

    # The tokenism meter, counted by hand up to Sunday night.
    assert digest.power is not None
    design, delivery = digest.power.stages  # the stages reached by then
    # Design: p3's adopted suggestion (10 Feb), and answers (input), nothing else.
    assert (design.label, design.decisions, design.suggestions, design.adopted) == (
        "design",
        0,
        1,
        1,
    )
    assert design.turnout == Share(None) and design.heard_back == Share(None)
    assert design.input
    # Delivery: decisions 1 and 2 (3 is later); 3 of the 6 asked in the closed one voted, and
    # update 1 says what the team did; p1's and p2's suggestions (p4's is later), one adopted;
    # "did we get it right?": yes 3, partly 1, no 1 by Sunday (p4's no is later), so the share
    # rests on two people who did not say yes: hidden; heard back: 3 of update 1's 4
    # contributors and 1 of update 2's 4 by Sunday (p4 on the Monday after): 4 of 8.
    assert (delivery.decisions, delivery.closed, delivery.explained) == (2, 1, 1)
    assert delivery.turnout == Share(50.0)
    assert (delivery.suggestions, delivery.adopted) == (2, 1)
    assert delivery.got_it_right.hidden
    assert delivery.heard_back == Share(50.0)
    weeks_ = {row.label: row for row in digest.power.weeks}
    assert list(weeks_)[-1] == WEEK and len(weeks_) == 8
    w10, w09, w07 = weeks_[WEEK], weeks_["2026-W09"], weeks_["2026-W07"]
    # This week: both decisions; the three yeses (all yes: shown); update 1 reached 3 of 4
    # (as the digest's "you said, we did" says: who was reached, not what anyone said).
    assert (w10.decisions, w10.closed, w10.suggestions, w10.adopted) == (2, 1, 2, 1)
    assert w10.got_it_right == Share(100.0) and w10.heard_back == Share(75.0)
    # The week before: partly and no (two people: hidden); update 2 reached 1 of 4 (hidden).
    assert w09.got_it_right.hidden and w09.heard_back.hidden and w09.decisions == 0
    assert (w07.suggestions, w07.adopted) == (1, 1)
    meter = tables.render_power(digest)
    assert "power by stage,delivery,turnout percent,,50.0," in meter
    assert "power by stage,delivery,got it right percent,fewer than 3,," in meter


async def test_quotes_only_with_consent_and_redacted(digest: Digest) -> None:
    assert [q.text for q in digest.quotes] == ["My name is [name], call me on [phone] or [email]"]
    text = markdown.render(digest) + html.render(digest, with_charts=False)
    for secret in ("Sarah", "07700", "a@b.org", "Not for quoting", "Old words", "x.ogg"):
        assert secret not in text


async def test_no_ids_or_code_names_in_any_format(digest: Digest) -> None:
    text = markdown.render(digest) + html.render(digest) + tables.render(digest)
    for pid in ("p1", "p2", "p10"):
        assert f"code-{pid}" not in text
    assert "77000000" not in text  # chat ids


async def test_markdown_and_csv_say_fewer_than(digest: Digest) -> None:
    md = markdown.render(digest)
    assert "Paused: fewer than 3" in md
    assert "Taking part: 8 (new this week: 3)" in md
    assert "answered 5 of 7 asked (71%)" in md
    assert "average 3.3 (+0.3 on last week)" in md
    assert len(markdown.summary(digest)) < 1000
    text = tables.render(digest)
    assert text.startswith("\ufeffweek,section,item")
    assert f"{WEEK},participation,paused,people,fewer than 3,," in text
    assert f"{WEEK},question,weekly/week,answer=4,3,50.0,+50.0" in text
    assert (
        "Did the updates written in the delivery stage get it right? Yes 3, partly fewer than 3,"
        " no fewer than 3" in md
    )
    assert f"{WEEK},loop,got it right (delivery),yes,3,," in text
    assert f"{WEEK},loop,got it right (delivery),no,fewer than 3,," in text


@pytest.mark.parametrize("k", [1, 5])
async def test_min_group_size_comes_from_config(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    monkeypatch.setenv("EVERYSTAGE_DIGEST__MIN_GROUP_SIZE", str(k))
    settings = load_settings(EXAMPLE)
    await build_fixture(db)
    d = await content.compute(db, settings, WEEK)
    if k == 1:
        assert d.participation.paused == 1 and d.alerts.taken == 1
        assert d.participation.unreachable == 1  # p5; p12 only from 20 March
        assert [b.count for b in d.questions[0].buckets] == [1, 1, 0, 3, 1]
        weekly, pulse = d.checkins
        figures = ("asked", "answered", "unprompted", "started", "completed")
        assert [getattr(weekly, name) for name in figures] == [7, 5, 0, 6, 5]
        # The pulse: p1's and p2's nudges, both answered; p1's second pulse was a /checkin
        # with no nudge waiting: completed, not asked. 3 completed = 2 answered + 1 without.
        assert [getattr(pulse, name) for name in figures] == [2, 2, 1, 3, 3]
        assert pulse.response_rate == pytest.approx(100.0)
    else:
        assert d.participation.active == 8 and d.participation.new is None
        assert d.every_stage is None and d.loop.contributors is None
        assert "fewer than 5" in markdown.render(d)


def test_iso_weeks_across_the_clock_changes() -> None:
    zone = "Europe/London"
    # Autumn: BST ends on Sunday 25 October 2026, so that week has 169 hours.
    start, end = weeks.bounds("2026-W43", zone)
    assert start.astimezone(UTC) == datetime(2026, 10, 18, 23, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=169)
    assert weeks.week_of(datetime(2026, 10, 18, 23, 30, tzinfo=UTC), zone) == "2026-W43"
    assert weeks.week_of(datetime(2026, 10, 18, 22, 59, tzinfo=UTC), zone) == "2026-W42"
    assert weeks.week_of(datetime(2026, 10, 25, 23, 30, tzinfo=UTC), zone) == "2026-W43"
    # Spring: BST starts on Sunday 29 March 2026, so that week has 167 hours.
    start, end = weeks.bounds("2026-W13", zone)
    assert start.astimezone(UTC) == datetime(2026, 3, 23, 0, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=167)
    assert weeks.week_of(datetime(2026, 3, 29, 23, 30, tzinfo=UTC), zone) == "2026-W14"
    # Year ends: 31 December 2026 is in 2026-W53; 1 January 2027 too.
    assert weeks.week_of(datetime(2027, 1, 1, 12, tzinfo=UTC), zone) == "2026-W53"
    # Due: Monday 09:00 local after the week, in BST or GMT as it falls.
    due = weeks.due_at("2026-W43", zone, "mon", time(9, 0))
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    due = weeks.due_at("2026-W13", zone, "mon", time(9, 0))
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        weeks.parse_week("2026-W54")


async def test_answers_either_side_of_the_autumn_change(
    db: Database, plain_settings: Settings
) -> None:
    f = Fixture(db)
    for i in range(1, 4):
        await f.person(f"p{i}", "2026-10-01 09:00")
    # 00:30 BST on Monday 19 Oct (in W43) and 23:30 GMT on Sunday 25 Oct (still W43).
    await f.session("p1", "weekly", "2026-10-18 23:30", {"week": 5})
    await f.session("p2", "weekly", "2026-10-25 23:30", {"week": 5})
    await f.session("p3", "weekly", "2026-10-25 23:45", {"week": 5})
    # 23:59 BST on Sunday 18 Oct: the week before.
    await f.session("p3", "weekly", "2026-10-18 22:59", {"week": 1})
    d = await content.compute(db, plain_settings, "2026-W43")
    week = d.questions[0]
    assert week.people == 3 and week.mean == pytest.approx(5.0)


def test_redaction() -> None:
    assert redact("I'm Dave and my mate Kevin came too") == "I'm [name] and my mate [name] came too"
    assert redact("ring +44 (0)20 7946 0000 or 0161 496 0000") == "ring [phone] or [phone]"
    assert redact("text @riverside_jo or jo.b@example.co.uk") == "text [handle] or [email]"
    assert redact("Mrs Patel was kind. Monday was hard") == "Mrs [name] was kind. Monday was hard"
    assert redact("I waited 3 hours, from 9 till 12, at the NHS clinic") == (
        "I waited 3 hours, from 9 till 12, at the NHS clinic"
    )


def test_cli_digest_and_week_argument(plain_settings: Settings, tmp_path: Path) -> None:
    from bot.cli import main

    async def seed() -> None:
        database = await Database.open(plain_settings.storage)
        await build_fixture(database)
        await database.close()

    asyncio.run(seed())
    out = tmp_path / "digest.md"
    args = ["digest", "--config", str(EXAMPLE), "--week", WEEK]
    assert main([*args, "--format", "md", "--output", str(out)]) == 0
    assert "Taking part: 8" in out.read_text(encoding="utf-8")
    assert main(["digest", "--config", str(EXAMPLE), "--week", "2026-48"]) == 2
    csv_out = tmp_path / "digest.csv"
    assert main([*args, "--format", "csv", "--output", str(csv_out)]) == 0
    assert csv_out.read_bytes().startswith(b"\xef\xbb\xbfweek,")
    html_out = tmp_path / "digest.html"
    assert main([*args, "--output", str(html_out)]) == 0
    assert html_out.read_text(encoding="utf-8").startswith("<!doctype html>")


# ---------------------------------------------------------------------------------------------
# Delivery through the real Application and the sandbox.


@pytest.fixture
def team_settings(make_settings: Any) -> Settings:
    return make_settings(coordinators__chat_id=str(TEAM_CHAT), coordinators__user_ids="[9001]")


def team_messages(sandbox: Any) -> list[dict[str, Any]]:
    chat = sandbox.world.chat(TEAM_CHAT)
    return [m for m in chat.messages.values() if m["from"]["is_bot"]]


async def test_weekly_delivery_is_exactly_once_across_a_restart(
    client: Any, sandbox: Any, team_settings: Settings
) -> None:
    await client.user(9001, first_name="Jo")
    await client.group(TEAM_CHAT, "Co-production team", added_by=9001)
    seed = await Database.open(team_settings.storage)
    await build_fixture(seed)
    await seed.close()
    p1, p5 = await client.user(770000001), await client.user(770000005)  # the fixture's chats
    for person in (p1, p5):
        await person.send("hello")  # they have started the bot, so it may write to them
    # Monday 9 March 2026, 09:05 in London: the W10 digest is due.
    clock = FakeClock(datetime(2026, 3, 9, 9, 5, tzinfo=UTC))
    async with running(team_settings, clock=clock) as app:
        jobs = {job.name: job for job in app.job_queue.jobs()}
        weekly = jobs[delivery.WEEKLY_JOB]
        assert weekly.next_t.astimezone(datetime.now().astimezone().tzinfo).weekday() == 0
        assert await delivery.deliver_due(app) == WEEK
        assert await delivery.deliver_due(app) is None  # the same process again
        # With the digest, the people who answered a check-in that week hear what everyone
        # said in it (p1 did; p5 answered nothing in W10).
        heard = await p1.expect("📣 What we heard: Weekly check-in")
        assert "How has your week been?" in heard.text
        assert not [m for m in await p5.messages() if "What we heard" in m.text]
    sent = team_messages(sandbox)
    assert len(sent) == 3
    assert sent[0]["text"].startswith(f"📊 Weekly digest {WEEK}")
    assert sent[1]["document"]["file_name"] == f"digest-{WEEK}.html"
    # The sandbox has no sendPhoto, so the chart arrives by the fallback: as a PNG file.
    assert sent[2]["photo"][-1]["width"] > 300  # the chart, as a photo
    async with running(team_settings, clock=clock) as app:
        assert await delivery.deliver_due(app) is None  # after a restart
        clock.advance(timedelta(days=7))
        assert await delivery.deliver_due(app) == "2026-W11"
    assert len(team_messages(sandbox)) == 6
    claimed = rows(team_settings, "SELECT week, sent_at IS NOT NULL FROM digests ORDER BY week")
    assert claimed == [("2026-W10", 1), ("2026-W11", 1)]
    folder = delivery.output_dir(team_settings)
    assert (folder / f"digest-{WEEK}.html").exists() and (folder / f"digest-{WEEK}.csv").exists()


async def test_digest_command_is_for_coordinators_only(
    client: Any, sandbox: Any, team_settings: Settings
) -> None:
    async with running(team_settings):
        stranger = await client.user(8001)
        await stranger.send("/digest")
        await stranger.expect("Sorry, that's only for the project team.")
        coordinator = await client.user(9001, first_name="Jo")
        await coordinator.send("/digest 2026-W99")
        await coordinator.expect("Send /digest for this week so far")
        await coordinator.send(f"/digest {WEEK}")
        await coordinator.expect(f"📊 Weekly digest {WEEK}")
    assert rows(team_settings, "SELECT count(*) FROM digests") == [(0,)]


async def test_quote_consent_is_asked_once_and_changeable_in_settings(
    client: Any, team_settings: Settings
) -> None:
    async with running(team_settings):
        user = await client.user(8300)
        await user.send("/start")
        await user.expect("Is that OK with you?")
        await user.press("✅ Yes, I agree")
        await user.expect("How has your week been?")
        await user.press("4")
        await user.expect("Which parts")
        await user.press("☐ Meals")
        await user.press("Done ✔")
        await user.expect("Did staff listen")
        await user.press("Yes")
        await user.expect("change one thing")
        await user.press("Opening hours")
        await user.expect("Anything else")
        await user.send("The Riverside hours")
        await user.expect("Your answers go to the team")
        await user.expect(
            "May we quote your words, without your name, in reports and in the summaries"
        )
        await user.press("Yes, you can")
        await user.expect("We may quote your words")
        await user.send("/settings")
        await user.expect("Your settings")
        await user.press("Quoting my words")
        await user.expect("Right now: yes")
        await user.press("No thanks")
        await user.expect("We won't quote your words")
        await user.send("/checkin")
        await user.expect("How has your week been?")
    assert rows(team_settings, "SELECT may_quote FROM quote_consent") == [(0,)]


# ---------------------------------------------------------------------------------------------
# The HTML digest in a real browser.


async def test_html_digest_in_headless_chromium(digest: Digest, tmp_path: Path) -> None:
    from tests.test_demo import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.async_api import async_playwright

    page_path = tmp_path / "digest.html"
    page_path.write_text(html.render(digest), encoding="utf-8")
    assert not re.search(r"(src|href)=.https?:", page_path.read_text())
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(page_path.as_uri())
            assert await page.locator("h1").inner_text() == digest.project
            assert await page.locator("svg").count() >= 2
            # Readable on a phone: nothing wider than the screen.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390
            assert all(url.startswith("file://") for url in requests)
            shot = tmp_path / "digest.png"
            await page.screenshot(path=str(shot), full_page=True)
            pdf = await page.pdf(format="A4")
            assert pdf.startswith(b"%PDF")
        finally:
            await browser.close()
    if not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot.read_bytes())


# ---------------------------------------------------------------------------------------------
# Asked, answered and completed when a check-in was started with /checkin.


async def finish_weekly(user: Any) -> None:
    """Answer the weekly check-in from its first question to the end."""
    await user.press("4")
    await user.expect("Which parts")
    await user.press("☐ Meals")
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("Yes")
    await user.expect("change one thing")
    await user.press("Opening hours")
    await user.expect("Anything else")
    await user.send("Nothing more")
    await user.expect("Your answers go to the team")


async def test_a_checkin_without_a_nudge_is_completed_but_not_asked(
    client: Any, make_settings: Any
) -> None:
    settings = make_settings(
        coordinators__chat_id=str(TEAM_CHAT),
        coordinators__user_ids="[9001]",
        digest__min_group_size="1",
    )
    clock = FakeClock(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # Wednesday of W10, GMT
    async with running(settings, clock=clock):
        # Ann joins; her first check-in starts at once, with no nudge: she finishes it.
        ann = await client.user(8401, first_name="Ann")
        await join(ann)
        await finish_weekly(ann)
        # Bob joins and stops at the first question.
        bob = await client.user(8402, first_name="Bob")
        await join(bob)
        # The team asks everyone: Ann and Bob each get the nudge; Bob answers it.
        coordinator = await client.user(9001, first_name="Jo")
        await coordinator.send("/ask weekly")
        await coordinator.expect("to 2 people")
        await ann.expect("Time for the Weekly check-in")
        await bob.expect("Time for the Weekly check-in")
        await bob.press("▶ Start now")
        await bob.expect("How has your week been?")
        await finish_weekly(bob)
    db = await Database.open(settings.storage)
    try:
        d = await content.compute(db, settings, WEEK)
    finally:
        await db.close()
    (weekly,) = d.checkins
    # Asked: the two nudges that reached Ann and Bob. Answered: Bob's. Ann's own check-in is
    # "without a nudge": completed, but neither asked nor answered.
    assert (weekly.asked, weekly.answered, weekly.unprompted) == (2, 1, 1)
    assert (weekly.started, weekly.completed) == (2, 2)
    assert weekly.response_rate == pytest.approx(50.0)
    assert weekly.completion_rate == pytest.approx(100.0)
    md = markdown.render(d)
    assert "answered 1 of 2 asked (50%); without a nudge 1; completed 2 of 2 started (100%)" in md
    # Both renderers say what the figures count.
    page = html.render(d, with_charts=False)
    for term, meaning in content.LEGEND:
        assert f"- _{term}_: {meaning}" in md
        assert f"<b>{term}</b>: {escape(meaning)}" in page
