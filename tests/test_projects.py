"""Many projects, one PostgreSQL server: a schema and a role per project, and no way across.

Each project's bot logs in as its own role and keeps its tables in its own schema
(``storage.schema``); a role has no privileges on another project's schema, so isolation is the
database's to enforce, not a condition every query must remember.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.sandbox import SandboxClient
from bot.settings import Settings
from tests import postgres
from tests.conftest import EXAMPLE, everystage, join, running

pytestmark = pytest.mark.sqlite_only("it sets up PostgreSQL projects itself")


@dataclass(frozen=True)
class Project:
    """One project's way into the shared database."""

    schema: str
    role: str
    password: str
    url: str  # as the project's role, no password


@pytest.fixture
def two_projects() -> Iterator[tuple[Project, Project]]:
    """One empty database; two roles, each allowed to make its own schema in it."""
    server = postgres.server()
    database = server.empty()
    suffix = secrets.token_hex(3)
    projects = []
    with psycopg.connect(server.url, autocommit=True) as admin:
        for schema in ("riverside", "northgate"):
            role, password = f"{schema}_{suffix}", secrets.token_hex(8)
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            parts = urlsplit(database.url)
            netloc = f"{role}@{parts.hostname}:{parts.port}"
            projects.append(
                Project(schema, role, password, urlunsplit(parts._replace(netloc=netloc)))
            )
    with psycopg.connect(database.url, password=database.password, autocommit=True) as owner:
        for project in projects:
            owner.execute(f'GRANT CREATE ON DATABASE "{database.name}" TO {project.role}')
    try:
        yield projects[0], projects[1]
    finally:
        server.drop(database.name)
        with psycopg.connect(server.url, autocommit=True) as admin:
            for project in projects:
                admin.execute(f"DROP ROLE IF EXISTS {project.role}")


def settings_of(make_settings: Callable[..., Settings], project: Project) -> Settings:
    return make_settings(
        storage__url=project.url,
        storage__password=project.password,
        storage__schema=project.schema,
    )


def env_of(project: Project) -> dict[str, str]:
    return {
        "EVERYSTAGE_STORAGE__URL": project.url,
        "EVERYSTAGE_STORAGE__PASSWORD": project.password,
        "EVERYSTAGE_STORAGE__SCHEMA": project.schema,
    }


async def test_two_projects_share_a_database_and_never_see_each_other(
    make_settings: Callable[..., Settings],
    client: SandboxClient,
    two_projects: tuple[Project, Project],
) -> None:
    riverside, northgate = two_projects
    first = settings_of(make_settings, riverside)
    assert first.storage.database_schema == "riverside"
    async with running(first):
        person = await client.user(7201)
        await join(person)
        await person.press("2")
        await person.expect("What made it hard?")
        await person.send("the riverside hostel heating")
        await person.expect("Which parts of the service")

    second = settings_of(make_settings, northgate)
    async with running(second):
        await person.send("/start")  # the same person is new to the other project
        await person.expect("Is that OK with you?")

    code, out, err = await everystage("export", "--config", str(EXAMPLE), **env_of(riverside))
    assert code == 0, err
    # Each project's export holds its own answers only.
    riverside_rows = out.splitlines()
    assert len(riverside_rows) == 3 and "the riverside hostel heating" in out
    code, out, err = await everystage("export", "--config", str(EXAMPLE), **env_of(northgate))
    assert code == 0, err
    assert len(out.splitlines()) == 1  # the header, no answers

    # The database itself keeps them apart: northgate's role cannot read riverside's tables.
    with psycopg.connect(northgate.url, password=northgate.password, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM northgate.answers").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM riverside.answers")
    with psycopg.connect(riverside.url, password=riverside.password, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM riverside.answers").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM northgate.participants")
