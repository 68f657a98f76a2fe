"""Digest and export benchmark on a generated database.

    python -m bench.digest [--participants 10000] [--answers 1000000] [--quick]

Builds a database (the real schema, through the migrations) with N participants and M answers
spread over 26 weeks, then, each in a child process so its peak memory is its own:

* the digest's aggregates for the last week (``bot.digest.content.compute``), beside the same
  answer aggregates computed by one raw sqlite3 GROUP BY query over the answers (the floor:
  one pass, no Python per row); target: at most 3x that, and at most 250 MB peak RSS for the
  whole digest, rendering (HTML with charts, Markdown, CSV) included;
* the raw CSV export of every answer to /dev/null; target: at least 100,000 rows/s, with the
  same peak RSS (within 20 MB) as an export of a tenth of them (streaming, flat memory).

Each figure is printed beside its target with PASS or MISS. A benchmark reports; the exit
code is 0 unless the benchmark itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEEK = "2026-W10"
STAGES = ["design", "delivery", "commissioning", "evaluation"]
CHANGE = ["Opening hours", "Waiting times", "How staff talk to us", "Somewhere safe to sleep"]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate(path: Path, participants: int, answers: int) -> None:
    """A database with the real schema and generated rows (raw sqlite3 for speed)."""
    from storage.db import Database

    async def migrate() -> None:
        db = await Database.open(path)
        await db.close()

    asyncio.run(migrate())
    rng = random.Random(7)
    end = datetime(2026, 3, 9, tzinfo=UTC)  # end of 2026-W10 (GMT)
    start = end - timedelta(weeks=26)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    people = [f"p{i:06d}" for i in range(participants)]
    conn.executemany(
        "INSERT INTO participants (id, pseudonym, chat_id, status, consent_version,"
        " consented_at, created_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
        [
            (
                pid,
                f"code-{i}",
                10_000_000 + i,
                rng.choice(["active"] * 8 + ["paused", "stopped"]),
                stamp(start),
                stamp(start + timedelta(seconds=rng.randrange(26 * 7 * 86400))),
            )
            for i, pid in enumerate(people)
        ],
    )
    conn.executemany(
        "INSERT INTO quote_consent (participant_id, may_quote, asked_at) VALUES (?, ?, ?)",
        [(pid, rng.choice([0, 1]), stamp(start)) for pid in people[::3]],
    )
    conn.executemany(
        "INSERT INTO stages (stage, entered_at, source) VALUES (?, ?, 'config')",
        [
            (
                s,
                stamp(start + timedelta(weeks=6 * i)),
            )
            for i, s in enumerate(STAGES)
        ],
    )
    per_session = 5
    sessions = answers // per_session
    batch: list[tuple[Any, ...]] = []
    completions: list[tuple[Any, ...]] = []
    seconds = int((end - start).total_seconds())
    for n in range(sessions):
        pid = people[rng.randrange(participants)]
        offset = rng.randrange(seconds)
        when = stamp(start + timedelta(seconds=offset))
        stage = STAGES[min(3, offset * 4 // seconds)]
        sid = f"s{n}"
        score = rng.choice([1, 2, 3, 3, 4, 4, 4, 5])
        values = [
            ("week", "scale", json.dumps(score)),
            ("listened", "yesno", json.dumps(rng.choice(["yes", "yes", "no"]))),
            ("change", "choice", json.dumps(rng.choice(CHANGE)) if rng.random() < 0.9 else None),
            ("used", "multi", json.dumps(["Meals", "Showers"])),
            (
                "anything-else",
                "text",
                json.dumps("The Riverside drop-in was busy, ring 07700 900123"),
            ),
        ]
        for question, kind, value in values:
            batch.append((pid, sid, "weekly", question, kind, value, stage, when))
        completions.append((sid, pid, "weekly", stage, when))
        if len(batch) >= 50_000:
            _flush(conn, batch, completions)
    _flush(conn, batch, completions)
    due = stamp(end - timedelta(days=7))
    conn.executemany(
        "INSERT INTO occurrences (participant_id, checkin_id, occurrence_key, due_at, status)"
        " VALUES (?, 'weekly', ?, ?, ?)",
        [(pid, WEEK, due, rng.choice(["answered", "open", "expired"])) for pid in people],
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()


def _flush(
    conn: sqlite3.Connection, batch: list[tuple[Any, ...]], done: list[tuple[Any, ...]]
) -> None:
    conn.executemany(
        "INSERT INTO answers (participant_id, session_id, checkin_id, question_id, kind, value,"
        " stage, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    conn.executemany(
        "INSERT INTO completions (session_id, participant_id, checkin_id, stage, completed_at)"
        " VALUES (?, ?, ?, ?, ?)",
        done,
    )
    batch.clear()
    done.clear()


# ---------------------------------------------------------------------------------------------
# What each child process measures.


def _settings(path: Path) -> Any:
    os.environ["EVERYSTAGE_STORAGE__PATH"] = str(path)
    os.environ["EVERYSTAGE_PROJECT__CURRENT_STAGE"] = "evaluation"
    from bot.settings import load_settings

    return load_settings(ROOT / "config.example.toml")


def child_digest(path: Path) -> dict[str, float]:
    from bot.digest import content, html, markdown, tables
    from storage.db import Database

    settings = _settings(path)

    async def run() -> tuple[float, Any]:
        db = await Database.open(path)
        try:
            t0 = time.perf_counter()
            digest = await content.compute(db, settings, WEEK)
            return time.perf_counter() - t0, digest
        finally:
            await db.close()

    seconds, digest = asyncio.run(run())
    t0 = time.perf_counter()
    html.render(digest)
    markdown.render(digest)
    tables.render(digest)
    render = time.perf_counter() - t0
    return {"seconds": seconds, "render": render}


def child_baseline(path: Path) -> dict[str, float]:
    from bot.digest import weeks

    start, end = weeks.bounds(WEEK, "Europe/London")
    previous, _ = weeks.bounds(weeks.previous(WEEK), "Europe/London")
    conn = sqlite3.connect(path)
    t0 = time.perf_counter()
    # The answer aggregates a digest needs, in one GROUP BY over the answers: counts and
    # distinct people per stage, question and value, this week / last week / earlier.
    rows = conn.execute(
        "SELECT stage, checkin_id, question_id, value,"
        " CASE WHEN answered_at >= :s AND answered_at < :e THEN 0"
        " WHEN answered_at >= :p AND answered_at < :s THEN 1 ELSE 2 END AS period,"
        " count(*), count(DISTINCT participant_id)"
        " FROM answers WHERE value IS NOT NULL GROUP BY stage, checkin_id, question_id, value,"
        " period",
        {"s": stamp(start), "e": stamp(end), "p": stamp(previous)},
    ).fetchall()
    seconds = time.perf_counter() - t0
    conn.close()
    return {"seconds": seconds, "rows": len(rows)}


def child_export(path: Path, limit_days: int | None) -> dict[str, float]:
    from storage import export
    from storage.db import Database

    async def run() -> tuple[float, int]:
        db = await Database.open(path)
        filters = None
        if limit_days:
            since = datetime(2026, 3, 9, tzinfo=UTC) - timedelta(days=limit_days)
            filters = export.Filters(since=since)
        try:
            with open(os.devnull, "w", encoding="utf-8", newline="") as out:  # noqa: ASYNC230
                t0 = time.perf_counter()
                count = await export.write_csv(db, out, filters, bom=True)
                return time.perf_counter() - t0, count
        finally:
            await db.close()

    seconds, count = asyncio.run(run())
    return {"seconds": seconds, "rows": count}


def run_child(*args: str) -> dict[str, float]:
    """Run one measurement in a fresh interpreter; add its peak RSS in MB."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.digest", "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.digest", description=__doc__)
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="1,000 people, 100,000 answers")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, path = args.child[0], Path(args.child[1])
        if kind == "digest":
            result = child_digest(path)
        elif kind == "baseline":
            result = child_baseline(path)
        else:
            result = child_export(path, int(args.child[2]) if len(args.child) > 2 else None)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0
    if args.quick:
        args.participants, args.answers = 1_000, 100_000
    with tempfile.TemporaryDirectory(prefix="everystage-bench-") as folder:
        path = Path(folder) / "bench.db"
        t0 = time.perf_counter()
        generate(path, args.participants, args.answers)
        size = path.stat().st_size / 1e6
        print(
            f"generated {args.participants:,} participants, {args.answers:,} answers "
            f"({size:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        small = run_child("export", str(path), "18")
        baseline = run_child("baseline", str(path))
        digest = run_child("digest", str(path))
        full = run_child("export", str(path))
    ratio = digest["seconds"] / baseline["seconds"] if baseline["seconds"] else float("inf")
    rate = full["rows"] / full["seconds"] if full["seconds"] else 0.0
    growth = full["rss_mb"] - small["rss_mb"]
    lines = [
        ("digest aggregates", f"{digest['seconds'] * 1000:.0f} ms", "", ""),
        ("raw GROUP BY baseline", f"{baseline['seconds'] * 1000:.0f} ms", "", ""),
        ("digest / baseline", f"{ratio:.2f}x", "<= 3x", verdict(ratio <= 3)),
        ("render HTML+charts, MD, CSV", f"{digest['render'] * 1000:.0f} ms", "", ""),
        (
            "digest peak RSS",
            f"{digest['rss_mb']:.0f} MB",
            "<= 250 MB",
            verdict(digest["rss_mb"] <= 250),
        ),
        ("export throughput", f"{rate:,.0f} rows/s", ">= 100,000 rows/s", verdict(rate >= 100_000)),
        ("export peak RSS", f"{full['rss_mb']:.0f} MB ({int(full['rows']):,} rows)", "", ""),
        (
            "export RSS growth vs 1/10",
            f"{growth:+.0f} MB (vs {int(small['rows']):,} rows)",
            "<= 20 MB",
            verdict(growth <= 20),
        ),
    ]
    for name, value, target, mark in lines:
        print(f"{name:<30} {value:>26}  {target:<18} {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
