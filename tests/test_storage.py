"""Storage on a real SQLite file: migrations, answers, erasure that really erases, retention."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import export, participants
from storage.db import Database
from storage.migrations import MIGRATIONS, Migration
from storage.participants import NewAnswer

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# Session states are opaque JSON to storage.
S0, S1, S2 = '{"n": 0}', '{"n": 1}', '{"n": 2}'


@pytest.fixture
async def db(tmp_path: Path):
    database = await Database.open(tmp_path / "test.db")
    yield database
    await database.close()


async def answered(db: Database, chat_id: int, text: str, when: datetime = NOW):
    person, _ = await participants.consent(db, chat_id, 1, when)
    plan = participants.SessionPlan("weekly", "design", S0, 1)
    session = await participants.start_session(db, person.id, plan, when)
    assert await participants.save_step(db, session, S0, [NewAnswer("q1", "text", text)], S1, when)
    return person, session


def raw_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    wal = Path(f"{path}-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def test_migrations_are_recorded_and_not_rerun(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = await Database.open(path)
    async with first.read() as tx:
        versions = [r["version"] for r in await tx.all("SELECT version FROM schema_migrations")]
        modes = await tx.one("PRAGMA journal_mode")
        fks = await tx.one("PRAGMA foreign_keys")
        secure = await tx.one("PRAGMA secure_delete")
    await first.close()
    assert versions == [m.version for m in MIGRATIONS]
    assert (modes[0], fks[0], secure[0]) == ("wal", 1, 1)

    extra = (*MIGRATIONS, Migration(99, "add notes", "CREATE TABLE notes (x TEXT);"))
    again = await Database.open(path, extra)
    async with again.read() as tx:
        versions = [r["version"] for r in await tx.all("SELECT version FROM schema_migrations")]
    await again.close()
    assert versions[-1] == 99 and len(versions) == len(MIGRATIONS) + 1


async def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path) -> None:
    broken = (*MIGRATIONS, Migration(99, "broken", "CREATE TABLE ok (x); CREATE TABLE ok (x);"))
    with pytest.raises(Exception, match="already exists"):
        await Database.open(tmp_path / "b.db", broken)
    db = await Database.open(tmp_path / "b.db")
    async with db.read() as tx:
        tables = {r[0] for r in await tx.all("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = [r[0] for r in await tx.all("SELECT version FROM schema_migrations")]
    await db.close()
    assert "ok" not in tables and versions == [m.version for m in MIGRATIONS]


async def test_unordered_migrations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ascending"):
        await Database.open(tmp_path / "x.db", (Migration(2, "b", ""), Migration(1, "a", "")))


async def test_participant_ids_are_random_and_pseudonyms_readable(db: Database) -> None:
    a, _ = await participants.consent(db, 111, 1, NOW)
    b, _ = await participants.consent(db, 222, 1, NOW)
    assert a.id != b.id and len(a.id) == 32 and str(111) not in a.id
    assert a.pseudonym.startswith("P-") and a.pseudonym != b.pseudonym
    again, _ = await participants.consent(db, 111, 2, NOW)
    assert again.id == a.id and again.consent_version == 2


async def test_a_stale_step_stores_nothing(db: Database) -> None:
    person, session = await answered(db, 5, "first")
    # The session has moved on to S1; a second writer still holding S0 must lose.
    assert not await participants.save_step(
        db, session, S0, [NewAnswer("q2", "text", "dup")], S2, NOW
    )
    data = await participants.everything_about(db, person.id)
    assert [a["answer"] for a in data["answers"]] == ["first"]


async def test_completing_ends_the_session_and_records_completion(db: Database) -> None:
    person, session = await answered(db, 6, "x")
    assert await participants.save_step(
        db, session, S1, [NewAnswer("q2", "yesno", "no")], None, NOW
    )
    assert await participants.session(db, person.id) is None
    data = await participants.everything_about(db, person.id)
    assert data["completed_checkins"][0]["checkin_id"] == "weekly"
    assert [a["question_id"] for a in data["answers"]] == ["q1", "q2"]


async def test_erasure_removes_the_bytes_from_the_file_and_wal(
    db: Database, tmp_path: Path
) -> None:
    secret = "ZEBRA-unique-phrase-4417"
    files = tmp_path / "files"
    files.mkdir()
    (files / "note.ogg").write_bytes(b"voice")
    person, session = await answered(db, 77, secret)
    assert await participants.save_step(
        db, session, S1, [NewAnswer("q2", "text", "note.ogg", "note.ogg")], S2, NOW
    )
    await answered(db, 78, "someone else's words")
    assert secret.encode() in raw_bytes(db.path)

    erased = await participants.erase(db, person.id, files)

    assert erased == 2
    assert await participants.by_chat(db, 77) is None
    assert not (files / "note.ogg").exists()
    blob = raw_bytes(db.path)
    assert secret.encode() not in blob
    assert person.pseudonym.encode() not in blob
    assert b"someone else's words" in blob  # others' data is untouched


async def test_retention_erases_only_old_answers(db: Database, tmp_path: Path) -> None:
    await answered(db, 1, "OLD-answer-text", NOW - timedelta(days=800))
    await answered(db, 2, "NEW-answer-text", NOW - timedelta(days=5))
    erased = await participants.erase_older_than(db, NOW - timedelta(days=730), tmp_path)
    assert erased == 1
    out = io.StringIO()
    await export.write_json(db, out)
    answers = [row["answer"] for row in json.loads(out.getvalue())]
    assert answers == ["NEW-answer-text"]
    assert b"OLD-answer-text" not in raw_bytes(db.path)


async def test_export_is_pseudonymised(db: Database) -> None:
    person, session = await answered(db, 987654321, 'a, "quoted" answer\nover two lines')
    assert await participants.save_step(
        db, session, S1, [NewAnswer("q2", "multi", ["Meals", "Showers"])], None, NOW
    )
    out = io.StringIO()
    count = await export.write_csv(db, out)
    text = out.getvalue()
    assert count == 2
    assert "987654321" not in text and person.id not in text
    import csv

    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["pseudonym"] == person.pseudonym
    assert rows[0]["answer"] == 'a, "quoted" answer\nover two lines'
    assert rows[1]["answer"] == "Meals; Showers"
    assert rows[0]["stage"] == "design" and rows[0]["answered_at"].startswith("2026-11-26T12:00")
