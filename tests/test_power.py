"""The tokenism meter's arithmetic: per stage and per week, under the small-number rules.
(End to end, through /stats and the digest, in tests/test_decide.py.)"""

from __future__ import annotations

from bot.digest import power
from bot.digest.power import Share, share
from storage.power import DecisionRow, RawPower, SuggestionRow, UpdateRow, VerdictRow

WEEK = "2026-W49"  # Mon 30 Nov to Sun 6 Dec 2026
THIS_WEEK, LAST_WEEK = "2026-12-01T12:00:00.000000Z", "2026-11-24T12:00:00.000000Z"


def test_a_share_resting_on_fewer_than_k_people_on_either_side_is_hidden() -> None:
    assert share(4, 7, 3) == Share(400 / 7)
    assert share(7, 7, 3) == Share(100.0)  # nobody on the other side: nothing to work out
    assert share(0, 5, 3) == Share(0.0)
    assert share(2, 7, 3).hidden  # two people said yes: too few
    assert share(6, 7, 3).hidden  # one person did not: too few
    assert share(2, 2, 3).hidden  # two people in all
    assert share(0, 0, 3) == Share(None) and not share(0, 0, 3).hidden  # nothing yet
    assert share(2, 7, 3).words("fewer than 3") == "fewer than 3"
    assert share(0, 0, 3).words("fewer than 3") == "–"
    # Taking part (who voted, who was reached): only the side counted must be three or more.
    assert share(6, 7, 3, answers=False) == Share(600 / 7)
    assert share(2, 7, 3, answers=False).hidden


def test_stages_and_weeks_count_what_happened_in_them() -> None:
    raw = RawPower(
        decisions=[
            DecisionRow("design", LAST_WEEK, True, 10, 6, True),
            DecisionRow("design", THIS_WEEK, True, 8, 4, False),
            DecisionRow("delivery", THIS_WEEK, False, 0, 0, False),
        ],
        suggestions=[
            SuggestionRow("design", LAST_WEEK, True),
            SuggestionRow("design", THIS_WEEK, False),
            SuggestionRow("delivery", THIS_WEEK, True),
        ],
        updates=[UpdateRow("design", THIS_WEEK, 9, 6)],
        verdicts=[VerdictRow("design", THIS_WEEK, v) for v in ("yes",) * 3 + ("no",) * 3],
    )
    meter = power.build(raw, ["design", "delivery", "evaluation"], lambda s: False, WEEK, "UTC", 3)
    design, delivery, evaluation = meter.stages
    assert (design.decisions, design.closed, design.explained) == (2, 2, 1)
    assert design.turnout == Share(100 * 10 / 18)  # 10 of the 18 asked voted
    assert (design.suggestions, design.adopted) == (2, 1)
    assert design.got_it_right == Share(50.0) and design.heard_back == Share(100 * 6 / 9)
    assert design.input  # they voted, suggested and answered "did we get it right?"
    assert (delivery.decisions, delivery.closed, delivery.turnout) == (1, 0, Share(None))
    assert delivery.input  # a suggestion is a voice
    assert evaluation.empty and not evaluation.input

    assert [w.label for w in meter.weeks][-2:] == ["2026-W48", WEEK]
    last, this = meter.weeks[-2], meter.weeks[-1]
    assert (last.decisions, last.adopted, this.decisions, this.suggestions) == (1, 1, 2, 2)
    assert this.turnout == Share(50.0)  # 4 of the 8 asked this week
    assert last.turnout == Share(60.0)
    assert meter.weeks[0].empty


def test_the_meter_says_when_power_has_not_been_shared_at_all() -> None:
    meter = power.build(RawPower(), ["design"], lambda s: True, WEEK, "UTC", 3)
    assert not meter.anything and meter.stages[0].input
