"""Every file the bot writes follows erasure and retention, and is readable by its owner only.

Driven through the real bot and the sandbox; every check reads the files on disk as bytes.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import apply_retention, build_application
from bot.clock import FakeClock
from bot.digest import files as digest_files
from bot.digest import weeks
from bot.filemodes import restrict_umask, secure_files, tighten
from bot.handlers import heard
from bot.handlers import weekly_digest as delivery
from bot.sandbox import SandboxClient
from bot.services import services_of
from bot.settings import Settings
from storage import outbox, transcripts
from storage.db import Database, parse_utc
from tests.conftest import join, raw_database_bytes, reaches_disk, rows, running, tap
from tests.spoken import give_words, voice_answer_ids

COORDINATOR = 9001
PHRASE = b"quokka-urn-5521 at the drop-in was cold"
KEPT = b"otter-kettle-8812 kept me going"
VOICE = b"OggS\x00Marmoset-voice-9931-only-in-this-note"
SPOKEN = b"wombat-spoken-4417 the heaters were off all night"  # a voice note's words


@pytest.fixture
def team_settings(make_settings: Any) -> Settings:
    """A coordinator who can ask for /digest; figures shown from one person up."""
    return make_settings(coordinators__user_ids=f"[{COORDINATOR}]", digest__min_group_size="1")


def every_file(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` (database, WAL, SHM, voice notes, digests...), as bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def holding(found: dict[Path, bytes], needle: bytes) -> list[str]:
    return [str(path) for path, data in found.items() if needle in data]


async def answer_weekly(user: Any, hard: bytes | None, anything_else: bytes | None) -> None:
    """The weekly check-in from its first question; a low score brings "What made it hard?"."""
    await user.press("1" if hard else "4")
    if hard:
        await user.expect("What made it hard?")
        await user.send(hard.decode())
    await user.expect("Which parts")
    await tap(user, "☐ Meals")
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("No")
    await user.expect("change one thing")
    await user.press("Opening hours")
    await user.expect("Anything else")
    if anything_else:
        await user.send(anything_else.decode())
    else:
        await user.send_voice(VOICE)
    await user.expect("Your answers go to the team")
    await user.expect("May we quote your words, without your name, in reports and in the summaries")
    await user.press("Yes, you can")
    await user.expect("We may quote your words")


# ---------------------------------------------------------------------------------------------
# Erasure reaches every file.


async def test_delete_leaves_no_trace_in_any_file_the_bot_wrote(
    client: SandboxClient, team_settings: Settings, tmp_path: Path
) -> None:
    async with running(team_settings) as app:
        stays = await client.user(4201)
        await join(stays)
        await answer_weekly(stays, None, KEPT)
        leaves = await client.user(4202)
        await join(leaves)
        await answer_weekly(leaves, PHRASE, None)
        # Their voice note's words, confirmed: kept with the answer, quoted in the digest.
        [(answer_id, person_id)] = voice_answer_ids(team_settings, leaves.user_id)
        db, now = services_of(app).db, services_of(app).clock.now()
        await give_words(db, answer_id, person_id, SPOKEN.decode(), "person", now)

        [(answered_at,)] = rows(
            team_settings,
            "SELECT answered_at FROM answers WHERE file_path IS NOT NULL",
        )
        week = weeks.week_of(parse_utc(answered_at), team_settings.project.timezone)
        coordinator = await client.user(COORDINATOR, first_name="Jo")
        for asked in (weeks.previous(week), week):
            await coordinator.send(f"/digest {asked}")
            await coordinator.expect(f"📊 Weekly digest {asked}")
            await coordinator.wait_for_bot_message()  # the HTML file
        folder = digest_files.output_dir(team_settings)
        # A temporary file a crash left behind mid-write, holding an older digest.
        (folder / ".digest-crashed.tmp").write_bytes(b"<p>" + PHRASE + b"</p>")

        before = every_file(tmp_path)
        # The test can fail: the words and the voice note are on disk, in the digest too.
        assert str(folder / f"digest-{week}.html") in holding(before, PHRASE)
        assert str(folder / f"digest-{week}.md") in holding(before, PHRASE)
        assert holding(before, VOICE), "the voice note was not saved"
        assert str(folder / f"digest-{week}.md") in holding(before, SPOKEN)
        assert reaches_disk(team_settings, SPOKEN)
        assert b"Taking part: 2" in before[folder / f"digest-{week}.md"]
        # Someone (a sync tool, an editor) has the old digest open while the person leaves.
        held = os.open(folder / f"digest-{week}.html", os.O_RDONLY)

        await leaves.send("/delete")
        await leaves.expect("Are you sure?")
        await leaves.press("Yes, delete it all")
        await leaves.expect("Everything about you has been deleted")

        after = every_file(tmp_path)  # as it is the moment they are told
        assert holding(after, PHRASE) == []
        assert holding(after, VOICE) == []
        assert holding(after, SPOKEN) == []
        database = raw_database_bytes(team_settings)  # PostgreSQL: its data directory
        assert PHRASE not in database and SPOKEN not in database and KEPT in database
        # The digests were made again, not just deleted: the other person is still in them.
        digest_md = after[folder / f"digest-{week}.md"]
        assert KEPT in digest_md and KEPT in after[folder / f"digest-{week}.html"]
        assert b"Taking part: 1" in digest_md
        assert (folder / f"digest-{weeks.previous(week)}.csv").exists()
        assert not list(folder.glob("*.tmp"))
        # The replaced file was overwritten before it was let go: no words in the freed space.
        try:
            old = os.pread(held, 1 << 22, 0)
        finally:
            os.close(held)
        assert old and PHRASE not in old and set(old) == {0}

    after_shutdown = every_file(tmp_path)
    assert holding(after_shutdown, PHRASE) == []
    assert holding(after_shutdown, VOICE) == []
    assert holding(after_shutdown, SPOKEN) == []
    if not team_settings.storage.is_postgres:
        assert any(Path(p).suffix == ".db" for p in holding(after_shutdown, KEPT))


async def test_refresh_remakes_every_week_on_disk(
    client: SandboxClient, team_settings: Settings
) -> None:
    clock = FakeClock(datetime(2026, 3, 4, 12, tzinfo=UTC))
    async with running(team_settings, clock=clock) as app:
        for week in ("2026-W08", "2026-W09", "2026-W10"):
            await delivery.make(app, week)
        folder = digest_files.output_dir(team_settings)
        (folder / "digest-2026-W09.md").unlink()  # only what is there is made again
        (folder / "notes.txt").write_text("the team's own notes")
        assert await digest_files.refresh_after_erasure(app) == 3
        names = sorted(p.name for p in folder.iterdir())
        assert "digest-2026-W09.md" not in names and "notes.txt" in names
        assert len([n for n in names if n.startswith("digest-")]) == 11  # 3 weeks × 4, less one


# ---------------------------------------------------------------------------------------------
# Retention.


async def test_retention_prunes_old_digest_files_and_keeps_recent_ones(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(storage__retention_days="30")
    folder = digest_files.output_dir(settings)
    # Weeks (GMT): W05 ends Mon 2 Feb 00:00, W06 ends 9 Feb, W07 ends 16 Feb.
    clock = FakeClock(datetime(2026, 2, 17, 12, tzinfo=UTC))
    async with running(settings, clock=clock) as app:
        for week in ("2026-W05", "2026-W06", "2026-W07"):
            await delivery.make(app, week)
    assert len(list(folder.glob("digest-*"))) == 12
    (folder / "notes.txt").write_text("the team's own notes")
    (folder / ".digest-crashed.tmp").write_text("an older digest")

    # 30 days after 2 Feb 12:00 UTC: start-up retention prunes W05 only.
    clock = FakeClock(datetime(2026, 3, 4, 12, tzinfo=UTC))
    async with running(settings, clock=clock) as app:
        left = sorted(p.name for p in folder.iterdir())
        assert not [n for n in left if "W05" in n]
        assert len([n for n in left if "W06" in n or "W07" in n]) == 8
        assert "notes.txt" in left and ".digest-crashed.tmp" not in left

        clock.advance(timedelta(days=7))  # the daily job a week later
        await apply_retention(app)
        assert sorted(p.name for p in folder.glob("digest-*")) == [
            "digest-2026-W07.csv",
            "digest-2026-W07.html",
            "digest-2026-W07.md",
            "digest-2026-W07.power.csv",
        ]
        _, end = weeks.bounds("2026-W07", settings.project.timezone)
        assert await digest_files.prune(app, end - timedelta(microseconds=1)) == 0
        assert await digest_files.prune(app, end) == 4
        assert (folder / "notes.txt").exists()


async def test_retention_leaves_no_voice_note_or_its_words_in_any_file(
    client: SandboxClient, make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings(storage__retention_days="30", digest__min_group_size="1")
    clock = FakeClock(datetime(2026, 2, 2, 12, tzinfo=UTC))
    async with running(settings, clock=clock) as app:
        services = services_of(app)
        user = await client.user(4401)
        await join(user)
        await answer_weekly(user, None, None)  # a voice note for "anything else"
        [(answer_id, person_id)] = voice_answer_ids(settings, user.user_id)
        # The transcriber got to it a day later (a backlog): the machine's words are kept with
        # the answer and in the "Here's what I heard" message queued with them.
        clock.advance(timedelta(days=1))
        async with services.db.transaction() as tx:
            assert await transcripts.heard(tx, answer_id, SPOKEN.decode()) is not None
            await outbox.queue_in(
                tx,
                [person_id],
                transcripts.heard_key(answer_id),
                f"Here's what I heard: {SPOKEN.decode()}",
                clock.now(),
            )
        # What everyone said in the week, waiting for them: not a voice note's message.
        shared = "📣 What we heard: wallaby-summary-3390"
        await outbox.queue_outbox(
            services.db, [person_id], heard.key_of("weekly", "2026-W06"), shared, clock.now()
        )
        assert holding(every_file(tmp_path), VOICE), "the voice note was not saved"
        assert reaches_disk(settings, SPOKEN)
        assert rows(settings, "SELECT count(*) FROM listens") == [(1,)]

        # 30 days after the answer, less than 30 after the message: the answer goes, and the
        # words in the message with it.
        clock.advance(timedelta(days=29, hours=12))
        assert await apply_retention(app) == 5
        found = every_file(tmp_path)
        assert holding(found, VOICE) == []
        assert holding(found, SPOKEN) == []
        database = raw_database_bytes(settings)  # SQLite's file and WAL; PostgreSQL's files
        assert SPOKEN not in database and VOICE not in database
        assert rows(settings, "SELECT count(*) FROM answers") == [(0,)]
        assert rows(settings, "SELECT count(*) FROM listens") == [(0,)]
        assert rows(settings, "SELECT count(*) FROM transcriptions") == [(0,)]
        assert rows(
            settings,
            "SELECT text FROM outbox WHERE message_key = ?",
            (heard.key_of("weekly", "2026-W06"),),
        ) == [(shared,)]
    assert holding(every_file(tmp_path), SPOKEN) == []


# ---------------------------------------------------------------------------------------------
# Owner-only files.


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual default umask (files 0644) for this test; the old one back afterwards."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    """``st_mode`` (links not followed) of everything under ``folder`` (not itself), by path."""
    return {str(p): p.lstat().st_mode for p in sorted(folder.rglob("*"))}


def owner_only(mode: int) -> bool:
    """Folders 0700, files 0600."""
    return stat.S_IMODE(mode) == (0o700 if stat.S_ISDIR(mode) else 0o600)


async def journey_with_voice_and_digest(client: SandboxClient, settings: Settings) -> None:
    user = await client.user(4301)
    await join(user)
    await answer_weekly(user, PHRASE, None)
    coordinator = await client.user(COORDINATOR, first_name="Jo")
    await coordinator.send("/digest")
    await coordinator.expect("📊 Weekly digest")
    await coordinator.wait_for_bot_message()


@pytest.mark.usefixtures("umask_022")
async def test_everything_the_bot_creates_is_owner_only(
    client: SandboxClient, team_settings: Settings, tmp_path: Path
) -> None:
    assert restrict_umask() == 0o022
    async with running(team_settings):
        await journey_with_voice_and_digest(client, team_settings)
        found = modes(tmp_path)
    files = team_settings.storage.files_path
    digests = digest_files.output_dir(team_settings)
    assert str(files) in found and str(digests) in found
    assert any(p.startswith(str(files) + "/") for p in found), "no voice note was saved"
    assert str(digests / f"{next(digests.glob('*.html')).name}") in found
    for path, mode in found.items():
        assert owner_only(mode), f"{path} is {oct(stat.S_IMODE(mode))}"


@pytest.mark.usefixtures("umask_022")
@pytest.mark.sqlite_only("the database's own file modes: PostgreSQL's files are the server's")
async def test_tighten_fixes_files_left_readable_by_others(
    client: SandboxClient,
    team_settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = tmp_path / "shared-notes.txt"  # not the bot's: beside the database, linked to
    shared.write_text("not the bot's")
    async with running(team_settings):
        await journey_with_voice_and_digest(client, team_settings)
    files = team_settings.storage.files_path
    database = team_settings.storage.path
    [voice] = list(files.iterdir())
    bits = {p: stat.S_IMODE(m) for p, m in modes(tmp_path).items()}
    # Without the umask a voice note is 0644; the folders and the digest files are owner-only
    # anyway (mkdir mode, temporary files).
    assert bits[str(voice)] == 0o644
    assert bits[str(files)] == 0o700
    assert bits[str(digest_files.output_dir(team_settings))] == 0o700
    assert all(m == 0o600 for p, m in bits.items() if p.endswith((".html", ".md", ".csv")))
    # As an older version, or a copy made by hand, left them.
    database.chmod(0o644)
    files.chmod(0o755)
    (files / "link.ogg").symlink_to(shared)
    before = modes(tmp_path)
    open_before = [
        p for p, m in before.items() if m & 0o077 and p != str(shared) and not stat.S_ISLNK(m)
    ]
    assert {str(database), str(files), str(voice)} <= set(open_before)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.filemodes"):
        assert await secure_files(build_application(team_settings)) == len(open_before)
        assert await tighten([database, files]) == 0  # nothing left to do
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.filemodes"]
    assert len(lines) == 1
    assert lines[0].startswith(f"tightened permissions on {len(open_before)} files")
    assert PHRASE.decode() not in caplog.text

    for path, mode in modes(tmp_path).items():
        if path not in (str(shared), str(files / "link.ogg")):
            assert owner_only(mode), f"{path} is {oct(stat.S_IMODE(mode))}"
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644  # a link is never followed


@pytest.mark.usefixtures("umask_022")
async def test_database_folder_is_created_owner_only(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "new" / "everystage.db")
    await db.close()
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
