"""Moving a project: `everystage migrate-db` copies it, checks it, and a half copy is refused.

The real command runs as a process, as a coordinator would run it, between two runs of the real
bot: people who were half-way through a check-in carry on after the move.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.sandbox import SandboxClient
from bot.settings import Settings
from storage import transfer
from storage.db import Database
from tests import postgres
from tests.conftest import EXAMPLE, everystage, join, rows, running

ANSWERS = "SELECT id, session_id, question_id, value FROM answers ORDER BY id"


async def people_half_way(settings: Settings, client: SandboxClient) -> None:
    """Three people join; one answers the first question and is left on the second."""
    async with running(settings):
        for user_id in (7101, 7102, 7103):
            await join(await client.user(user_id))
        first = await client.user(7101)
        await first.press("2")
        await first.expect("What made it hard?")


@pytest.mark.sqlite_only("it moves a SQLite project to PostgreSQL itself")
async def test_a_project_moves_to_postgresql_and_back_and_people_carry_on(
    make_settings: Callable[..., Settings], client: SandboxClient, tmp_path: Path
) -> None:
    server = postgres.server()
    target = server.fresh()
    try:
        settings = make_settings()
        await people_half_way(settings, client)
        before = rows(settings, ANSWERS)

        code, out, err = await everystage(
            "migrate-db",
            "--config",
            str(EXAMPLE),
            "--to",
            target.url,
            EVERYSTAGE_TARGET_PASSWORD=target.password or "",
        )
        assert code == 0, err
        assert "every row count and checksum matches" in out
        assert "  answers: 1 rows, checksum" in out
        assert f'url = "{target.url}"' in out
        assert (target.password or "never-printed") not in out + err

        moved = make_settings(storage__url=target.url, storage__password=target.password or "")
        assert moved.storage.is_postgres
        assert rows(moved, ANSWERS) == before
        async with running(moved):
            first = await client.user(7101)
            await first.send("Not enough beds")  # the question they were on before the move
            await first.expect("Which parts of the service")
            newcomer = await client.user(7104)
            await join(newcomer)
            await newcomer.press("4")
            await newcomer.expect("Which parts of the service")
        after = rows(moved, ANSWERS)
        assert after[: len(before)] == before
        assert len(after) == len(before) + 2  # new rows got new ids after the copied ones

        back = tmp_path / "back.db"
        code, out, err = await everystage(
            "migrate-db",
            "--config",
            str(EXAMPLE),
            "--to",
            f"sqlite:///{back}",
            EVERYSTAGE_STORAGE__URL=target.url,
            EVERYSTAGE_STORAGE__PASSWORD=target.password or "",
        )
        assert code == 0, err
        with sqlite3.connect(back) as conn:
            assert conn.execute(ANSWERS).fetchall() == after

        code, _, err = await everystage(
            "migrate-db", "--config", str(EXAMPLE), "--to", target.url,
            EVERYSTAGE_STORAGE__URL=f"sqlite:///{back}",
            EVERYSTAGE_TARGET_PASSWORD=target.password or "",
        )  # fmt: skip
        assert code == 1 and "already holds data" in err
    finally:
        postgres.forget(target.url)
        server.drop(target.name)


async def test_a_copy_that_did_not_finish_is_refused_until_it_is_run_again(
    make_settings: Callable[..., Settings], client: SandboxClient, tmp_path: Path
) -> None:
    settings = make_settings()
    await people_half_way(settings, client)
    copy = tmp_path / "copy.db"

    class PowerCut(Exception):
        pass

    def cut_after_the_first_table(done: transfer.Copied) -> None:
        raise PowerCut

    async with (
        Database.opened(settings.storage) as source,
        Database.opened(copy, unfinished_copy=True) as target,
    ):
        with pytest.raises(PowerCut):
            await transfer.copy(source, target, on_table=cut_after_the_first_table)

    half = {"EVERYSTAGE_STORAGE__URL": f"sqlite:///{copy}"}
    code, _, err = await everystage("export", "--config", str(EXAMPLE), **half)
    assert code == 1
    assert "did not finish" in err and "Traceback" not in err
    code, _, err = await everystage("run", "--config", str(EXAMPLE), **half)
    assert code == 1
    assert "cannot start" in err and "did not finish" in err and "Traceback" not in err

    code, out, err = await everystage(
        "migrate-db", "--config", str(EXAMPLE), "--to", f"sqlite:///{copy}"
    )  # run again: the copy starts over and finishes
    assert code == 0, err
    assert "every row count and checksum matches" in out
    original = rows(settings, ANSWERS)
    assert rows(make_settings(storage__url=f"sqlite:///{copy}"), ANSWERS) == original
    code, out, err = await everystage("export", "--config", str(EXAMPLE), **half)
    assert code == 0, err
    assert "did not finish" not in err
    assert len(out.splitlines()) == 1 + len(original)


async def test_migrate_db_refuses_a_password_on_the_command_line(
    make_settings: Callable[..., Settings],
) -> None:
    make_settings()
    code, out, err = await everystage(
        "migrate-db", "--config", str(EXAMPLE), "--to", "postgresql://bot:hunter2@db.example/x"
    )
    assert code == 2
    assert "EVERYSTAGE_TARGET_PASSWORD" in err
    assert "hunter2" not in out + err
