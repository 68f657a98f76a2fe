"""Replies to button answers while a backlog of voice notes is being transcribed.

    python -m bench.voice_backlog [--notes 100] [--people 30] [--rate 10] [--duration 30]
                                  [--quick]

(``python -m bench.voice`` runs this after its engine figures.) The same set-up as
bench/replies.py: a child process runs the sandbox and bench.loadserver's simulated
participants; this process runs the real Everystage Application, with ``[voice]`` as shipped
(PocketSphinx, one worker process). In one run, the same people pressing answer buttons at the
same offered rate:

1. **none**: no voice note waiting;
2. **backlog**: ``--notes`` voice notes (espeak-ng speech as OGG/Opus, from other
   participants) are queued for the transcriber at once, as if they had all just arrived, and
   the same measurement runs while the worker process makes them into words and the bot sends
   each person "Here's what I heard" (checked to have outlasted the measurement);
3. **none again** once the backlog is done (or after a while), so drift over the run shows.

"update->reply" is from the moment a press becomes a pending update to the moment the bot's
next message in that chat reaches the sandbox. Baseline: 1 and 3 together. Target: p99 with
the backlog <= 1.5x the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.loadserver import percentile
from bench.replies import (
    FIRST_PERSON,
    NOW,
    RUN_SLACK,
    _json,
    add_fan_out,
    build,
    measure,
    sandbox_process,
)

P99_TARGET = 1.5
SENTENCES = (
    "The drop in was closed on Monday",
    "Nobody called me back about my housing",
    "The staff were kind and listened to me",
    "I have not eaten since yesterday",
    "The new opening hours are much better",
)


def voice_notes(folder: Path) -> list[bytes]:
    """The sentences spoken by espeak-ng, as OGG/Opus voice notes."""
    from bot.voice.decode import decode, encode_ogg_opus

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    notes = []
    for number, sentence in enumerate(SENTENCES):
        wav = folder / f"{number}.wav"
        subprocess.run([espeak, "-v", "en-gb", "-s", "140", "-w", str(wav), sentence], check=True)
        audio = decode(wav.read_bytes())
        notes.append(encode_ogg_opus(audio.pcm, audio.rate))
    return notes


async def queue_backlog(app: Any, notes: list[bytes], n: int) -> float:
    """``n`` voice-note answers from the fan-out participants, queued for the transcriber as
    save_step queues one (storage/transcripts.py); the seconds of audio."""
    from bot.services import services_of
    from bot.voice.decode import decode
    from storage.db import utc_text

    services = services_of(app)
    folder = services.settings.storage.files_path
    folder.mkdir(parents=True, exist_ok=True)
    seconds = 0.0
    stamp = utc_text(NOW)
    async with services.db.transaction() as tx:
        for k in range(n):
            data = notes[k % len(notes)]
            name = f"bench-{k:04d}.ogg"
            (folder / name).write_bytes(data)
            seconds += decode(data).seconds
            await tx.execute(
                "INSERT INTO answers (participant_id, session_id, checkin_id, question_id, kind,"
                " value, file_path, voice_seconds, stage, answered_at)"
                " VALUES (?, ?, 'bench', 'q1', 'text', NULL, ?, 3, 'design', ?)",
                (f"{k:032x}", f"bench-session-{k}", name, stamp),
            )
        await tx.execute(
            "INSERT INTO transcriptions (answer_id, participant_id, queued_at)"
            " SELECT id, participant_id, answered_at FROM answers WHERE file_path IS NOT NULL"
        )
    services.transcriber.wake()
    return seconds


async def waiting(app: Any) -> int:
    from bot.services import services_of

    async with services_of(app).db.read() as tx:
        row = await tx.one("SELECT count(*) AS n FROM transcriptions")
    return int(row["n"])


async def run(opts: argparse.Namespace, out: Any = print) -> dict[str, Any]:
    """The whole benchmark; the figures."""
    from bot.app import NUDGE_JOB, RETENTION_JOB, serving
    from bot.handlers.weekly_digest import CATCH_UP_JOB, WEEKLY_JOB

    logging.basicConfig(level=logging.WARNING, format="bot %(name)s %(levelname)s %(message)s")
    started = time.monotonic()
    people = list(range(FIRST_PERSON, FIRST_PERSON + opts.people))
    figures: dict[str, Any] = {"notes": opts.notes, "people": opts.people}
    if opts.nice is not None:
        from bot.voice import transcriber

        transcriber.NICE = opts.nice
    with tempfile.TemporaryDirectory(prefix="everystage-voice-backlog-") as tmp:
        notes = voice_notes(Path(tmp))
        async with (
            sandbox_process(opts.notes) as (url, _),
            httpx.AsyncClient(base_url=url) as control,
        ):
            app = build(url, Path(tmp), opts.questions, None)
            async with serving(app, poll_timeout=10) as running:
                assert running.job_queue is not None
                for name in (NUDGE_JOB, RETENTION_JOB, WEEKLY_JOB, CATCH_UP_JOB):
                    for job in running.job_queue.get_jobs_by_name(name):
                        job.schedule_removal()
                await add_fan_out(running, opts.notes)
                prepared = _json(
                    await control.post(
                        "/bench/prepare",
                        json={
                            "users": people,
                            "consent_prefix": "consent:yes:",
                            "answer_prefix": "a:",
                            "timeout": 120,
                        },
                        timeout=120 + RUN_SLACK,
                    )
                )
                if prepared["ready"] != len(people):
                    out(f"WARNING: only {prepared['ready']} of {len(people)} people ready")
                out(f"1/3 {opts.people} people answering, {opts.rate:g}/s, no voice notes ...")
                figures["none"] = await measure(control, people, opts)
                from bot.voice import transcriber

                figures["nice"] = transcriber.NICE

                out(f"2/3 the same while {opts.notes} voice notes are transcribed ...")
                figures["audio_seconds"] = await queue_backlog(running, notes, opts.notes)
                backlog_started = time.monotonic()
                figures["backlog"] = await measure(control, people, opts)
                figures["left_after_measuring"] = await waiting(running)

                out("3/3 no voice notes again (waiting for the backlog to finish) ...")
                deadline = time.monotonic() + opts.drain
                while await waiting(running) and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.5)  # (polling the database: no event to wait on)
                figures["left_at_end"] = await waiting(running)
                figures["drain_seconds"] = time.monotonic() - backlog_started
                figures["after"] = await measure(control, people, opts)
    figures["seconds"] = time.monotonic() - started
    return figures


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers."""
    alone = figures["none"].get("latencies", [])
    if not figures["left_at_end"]:  # the third phase ran without a backlog: baseline too
        alone = alone + figures["after"].get("latencies", [])
    during = figures["backlog"].get("latencies", [])
    out: dict[str, Any] = {}
    if alone and during:
        out["p50_none"], out["p99_none"] = percentile(alone, 50), percentile(alone, 99)
        out["p50_backlog"], out["p99_backlog"] = percentile(during, 50), percentile(during, 99)
        out["ratio"] = out["p99_backlog"] / out["p99_none"]
    return out


def report(figures: dict[str, Any], opts: argparse.Namespace) -> str:
    """The printed table."""
    s = summary(figures)
    ms = lambda v: f"{v * 1000:.0f} ms" if v is not None else "-"  # noqa: E731
    rows = [
        f"Replies while voice notes are transcribed: {opts.people} people pressing answer"
        f" buttons at {opts.rate:g}/s; a backlog of {opts.notes} voice notes"
        f" ({figures['audio_seconds']:.0f} s of speech), PocketSphinx in one worker process"
        f" at nice {figures['nice']}",
        f"{'Figure':<48}{'Value':>14}{'Target':>12}   Result",
        "-" * 84,
    ]

    def row(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        result = "" if ok is None else ("PASS" if ok else "MISS")
        rows.append(f"{name:<48}{value:>14}{target:>12}   {result}")

    if "ratio" in s:
        row("p99 update->reply, no backlog (baseline)", ms(s["p99_none"]))
        row("p99 update->reply, with the backlog", ms(s["p99_backlog"]))
        row(
            "  ratio backlog / baseline",
            f"{s['ratio']:.2f}x",
            f"<= {P99_TARGET:g}x",
            s["ratio"] <= P99_TARGET,
        )
        row(
            "p50 update->reply, baseline / backlog", f"{ms(s['p50_none'])} / {ms(s['p50_backlog'])}"
        )
        counts = [len(figures[k].get("latencies", [])) for k in ("none", "backlog", "after")]
        row("  (replies measured: before, during, after)", " / ".join(map(str, counts)))
    left = figures["left_after_measuring"]
    row("  (notes still waiting when measuring ended)", f"{left} of {opts.notes}")
    row("  (backlog done after, s)", f"{figures['drain_seconds']:.0f}")
    rows.append(f"(benchmark took {figures['seconds']:.0f}s)")
    if not left:
        rows.append("WARNING: the backlog was done before the measurement was; raise --notes")
    if figures["left_at_end"]:
        rows.append("NOTE: the backlog outlasted --drain; phase 3 ran beside its tail")
    for phase in ("none", "backlog", "after"):
        if figures[phase].get("unanswered"):
            rows.append(
                f"WARNING: {figures[phase]['unanswered']} presses never got a reply ({phase})"
            )
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.voice_backlog",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--notes", type=int, default=100, help="voice notes in the backlog (100)")
    parser.add_argument("--people", type=int, default=30, help="people answering (30)")
    parser.add_argument("--rate", type=float, default=10.0, help="answers a second among them (10)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase (30)")
    parser.add_argument("--questions", type=int, default=60, help="questions in the check-in (60)")
    parser.add_argument(
        "--drain", type=float, default=180.0, help="longest wait for the backlog (180 s)"
    )
    parser.add_argument("--quick", action="store_true", help="10 s phases")
    parser.add_argument(
        "--nice",
        type=int,
        help="the workers' CPU priority instead of bot/voice/transcriber.py's NICE (0: as the bot)",
    )
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.duration = 10.0
    needed = 3 * opts.rate * opts.duration / opts.people + 2
    if opts.questions < needed:
        parser.error(f"--questions must be at least {needed:.0f} for that rate and duration")
    opts.storage, opts.old_limiter, opts.fan_out = None, False, opts.notes
    return opts


def main(argv: list[str] | None = None) -> None:
    """python -m bench.voice_backlog."""
    opts = parse_args(argv)
    figures = asyncio.run(run(opts))
    print(report(figures, opts))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
