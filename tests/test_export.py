"""Raw export: --from/--to/--checkin filters, CSV that Excel opens (BOM), XLSX, quiet when piped."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.digest.progress import progress
from bot.settings import Settings, load_settings
from storage import export
from storage.db import Database
from tests.conftest import EXAMPLE
from tests.test_digest import Fixture


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    return load_settings(EXAMPLE)


def seed(settings: Settings) -> None:
    async def run() -> None:
        db = await Database.open(settings.storage.path)
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


def test_xlsx_export(settings: Settings, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    seed(settings)
    out = tmp_path / "answers.xlsx"
    assert main(["export", "--config", str(EXAMPLE), "--format", "xlsx", "--output", str(out)]) == 0
    sheet = load_workbook(out, read_only=True)["answers"]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == list(export.COLUMNS)
    assert len(values) == 5
    assert "'=1+1" in [row[4] for row in values]  # never run as a formula
    assert main(["export", "--config", str(EXAMPLE), "--format", "xlsx"]) == 2  # needs a file


def test_progress_is_quiet_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("Exporting", 10) as advance:  # stderr is captured: not a terminal
        advance(10)
    assert capsys.readouterr().err == ""
    with progress("Exporting", 10, force=True) as advance:
        advance(5)


async def test_export_streams_in_batches(settings: Settings) -> None:
    db = await Database.open(settings.storage.path)
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
