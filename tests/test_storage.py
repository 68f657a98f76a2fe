"""Storage on each backend (a real SQLite file, a real PostgreSQL database): migrations,
answers, erasure (that really erases the bytes, from every file of either), retention, export."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.sandbox import SandboxClient
from bot.settings import Settings
from storage import export, participants
from storage.db import Database
from storage.migrations import MIGRATIONS, Migration
from storage.participants import NewAnswer
from tests import postgres
from tests.conftest import Backend, join, rows, running

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# Session states are opaque JSON to storage.
S0, S1, S2 = '{"n": 0}', '{"n": 1}', '{"n": 2}'


@pytest.fixture
async def db(database: Database):
    return database


def migrations_of(backend: Backend) -> tuple[Migration, ...]:
    """The backend's own list of migrations."""
    if backend.postgres:
        from storage.migrations_pg import MIGRATIONS as POSTGRES

        return POSTGRES
    return MIGRATIONS


@pytest.fixture
def empty(backend: Backend, tmp_path: Path):
    """Where a database with nothing in it yet can be made (a file, or an empty database)."""
    if not backend.postgres:
        yield tmp_path / "empty.db"
        return
    from tests import postgres

    server = postgres.server()
    fresh = server.empty()
    yield fresh.url
    server.drop(fresh.name)


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


def stored_bytes(db: Database) -> bytes | postgres.DataDirectory:
    """What the database keeps on disk: SQLite's file and WAL, or every file under
    PostgreSQL's data directory (searched with ``in``)."""
    return raw_bytes(db.path) if db.path is not None else postgres.data_directory()


async def versions_in(db: Database) -> list[int]:
    async with db.read() as tx:
        found = await tx.all("SELECT version FROM schema_migrations ORDER BY version")
    return [r["version"] for r in found]


async def test_migrations_are_recorded_and_not_rerun(backend: Backend, empty, password) -> None:
    own = migrations_of(backend)
    first = await Database.open(empty, password=password)
    versions = await versions_in(first)
    await first.close()
    assert versions == [m.version for m in own]

    extra = (*own, Migration(99, "add notes", "CREATE TABLE notes (x TEXT);"))
    again = await Database.open(empty, extra, password=password)
    versions = await versions_in(again)
    await again.close()
    assert versions[-1] == 99 and len(versions) == len(own) + 1


@pytest.mark.sqlite_only("SQLite's pragmas")
async def test_sqlite_runs_in_wal_with_foreign_keys_and_secure_delete(db: Database) -> None:
    async with db.read() as tx:
        modes = await tx.one("PRAGMA journal_mode")
        fks = await tx.one("PRAGMA foreign_keys")
        secure = await tx.one("PRAGMA secure_delete")
    assert (modes[0], fks[0], secure[0]) == ("wal", 1, 1)


async def test_a_failing_migration_leaves_nothing_half_done(
    backend: Backend, empty, password
) -> None:
    own = migrations_of(backend)
    twice = "CREATE TABLE ok (x INTEGER); CREATE TABLE ok (x INTEGER);"
    broken = (*own, Migration(99, "broken", twice))
    with pytest.raises(Exception, match="already exists"):
        await Database.open(empty, broken, password=password)
    db = await Database.open(empty, password=password)
    async with db.read() as tx:
        left = await tx.all(
            "SELECT 1 FROM sqlite_master WHERE name = 'ok'"
            if not backend.postgres
            else "SELECT 1 FROM information_schema.tables WHERE table_name = 'ok'"
        )
    versions = await versions_in(db)
    await db.close()
    assert not left and versions == [m.version for m in own]


async def test_unordered_migrations_are_refused(empty, password) -> None:
    with pytest.raises(ValueError, match="ascending"):
        await Database.open(
            empty, (Migration(2, "b", ""), Migration(1, "a", "")), password=password
        )


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


async def test_erasure_removes_the_rows_and_files(db: Database, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "note.ogg").write_bytes(b"voice")
    person, session = await answered(db, 77, "ZEBRA-unique-phrase-4417")
    assert await participants.save_step(
        db, session, S1, [NewAnswer("q2", "text", "note.ogg", "note.ogg")], S2, NOW
    )
    other, _ = await answered(db, 78, "someone else's words")

    assert await participants.erase(db, person.id, files) == 2

    assert await participants.by_chat(db, 77) is None
    assert not (files / "note.ogg").exists()
    async with db.read() as tx:
        for table in participants.PERSONAL_TABLES:
            column = "id" if table == "participants" else "participant_id"
            left = await tx.one(
                f"SELECT count(*) AS n FROM {table} WHERE {column} = ?", (person.id,)
            )
            assert left["n"] == 0, table
    mine = await participants.everything_about(db, other.id)
    assert [a["answer"] for a in mine["answers"]] == ["someone else's words"]


async def test_erasure_removes_the_bytes_from_every_file(db: Database, tmp_path: Path) -> None:
    # Unique per run: on PostgreSQL the whole cluster is searched, other runs' data included.
    secret = f"ZEBRA-unique-phrase-{secrets.token_hex(4)}-Zoë"
    others = f"someone else's words {secrets.token_hex(4)}"
    files = tmp_path / "files"
    files.mkdir()
    (files / "note.ogg").write_bytes(b"voice")
    person, session = await answered(db, 77, secret)
    assert await participants.save_step(
        db, session, S1, [NewAnswer("q2", "text", "note.ogg", "note.ogg")], S2, NOW
    )
    await answered(db, 78, others)
    before = stored_bytes(db)
    assert (
        before.holds(secret.encode())
        if isinstance(before, postgres.DataDirectory)
        else (secret.encode() in before)
    )

    erased = await participants.erase(db, person.id, files)

    assert erased == 2
    assert await participants.by_chat(db, 77) is None
    assert not (files / "note.ogg").exists()
    blob = stored_bytes(db)
    assert secret.encode() not in blob
    assert person.pseudonym.encode() not in blob
    assert others.encode() in blob  # others' data is untouched


async def test_retention_erases_only_old_answers(db: Database, tmp_path: Path) -> None:
    old, new = (f"{age}-answer-text-{secrets.token_hex(4)}" for age in ("OLD", "NEW"))
    await answered(db, 1, old, NOW - timedelta(days=800))
    await answered(db, 2, new, NOW - timedelta(days=5))
    erased = await participants.erase_older_than(db, NOW - timedelta(days=730), tmp_path)
    assert erased == 1
    out = io.StringIO()
    await export.write_json(db, out)
    answers = [row["answer"] for row in json.loads(out.getvalue())]
    assert answers == [new]
    assert old.encode() not in stored_bytes(db)  # the bytes are gone too


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


@pytest.fixture
def password(backend: Backend) -> str | None:
    return backend.password


async def test_new_rows_get_ids_and_conflicts_insert_nothing(db: Database) -> None:
    async with db.transaction() as tx:
        first = await tx.insert(
            "INSERT INTO audit_log (at, actor, action, allowed) VALUES (?, ?, ?, ?)",
            ("2026", "me", "one", 1),
        )
        second = await tx.insert(
            "INSERT INTO audit_log (at, actor, action, allowed) VALUES (?, ?, ?, ?)",
            ("2026", "me", "two", 1),
        )
        added = await tx.executemany(
            "INSERT INTO invites (code, cohort, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (code) DO NOTHING",
            [("a", "x", "2026"), ("b", "x", "2026"), ("a", "y", "2026")],
        )
    assert first is not None and second == first + 1
    assert added == 2
    assert await db.insert(
        "INSERT INTO stages (stage, entered_at, source) VALUES (?, ?, 'config')", ("a", "2026")
    )
    assert (
        await db.write(
            "INSERT INTO invites VALUES (?, ?, ?) ON CONFLICT DO NOTHING", ("a", "z", "")
        )
        == 0
    )
    async with db.read() as tx:
        row = await tx.one(
            "SELECT code, cohort FROM invites WHERE created_at = :at ORDER BY code DESC",
            {"at": "2026"},
        )
        batches = [
            len(b) async for b in tx.batches("SELECT code FROM invites ORDER BY code", (), 1)
        ]
    assert (row[0], row["cohort"], dict(row)) == ("b", "x", {"code": "b", "cohort": "x"})
    assert batches == [1, 1]
    streamed = await __import__("asyncio").to_thread(
        lambda: [
            list(map(tuple, b)) for b in db.stream("SELECT code FROM invites ORDER BY code", (), 5)
        ]
    )
    assert streamed == [[("a",), ("b",)]]


async def test_a_failed_transaction_writes_nothing_and_runs_no_after_commit(db: Database) -> None:
    ran = []
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO invites VALUES ('c', 'x', '2026')")
            tx.after_commit.append(lambda: ran.append(1))
            raise RuntimeError("no")
    async with db.transaction() as tx:
        await tx.lock("invites")
        tx.after_commit.append(lambda: ran.append(2))
        assert await tx.all("SELECT * FROM invites") == []
    assert ran == [2]


# -- erasure on PostgreSQL: the raw bytes under the data directory ----------------------------


@pytest.mark.postgresql_only("PostgreSQL's scrub: VACUUM FULL, pg_switch_wal() and CHECKPOINT")
async def test_delete_leaves_none_of_the_persons_bytes_under_the_data_directory(
    client: SandboxClient, settings: Settings
) -> None:
    # Unique per run (the cluster may serve other test runs), and not all ASCII.
    token = secrets.token_hex(5)
    words, name = f"Øresund-kettle-{token} über alles", f"Ysolde-{token}"
    user = await client.user(4990, first_name=name)
    async with running(settings):
        await join(user)
        await user.press("1")
        await user.expect("What made it hard?")
        await user.send(words)
        await user.expect("Which parts")
        data = postgres.data_directory()
        assert data.holds(words.encode()) and data.holds(name.encode())  # the test can fail

        await user.send("/delete")
        await user.expect("Are you sure?")
        await user.press("Yes, delete it all")
        await user.expect("Everything about you has been deleted")

        # As it is the moment they are told: not in a table, an index, the statistics or WAL.
        for gone in (words, name):
            assert gone.encode() not in data, data
    assert rows(settings, "SELECT count(*) FROM participants") == [(0,)]


@pytest.mark.postgresql_only("what PostgreSQL's scrub does without the privileges it needs")
async def test_a_scrub_without_privileges_erases_and_says_once_what_it_could_not_do(
    backend: Backend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from storage import postgres as backend_module

    monkeypatch.setattr(backend_module, "_WARNED", set())
    server = postgres.server()
    fresh = server.empty()
    role, password = f"plain_{secrets.token_hex(4)}", secrets.token_hex(12)
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    with psycopg.connect(fresh.url, password=fresh.password, autocommit=True) as owner:
        owner.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    url = fresh.url.replace("//everystage@", f"//{role}@", 1)
    assert url != fresh.url
    try:
        db = await Database.open(url, password=password)  # owns its tables, nothing more
        try:
            with caplog.at_level(logging.WARNING, logger="storage.postgres"):
                for chat_id in (1, 2):
                    person, _ = await answered(db, chat_id, f"words-{secrets.token_hex(4)}")
                    assert await participants.erase(db, person.id, Path("unused")) == 1
            assert await participants.by_chat(db, 1) is None
        finally:
            await db.close()
    finally:
        server.drop(fresh.name)
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
    lines = [r.getMessage() for r in caplog.records if r.name == "storage.postgres"]
    assert len(lines) == 3, lines  # once each, not once per erasure
    for skipped, needs in (
        ("VACUUM FULL pg_statistic", "own the database"),
        ("pg_switch_wal()", "EXECUTE on pg_switch_wal()"),
        ("CHECKPOINT", "pg_checkpoint"),
    ):
        assert any(f"skipping {skipped}:" in line and needs in line for line in lines), skipped
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "storage.postgres")


@pytest.mark.postgresql_only("PostgreSQL's VACUUM FULL keeps rows an older snapshot may see")
async def test_a_scrub_waits_for_transactions_that_could_still_see_the_rows(
    db: Database, backend: Backend
) -> None:
    import psycopg

    secret = f"Wombat-{secrets.token_hex(5)}"
    person, _ = await answered(db, 5, secret)
    assert backend.url is not None
    async with await psycopg.AsyncConnection.connect(
        backend.url, password=backend.password
    ) as reader:
        # A report that began before the erasure, and can still see the answer.
        await reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await reader.execute("SELECT count(*) FROM answers")
        erasing = asyncio.create_task(participants.erase(db, person.id, Path("unused")))
        await asyncio.sleep(0.3)
        assert not erasing.done()  # the scrub waits for it...
        cursor = await reader.execute("SELECT count(*) FROM answers WHERE value LIKE '%Wombat%'")
        assert await cursor.fetchone() == (1,)
        await reader.rollback()
        assert await erasing == 1  # ...and goes on once it has ended
    assert secret.encode() not in postgres.data_directory()
