"""Raw export: --from/--to/--checkin/--question filters, question texts beside ids, CSV that
Excel opens (BOM), XLSX with number and date cells, unknown ids refused, quiet when piped."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.digest.progress import progress
from bot.settings import Settings, load_settings
from storage import export, participants
from storage.db import Database
from tests.conftest import EXAMPLE, ROOT
from tests.conftest import rows as db_rows
from tests.spoken import Whose, give_words, voice_answer
from tests.test_digest import Fixture

BOM = b"\xef\xbb\xbf"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    return load_settings(EXAMPLE)


def seed(settings: Settings) -> None:
    async def run() -> None:
        db = await Database.open(settings.storage)
        f = Fixture(db)
        for i in (1, 2):
            await f.person(f"p{i}", "2026-02-01 12:00")
        # 23:30 UTC on 28 March is still 28 March in London (GMT); 23:30 UTC on 29 March is
        # 30 March 00:30 BST.
        await f.session("p1", "weekly", "2026-03-28 23:30", {"week": 4, "anything-else": "=1+1"})
        await f.session("p2", "weekly", "2026-03-29 23:30", {"week": 2})
        await f.session("p2", "pulse", "2026-03-29 10:00", {"right-now": 5})
        await db.close()

    asyncio.run(run())


def seed_more(settings: Settings) -> None:
    """A multi answer, a skipped one, a reflection's follow-up and a check-in since removed."""

    async def run() -> None:
        db = await Database.open(settings.storage)
        f = Fixture(db)
        f.sessions = 100  # session ids after seed()'s
        await f.session("p1", "weekly", "2026-04-06 09:15", {"used": ["Meals", "Showers"]})
        await f.session("p1", "weekly", "2026-04-06 09:16", {"listened": None})
        await f.session(
            "p2",
            "design-reflection",
            "2026-04-07 10:00",
            {"first-contact": "A warm welcome", "first-contact.follow_up": "Listen first"},
        )
        await f.session("p2", "retired", "2026-04-08 10:00", {"old-question": "kept"})
        await db.close()

    asyncio.run(run())


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(BOM)
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_has_a_bom_and_filters_by_local_day_and_checkin(
    settings: Settings, tmp_path: Path
) -> None:
    seed(settings)
    out = tmp_path / "answers.csv"
    base = ["export", "--config", str(EXAMPLE), "--output", str(out)]
    assert main(base) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfpseudonym,")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 4 and rows[0]["answered_at"].startswith("2026-03-28T23:30")

    assert main([*base, "--from", "2026-03-29", "--to", "2026-03-29"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [(r["checkin_id"], r["answer"]) for r in rows] == [("pulse", "5")]

    assert main([*base, "--checkin", "weekly", "--to", "2026-03-28"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert sorted(r["answer"] for r in rows) == ["4", "=1+1"]
    assert main([*base, "--from", "29 March"]) == 2


def test_rows_name_the_check_in_and_the_question(settings: Settings, tmp_path: Path) -> None:
    seed(settings)
    seed_more(settings)
    out = tmp_path / "answers.csv"
    assert main(["export", "--config", str(EXAMPLE), "--output", str(out)]) == 0
    rows = read_csv(out)
    assert list(rows[0]) == list(export.COLUMNS)
    labelled = {
        (r["checkin_id"], r["question_id"]): (r["checkin_title"], r["question"]) for r in rows
    }
    assert labelled[("weekly", "week")] == ("Weekly check-in", "How has your week been?")
    assert labelled[("pulse", "right-now")] == ("Quick pulse", "How are things right now?")
    assert labelled[("design-reflection", "first-contact.follow_up")] == (
        "Design reflection",
        "If you could tell the staff who were there one thing, what would it be?",
    )
    assert labelled[("retired", "old-question")] == ("", "")  # no longer configured
    # A check-in removed from the config still has its answers, so it can still be chosen.
    assert (
        main(["export", "--config", str(EXAMPLE), "--output", str(out), "--checkin", "retired"])
        == 0
    )
    assert [r["answer"] for r in read_csv(out)] == ["kept"]

    assert main(["export", "--config", str(EXAMPLE), "--output", str(out), "--format", "json"]) == 0

    first = json.loads(out.read_text(encoding="utf-8"))[0]
    assert (first["checkin_title"], first["question"]) == (
        "Weekly check-in",
        "How has your week been?",
    )


def test_question_filter(settings: Settings, tmp_path: Path) -> None:
    seed(settings)
    out = tmp_path / "answers.csv"
    base = ["export", "--config", str(EXAMPLE), "--output", str(out)]
    assert main([*base, "--question", "week"]) == 0
    assert sorted(r["answer"] for r in read_csv(out)) == ["2", "4"]
    assert main([*base, "--checkin", "pulse", "--question", "right-now"]) == 0
    assert [r["answer"] for r in read_csv(out)] == ["5"]
    # Known, with nothing in the period: an empty table (a header), not an error.
    assert main([*base, "--checkin", "pulse", "--from", "2027-01-01"]) == 0
    assert read_csv(out) == []


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--checkin", "wekly"], ["'wekly'", "weekly, design-reflection, pulse, retired"]),
        (["--question", "wek"], ["'wek'", "week, hard-part, used", "old-question"]),
        (
            ["--checkin", "weekly", "--question", "right-now"],
            ["'right-now' in check-in 'weekly'", "week, hard-part, used, listened"],
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_unknown_check_in_or_question_is_an_error_and_writes_nothing(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    names: list[str],
    fmt: str,
) -> None:
    seed(settings)
    seed_more(settings)
    out = tmp_path / f"answers.{fmt}"
    assert (
        main(["export", "--config", str(EXAMPLE), "--format", fmt, "--output", str(out), *args])
        == 2
    )
    err = capsys.readouterr().err
    for name in names:
        assert name in err
    assert not out.exists()


def test_xlsx_has_numbers_as_numbers_and_times_as_dates(settings: Settings, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    seed(settings)
    seed_more(settings)
    out = tmp_path / "answers.xlsx"
    assert main(["export", "--config", str(EXAMPLE), "--format", "xlsx", "--output", str(out)]) == 0
    sheet = load_workbook(out)["answers"]
    header = [cell.value for cell in sheet[1]]
    assert header == list(export.XLSX_HEADER) and "answered_at (UTC)" in header
    assert sheet.freeze_panes == "A2"
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == 9
    by_question = {
        row["question_id"].value: row for row in rows if row["question_id"].value != "week"
    }
    weeks = [row for row in rows if row["question_id"].value == "week"]

    first = weeks[0]
    assert first["question"].value == "How has your week been?"
    assert first["checkin_title"].value == "Weekly check-in"
    assert first["answer"].value == 4 and first["answer"].data_type == "n"  # a number: averages
    assert by_question["right-now"]["answer"].value == 5
    when = first["answered_at (UTC)"]
    assert when.is_date and when.value == datetime(2026, 3, 28, 23, 30)  # UTC, no zone in Excel
    assert "yy" in when.number_format and "h" in when.number_format  # date and time shown
    assert first["skipped"].value == 0

    assert by_question["anything-else"]["answer"].value == "'=1+1"  # never run as a formula
    assert by_question["used"]["answer"].value == "Meals; Showers"
    assert by_question["listened"]["skipped"].value == 1
    assert by_question["listened"]["answer"].value in ("", None)
    assert by_question["old-question"]["question"].value in ("", None)
    assert main(["export", "--config", str(EXAMPLE), "--format", "xlsx"]) == 2  # needs a file


def test_help_lists_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for fmt in ("csv", "json", "xlsx"):
        assert re.search(rf"^  {fmt} +\w.{{20,}}$", text, re.MULTILINE), fmt


def test_every_csv_the_cli_writes_starts_with_a_bom(settings: Settings, tmp_path: Path) -> None:
    seed(settings)
    config = ["--config", str(EXAMPLE)]
    made = {
        "export": ["export", *config, "--format", "csv"],
        "digest": ["digest", *config, "--format", "csv", "--week", "2026-W13"],
        "involvement": ["involvement", *config],
    }
    for name, args in made.items():
        out = tmp_path / f"{name}.csv"
        assert main([*args, "--output", str(out)]) == 0, name
        assert out.read_bytes().startswith(BOM), name


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def test_export_into_head_exits_quietly(settings: Settings) -> None:
    async def run() -> None:
        db = await Database.open(settings.storage)
        f = Fixture(db)
        await f.person("p1", "2026-02-01 12:00")
        for i in range(60):  # 300 kB: more than the pipe holds, so head leaves while it writes
            await f.session("p1", "weekly", f"2026-03-02 10:{i:02d}", {"anything-else": "x" * 5000})
        await db.close()

    asyncio.run(run())
    producer = subprocess.Popen(
        cli("export", "--config", str(EXAMPLE)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.run(["head", "-c", "100"], stdin=producer.stdout, capture_output=True)
    producer.stdout.close()
    err = producer.stderr.read().decode()
    producer.stderr.close()
    assert producer.wait(timeout=60) in (0, 141)
    assert err == ""  # no BrokenPipeError traceback
    assert head.stdout.startswith(BOM + b"pseudonym,checkin_id,") and len(head.stdout) == 100


@pytest.mark.parametrize(
    "args",
    [
        ["export", "--format", "json"],
        ["digest", "--format", "md", "--week", "2026-W13"],
        ["involvement"],
    ],
)
def test_a_closed_pipe_is_quiet_for_every_command_that_writes_to_stdout(
    settings: Settings, args: list[str]
) -> None:
    seed(settings)
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first byte: every write fails
    try:
        done = subprocess.run(
            cli(*args, "--config", str(EXAMPLE)),
            cwd=ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr.decode()
    assert done.stderr.decode() == ""


def test_progress_is_quiet_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("Exporting", 10) as advance:  # stderr is captured: not a terminal
        advance(10)
    assert capsys.readouterr().err == ""
    with progress("Exporting", 10, force=True) as advance:
        advance(5)


async def test_export_streams_in_batches(settings: Settings) -> None:
    db = await Database.open(settings.storage)
    try:
        f = Fixture(db)
        await f.person("p1", "2026-02-01 12:00")
        for i in range(export.BATCH + 5):
            await f.session("p1", "weekly", f"2026-03-02 10:{i % 60:02d}", {"week": 1 + i % 5})
        seen: list[int] = []
        out = io.StringIO()
        count = await export.write_csv(db, out, advance=seen.append)
        assert count == export.BATCH + 5 and seen == [export.BATCH, 5]
        assert await export.count(db, export.Filters(checkin_id="pulse")) == 0
    finally:
        await db.close()


# ---------------------------------------------------------------------------------------------
# Voice notes' words, and where each answer's words came from.

# What happened to each voice note -> (its words, what words_from says).
SPOKEN: dict[Whose, tuple[str, str]] = {
    "person": ("The showers were warm all week", "confirmed"),
    "fix": ("I slept at the night shelter twice", "confirmed"),
    "coordinator": ("She asked for longer opening hours", "coordinator-typed"),
    "machine": ("the kettle was broken again", "transcribed"),
    "audio only": ("words they did not want kept", "audio only"),
    "none": ("", "audio only"),
}


def seed_voices(settings: Settings) -> dict[str, str]:
    """Six people answer "anything else" with a voice note, each one's words ending as
    SPOKEN says, and one more types theirs; their Telegram ids, by what happened."""

    async def run() -> dict[str, str]:
        db = await Database.open(settings.storage)
        when = datetime(2026, 3, 10, 12, tzinfo=UTC)
        chats = {}
        try:
            for n, whose in enumerate(SPOKEN):
                person, _ = await participants.consent(db, 771000 + n, 1, when)
                answer = await voice_answer(db, person, when, f"voice-{n}.ogg")
                await give_words(db, answer, person.id, SPOKEN[whose][0], whose, when)
                chats[whose] = person.pseudonym
            typist, _ = await participants.consent(db, 771099, 1, when)
            f = Fixture(db)
            f.sessions = 50
            await f.session(typist.id, "weekly", "2026-03-10 13:00", {"anything-else": "Typed"})
            await f.session(typist.id, "weekly", "2026-03-10 13:05", {"week": 3})
            chats["typed"] = typist.pseudonym
        finally:
            await db.close()
        return chats

    return asyncio.run(run())


def test_voice_notes_words_and_where_every_answers_words_came_from(
    settings: Settings, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    pseudonyms = seed_voices(settings)
    out = tmp_path / "answers.csv"
    base = ["export", "--config", str(EXAMPLE)]
    assert main([*base, "--output", str(out)]) == 0
    csv_rows = read_csv(out)
    by = {r["pseudonym"]: r for r in csv_rows if r["question_id"] == "anything-else"}
    for whose, (words, label) in SPOKEN.items():
        row = by[pseudonyms[whose]]
        assert (row["transcript"], row["words_from"]) == (
            words if label != "audio only" else "",
            label,
        ), whose
        assert row["answer"] == "" and row["voice_note"].startswith("voice-")
    typed = by[pseudonyms["typed"]]
    assert (typed["answer"], typed["transcript"], typed["words_from"]) == ("Typed", "", "typed")
    [scale] = [r for r in csv_rows if r["question_id"] == "week"]
    assert scale["words_from"] == ""  # a button: no words of its own
    # The misheard words the person replaced, and the words they chose not to keep, are gone.
    raw = out.read_text(encoding="utf-8-sig")
    assert "misheard" not in raw and "did not want kept" not in raw
    # Still pseudonymised: no Telegram id, no internal id.
    assert "77100" not in raw
    [(internal,)] = db_rows(settings, "SELECT id FROM participants WHERE chat_id = 771099")
    assert internal not in raw

    json_out = tmp_path / "answers.json"
    assert main([*base, "--format", "json", "--output", str(json_out)]) == 0
    spoken = {
        r["pseudonym"]: r
        for r in json.loads(json_out.read_text(encoding="utf-8"))
        if r["question_id"] == "anything-else"
    }
    assert spoken[pseudonyms["fix"]]["transcript"] == "I slept at the night shelter twice"
    assert spoken[pseudonyms["fix"]]["words_from"] == "confirmed"
    assert spoken[pseudonyms["none"]]["transcript"] is None
    assert spoken[pseudonyms["typed"]]["words_from"] == "typed"

    xlsx = tmp_path / "answers.xlsx"
    assert main([*base, "--format", "xlsx", "--output", str(xlsx)]) == 0
    sheet = load_workbook(xlsx)["answers"]
    header = [cell.value for cell in sheet[1]]
    assert header == list(export.XLSX_HEADER)
    cells = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]
    machine = next(c for c in cells if c["pseudonym"] == pseudonyms["machine"])
    assert (machine["transcript"], machine["words_from"]) == (
        "the kettle was broken again",
        "transcribed",
    )
