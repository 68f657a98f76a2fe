"""Numbered schema migrations, applied in order at start-up, each in its own transaction.

Append new migrations to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One schema change."""

    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "participants, sessions, answers, completions",
        """
        CREATE TABLE participants (
            id              TEXT PRIMARY KEY,          -- random; never shown to anyone
            pseudonym       TEXT NOT NULL UNIQUE,      -- what exports and reports use
            chat_id         INTEGER NOT NULL UNIQUE,   -- kept only to reach the person
            status          TEXT NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'paused', 'stopped')),
            consent_version INTEGER NOT NULL,
            consented_at    TEXT NOT NULL,
            created_at      TEXT NOT NULL
        );

        -- The check-in a participant is in the middle of, so a restart resumes it.
        CREATE TABLE sessions (
            participant_id  TEXT PRIMARY KEY REFERENCES participants(id) ON DELETE CASCADE,
            session_id      TEXT NOT NULL UNIQUE,
            checkin_id      TEXT NOT NULL,
            stage           TEXT NOT NULL,
            state           TEXT NOT NULL,             -- conversations.engine.State as JSON
            message_id      INTEGER,                   -- the message showing the question
            started_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        );

        CREATE TABLE answers (
            id              INTEGER PRIMARY KEY,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            session_id      TEXT NOT NULL,
            checkin_id      TEXT NOT NULL,
            question_id     TEXT NOT NULL,
            kind            TEXT NOT NULL,
            value           TEXT,                      -- JSON; NULL when skipped
            file_path       TEXT,                      -- voice note, relative to files_dir
            stage           TEXT NOT NULL,
            answered_at     TEXT NOT NULL,
            UNIQUE (session_id, question_id)           -- a double tap cannot record twice
        );
        CREATE INDEX answers_by_participant ON answers (participant_id);
        CREATE INDEX answers_by_time ON answers (answered_at);

        CREATE TABLE completions (
            session_id      TEXT PRIMARY KEY,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            checkin_id      TEXT NOT NULL,
            stage           TEXT NOT NULL,
            completed_at    TEXT NOT NULL
        );
        CREATE INDEX completions_by_participant ON completions (participant_id);
        """,
    ),
)
