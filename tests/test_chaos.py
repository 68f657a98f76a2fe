"""The real `everystage run` process, killed with SIGKILL and restarted, under Telegram faults.

Participants (bench/chaos.py) press through a button-only check-in as fast as its questions
arrive and never write anything else, so a question that never comes leaves them stuck. After
the last restart the bot must have stored every answer exactly once, with the value pressed,
and everyone must have reached the end.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos import chaos_run
from bot.sandbox import Sandbox
from bot.sandbox.faults import Faults


def _explain(report: object) -> str:
    return f"{report}"


async def test_sigkill_during_a_burst_loses_nothing_and_leaves_nobody_stuck(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # 60 people start at once; the bot is killed a moment after each start, mid-burst.
    report = await chaos_run(
        sandbox, tmp_path, participants=60, questions=5, kills=3, kill_after=(0.2, 0.6), seed=11
    )
    verdict = report.verdict
    assert verdict.ok, _explain(report)
    assert verdict.answers_stored == verdict.answers_expected == 300
    assert verdict.integrity == "ok"
    assert verdict.inbox.get("pending", 0) == 0 and verdict.inbox.get("failed", 0) == 0


async def test_sigkill_at_random_moments_under_5xx_before_and_after_delivery(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # Telegram misbehaves too: 10% of sends and edits fail before taking effect, 5% after.
    sandbox.configure(
        faults=Faults(
            error_rate=0.1,
            after_error_rate=0.05,
            methods=["sendMessage", "editMessageText", "answerCallbackQuery"],
            seed=7,
        )
    )
    report = await chaos_run(
        sandbox, tmp_path, participants=30, questions=5, kills=6, kill_after=(0.05, 1.2), seed=5
    )
    verdict = report.verdict
    assert verdict.ok, _explain(report)
    assert verdict.answers_stored == verdict.answers_expected == 150
    assert sandbox.fault_injector.stats()["errors"] > 0  # the faults really happened
