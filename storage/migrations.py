"""Numbered schema migrations, applied in order at start-up, each in its own transaction.

Append new migrations to ``MIGRATIONS``, and their PostgreSQL twins (same version and name) to
``storage/migrations_pg.py``; never edit one that has shipped.
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
    Migration(
        2,
        "stages, nudge occurrences, participant preferences",
        """
        -- Preferences for nudges; NULL means "the project's default".
        ALTER TABLE participants ADD COLUMN timezone TEXT;
        ALTER TABLE participants ADD COLUMN quiet_hours TEXT;       -- "21:00-09:00" or "off"
        ALTER TABLE participants ADD COLUMN frequency TEXT NOT NULL DEFAULT 'weekly'
            CHECK (frequency IN ('weekly', 'fortnightly', 'stage_only'));
        -- Set when Telegram says the person blocked the bot or the chat is gone.
        ALTER TABLE participants ADD COLUMN unreachable_since TEXT;

        -- The project's stages as they happened; the newest row is the current stage.
        CREATE TABLE stages (
            id              INTEGER PRIMARY KEY,
            stage           TEXT NOT NULL,
            entered_at      TEXT NOT NULL,
            source          TEXT NOT NULL               -- 'config' or a coordinator action
        );

        -- One row per (participant, check-in, occurrence): a nudge goes out at most once.
        CREATE TABLE occurrences (
            id              INTEGER PRIMARY KEY,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            checkin_id      TEXT NOT NULL,
            occurrence_key  TEXT NOT NULL,
            due_at          TEXT NOT NULL,
            status          TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'open', 'answered', 'expired',
                                              'missed', 'failed')),
            next_at         TEXT,                       -- when the next message is due
            sent_at         TEXT,                       -- the opening message went out
            reminders_sent  INTEGER NOT NULL DEFAULT 0,
            closes_at       TEXT,                       -- expiry; later answers are 'late'
            answered_at     TEXT,
            late            INTEGER NOT NULL DEFAULT 0,
            UNIQUE (participant_id, checkin_id, occurrence_key)
        );
        CREATE INDEX occurrences_next ON occurrences (status, next_at);
        CREATE INDEX occurrences_due ON occurrences (due_at);

        -- Messages to many people that are not check-ins (a new stage, later "you said, we
        -- did"): the same at-most-once key per person.
        CREATE TABLE outbox (
            id              INTEGER PRIMARY KEY,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            message_key     TEXT NOT NULL,
            text            TEXT NOT NULL,
            status          TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'sent', 'failed')),
            next_at         TEXT NOT NULL,
            sent_at         TEXT,
            UNIQUE (participant_id, message_key)
        );
        CREATE INDEX outbox_next ON outbox (status, next_at);

        ALTER TABLE sessions ADD COLUMN occurrence_id INTEGER;
        ALTER TABLE completions ADD COLUMN occurrence_id INTEGER;
        ALTER TABLE completions ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    Migration(
        3,
        "coordinators: audit log, safeguarding alerts, updates, invites",
        """
        -- The invite a person joined through (for breakdowns by cohort), if any.
        ALTER TABLE participants ADD COLUMN cohort TEXT;
        -- Safeguarding resources are offered at most once per check-in (or once outside one).
        ALTER TABLE sessions ADD COLUMN support_offered INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE participants ADD COLUMN support_offered_at TEXT;

        -- Every admin action and refusal: who (a coordinator's Telegram user id, or 'refused'
        -- for anyone else, whose id is not kept), what and when. Never message content.
        CREATE TABLE audit_log (
            id              INTEGER PRIMARY KEY,
            at              TEXT NOT NULL,
            actor           TEXT NOT NULL,
            action          TEXT NOT NULL,
            detail          TEXT NOT NULL DEFAULT '',
            allowed         INTEGER NOT NULL
        );

        CREATE TABLE alerts (
            id              INTEGER PRIMARY KEY,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            checkin_id      TEXT,
            question_id     TEXT,
            category        TEXT NOT NULL,
            shared_text     TEXT,                       -- only if share_text_in_alerts
            raised_at       TEXT NOT NULL,
            message_id      INTEGER,                    -- the alert in the coordinators' chat
            taken_by        TEXT,                       -- coordinator's name as Telegram shows it
            taken_at        TEXT
        );
        CREATE INDEX alerts_open ON alerts (taken_at);

        -- "You said, we did".
        CREATE TABLE updates (
            id              INTEGER PRIMARY KEY,
            created_at      TEXT NOT NULL,
            author          TEXT NOT NULL,
            checkin_id      TEXT,
            question_id     TEXT,
            theme           TEXT,
            text            TEXT NOT NULL,
            contributors    INTEGER NOT NULL DEFAULT 0,  -- people who answered it
            reached         INTEGER NOT NULL DEFAULT 0   -- of those, how many it was sent to
        );

        CREATE TABLE invites (
            code            TEXT PRIMARY KEY,
            cohort          TEXT NOT NULL,
            created_at      TEXT NOT NULL
        );
        """,
    ),
    Migration(
        6,
        "weekly digest: quote consent, delivered weeks, contribution index",
        """
        -- "You may quote my words without my name", one row per person once asked: may_quote
        -- NULL (asked, not answered), 1 yes, 0 no. A table of its own (not a participants
        -- column) so the Participant record stays as it is; erased with the person.
        CREATE TABLE quote_consent (
            participant_id  TEXT PRIMARY KEY REFERENCES participants(id) ON DELETE CASCADE,
            may_quote       INTEGER,
            asked_at        TEXT NOT NULL,
            answered_at     TEXT
        );

        -- One row per ISO week ("2026-W48"), claimed before the digest is sent: at most once.
        CREATE TABLE digests (
            week            TEXT PRIMARY KEY,
            claimed_at      TEXT NOT NULL,
            sent_at         TEXT
        );

        -- Who contributed in which stage (the "every stage" indicator), without the table.
        CREATE INDEX answers_contributions ON answers (participant_id, stage)
            WHERE value IS NOT NULL;
        """,
    ),
    Migration(
        7,
        "reliability: durable inbox, prompt delivery, send attempts",
        """
        -- Every update fetched from Telegram, written before its offset is confirmed, so a crash
        -- never loses one. The payload (the raw update) is kept only until it is handled, then
        -- erased; the row stays a while so a re-delivered update_id is recognised and ignored.
        CREATE TABLE inbox (
            update_id       INTEGER PRIMARY KEY,
            payload         TEXT,                       -- raw update JSON; NULL once handled
            received_at     TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0, -- restarts that found it unhandled
            status          TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'handled', 'failed', 'unreadable')),
            error           TEXT,                       -- an error's type name, never content
            handled_at      TEXT
        );
        CREATE INDEX inbox_pending ON inbox (update_id) WHERE status = 'pending';
        CREATE INDEX inbox_handled ON inbox (handled_at) WHERE status != 'pending';

        -- The question a session shows must reach the person: ``step`` is the current prompt's
        -- step, ``delivered_step`` the one Telegram confirmed. They differ while a question is
        -- on its way (or was lost in a crash or an outage); ``prompt_retry_at`` is when it may
        -- be sent again by the recovery job.
        ALTER TABLE sessions ADD COLUMN step INTEGER;
        ALTER TABLE sessions ADD COLUMN delivered_step INTEGER;
        ALTER TABLE sessions ADD COLUMN prompt_retry_at TEXT;
        UPDATE sessions SET step = json_extract(state, '$.step'),
                            delivered_step = json_extract(state, '$.step');
        CREATE INDEX sessions_undelivered ON sessions (prompt_retry_at)
            WHERE delivered_step IS NOT step;

        -- Each attempt to send a nudge, a reminder or an outbox message, and what came of it.
        -- outcome is NULL while the request is in flight: after a crash that means "unknown".
        CREATE TABLE send_attempts (
            id              INTEGER PRIMARY KEY,
            source          TEXT NOT NULL CHECK (source IN ('occurrences', 'outbox')),
            source_id       INTEGER NOT NULL,
            message_no      INTEGER NOT NULL,           -- 0 the opening message, n reminder n
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            started_at      TEXT NOT NULL,
            outcome         TEXT CHECK (outcome IN ('sent', 'not_sent', 'uncertain',
                                                    'refused', 'unreachable')),
            error           TEXT,                       -- an error's type name, never content
            finished_at     TEXT
        );
        CREATE INDEX send_attempts_in_flight ON send_attempts (id) WHERE outcome IS NULL;
        CREATE INDEX send_attempts_message ON send_attempts (source, source_id, message_no);
        CREATE INDEX send_attempts_participant ON send_attempts (participant_id);

        -- A message with an attempt whose outcome is NULL is in flight (claimed). An
        -- occurrence's sent_at is set only when Telegram confirmed its opening message.

        -- The outbox gains 'uncertain' (Telegram's answer was lost twice: maybe delivered,
        -- never counted as delivered) and replies; SQLite cannot alter a CHECK, so rebuild it.
        CREATE TABLE outbox_new (
            id              INTEGER PRIMARY KEY,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            message_key     TEXT NOT NULL,
            text            TEXT NOT NULL,
            status          TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'sent', 'failed', 'uncertain')),
            next_at         TEXT,
            sent_at         TEXT,
            -- 'news' waits for the end of quiet hours; a 'reply' (the thank-you at the end of
            -- a check-in, kept here so a crash cannot lose it) goes at once.
            kind            TEXT NOT NULL DEFAULT 'news' CHECK (kind IN ('news', 'reply')),
            UNIQUE (participant_id, message_key)
        );
        INSERT INTO outbox_new (id, participant_id, message_key, text, status, next_at, sent_at)
            SELECT id, participant_id, message_key, text, status, next_at, sent_at FROM outbox;
        DROP TABLE outbox;
        ALTER TABLE outbox_new RENAME TO outbox;
        CREATE INDEX outbox_next ON outbox (status, next_at);
        """,
    ),
    Migration(
        8,
        "voice notes: how long each one is",
        """
        -- Seconds, as Telegram reported them (NULL for older answers and anything not a voice
        -- note), so /mydata can say "voice note (12 s)".
        ALTER TABLE answers ADD COLUMN voice_seconds INTEGER;
        """,
    ),
    Migration(
        9,
        "send attempts: at most one in flight per message",
        """
        -- A message is claimed by writing an attempt with no outcome yet; this makes "no other
        -- attempt of it in flight" a constraint, not only a condition checked before writing
        -- (which concurrent writers on PostgreSQL could both pass).
        CREATE UNIQUE INDEX send_attempts_one_in_flight ON send_attempts (source, source_id)
            WHERE outcome IS NULL;
        """,
    ),
    Migration(
        10,
        "one sending budget shared by every worker",
        """
        -- Token buckets of bot/budget.py's PostgresBudget (Telegram's flood limits, shared by
        -- the workers): 'overall', 'chat:<chat id>', and 'hold' (a 429's flood wait: until
        -- updated_at). Seconds since the epoch by the database's clock. Unused on SQLite (one
        -- process keeps its budget in memory); made here too so both schemas stay the same.
        CREATE TABLE send_budget (
            bucket          TEXT PRIMARY KEY,
            tokens          DOUBLE PRECISION NOT NULL,
            updated_at      DOUBLE PRECISION NOT NULL
        );
        """,
    ),
    Migration(
        11,
        "several workers: who is alive, each chat's turn, which worker sent what",
        """
        -- Workers (processes) sharing this database; one is alive while expires_at (ms since
        -- the epoch by the database's clock) is ahead (bot/leader.py, storage/leases.py).
        CREATE TABLE workers (
            id              TEXT PRIMARY KEY,
            started_at      TEXT NOT NULL,
            expires_at      INTEGER NOT NULL,
            pid             INTEGER                     -- PostgreSQL: its own session's backend
        );
        -- A chat's updates are handled by the worker holding its row, in update_id order.
        CREATE TABLE chat_leases (
            chat_id         INTEGER PRIMARY KEY,
            worker          TEXT NOT NULL,
            taken_from      TEXT,                       -- a worker that had gone, when taken over
            waiting         INTEGER NOT NULL DEFAULT 0  -- another worker stored an update meanwhile
        );
        -- The chat an update belongs to (0: none), so any worker can handle a chat's updates.
        ALTER TABLE inbox ADD COLUMN chat_id INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX inbox_pending_chat ON inbox (chat_id, update_id) WHERE status = 'pending';
        -- Which worker made an attempt (NULL: one process, or before this migration).
        ALTER TABLE send_attempts ADD COLUMN worker TEXT;
        """,
    ),
    Migration(
        12,
        "moving a project: copies into this database and whether they finished",
        """
        -- everystage migrate-db writes a row before copying and finishes it only once every
        -- table's rows and checksum match; while one is unfinished the bot refuses this
        -- database (storage/transfer.py).
        CREATE TABLE transfers (
            id              INTEGER PRIMARY KEY,
            source          TEXT NOT NULL,
            started_at      TEXT NOT NULL,
            finished_at     TEXT
        );
        """,
    ),
    Migration(
        13,
        "what we heard: whether each person wants to hear what everyone said",
        """
        -- 1: after a check-in, send them a short summary of everyone's answers (/settings).
        ALTER TABLE participants ADD COLUMN hear_results INTEGER NOT NULL DEFAULT 1;
        """,
    ),
    Migration(
        14,
        "did we get it right: each person's verdict on a 'you said, we did' update",
        """
        -- One row per person and update: Yes, Partly or No, changeable; for Partly and No, what
        -- we missed (their words, or a voice note in storage.files_dir), if they said.
        CREATE TABLE update_feedback (
            update_id       INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            verdict         TEXT NOT NULL CHECK (verdict IN ('yes', 'partly', 'no')),
            reason          TEXT,
            file_path       TEXT,
            prompt_id       INTEGER,  -- the message asking what we missed, which they reply to
            answered_at     TEXT NOT NULL,
            PRIMARY KEY (update_id, participant_id)
        );
        CREATE INDEX update_feedback_person ON update_feedback (participant_id);
        """,
    ),
    Migration(
        15,
        "suggestions: what participants propose, and what the team did with it",
        """
        CREATE TABLE suggestions (
            id              INTEGER PRIMARY KEY,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            text            TEXT NOT NULL,
            created_at      TEXT NOT NULL,
            status          TEXT NOT NULL DEFAULT 'new'
                            CHECK (status IN ('new', 'adopted', 'not_now')),
            decided_at      TEXT,
            answer          TEXT,     -- a coordinator's reply, sent to the person
            reply_prompt_id INTEGER   -- the message a coordinator replies to, to answer it
        );
        CREATE INDEX suggestions_person ON suggestions (participant_id);
        """,
    ),
    Migration(
        16,
        "inbox: which worker received each update, so others leave it to that worker",
        """
        ALTER TABLE inbox ADD COLUMN received_by TEXT;
        """,
    ),
    Migration(
        17,
        "decisions: questions put to participants to decide, their ballots and votes",
        """
        CREATE TABLE decisions (
            id          INTEGER PRIMARY KEY,
            key         TEXT UNIQUE,   -- the config's [[decisions]] id; NULL when made in chat
            question    TEXT NOT NULL,
            options     TEXT NOT NULL, -- a JSON list of 2 to 6 labels
            method      TEXT NOT NULL CHECK (method IN ('plurality', 'approval')),
            audience    TEXT NOT NULL, -- everyone, cohort:<name> or checkin:<id>
            stage       TEXT,          -- the project's stage when it was put to people
            author      TEXT,
            created_at  TEXT NOT NULL,
            opened_at   TEXT,
            closes_at   TEXT,
            closed_at   TEXT,
            status      TEXT NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'closed')),
            asked       INTEGER,          -- at close: how many were asked
            voted       INTEGER,          -- at close: how many voted
            tally       TEXT,          -- at close: a JSON list of votes per option
            team_told_at TEXT          -- when the team was shown the result
        );
        CREATE TABLE decision_voters (
            decision_id     INTEGER NOT NULL REFERENCES decisions(id) ON DELETE CASCADE,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            PRIMARY KEY (decision_id, participant_id)
        );
        CREATE INDEX decision_voters_person ON decision_voters (participant_id);
        CREATE TABLE votes (
            decision_id     INTEGER NOT NULL REFERENCES decisions(id) ON DELETE CASCADE,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            option          INTEGER NOT NULL,
            voted_at        TEXT NOT NULL,
            PRIMARY KEY (decision_id, participant_id, option)
        );
        CREATE INDEX votes_person ON votes (participant_id);
        -- What the team did with a decision: the "you said, we did" update that says so.
        -- An outbox message's inline buttons, as JSON rows of [label, callback data].
        ALTER TABLE outbox ADD COLUMN buttons TEXT;
        ALTER TABLE updates ADD COLUMN decision_id INTEGER REFERENCES decisions(id);
        """,
    ),
    Migration(
        18,
        "recognition and payments: how each person wants their time recognised, payments made",
        """
        -- How the person wants their time recognised (/settings); NULL: not chosen yet.
        ALTER TABLE participants ADD COLUMN recognition TEXT
            CHECK (recognition IN ('payment', 'voucher', 'none', 'benefits_check'));
        -- Payments for people's time, marked by coordinators (/paid). Finance law says these are
        -- kept (HMRC: 6 years) after the person erases their data: then participant_id and
        -- preference become NULL and only the code name stays (storage/payments.py); they go
        -- after recognition.retention_years.
        CREATE TABLE payments (
            id              INTEGER PRIMARY KEY,
            participant_id  TEXT REFERENCES participants(id) ON DELETE SET NULL,
            pseudonym       TEXT NOT NULL,
            amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),  -- pence, cents
            currency        TEXT NOT NULL,                              -- ISO 4217, e.g. GBP
            method          TEXT NOT NULL
                            CHECK (method IN ('cash', 'bank', 'voucher', 'other')),
            paid_on         TEXT NOT NULL,    -- YYYY-MM-DD, in the project's time zone
            preference      TEXT,             -- what they had asked for, when it was recorded
            recorded_at     TEXT NOT NULL
        );
        CREATE INDEX payments_person ON payments (participant_id);
        CREATE INDEX payments_paid_on ON payments (paid_on);
        """,
    ),
    Migration(
        19,
        "languages: each person's language, and the language each answer was given in",
        """
        ALTER TABLE participants ADD COLUMN language TEXT;  -- NULL: the project's default
        ALTER TABLE answers ADD COLUMN language TEXT;
        """,
    ),
    Migration(
        20,
        "peer researchers' drafts waiting for a coordinator, stored (not in one process's memory)",
        """
        CREATE TABLE handovers (
            token        TEXT PRIMARY KEY,  -- random, carried by the coordinators' buttons
            kind         TEXT NOT NULL CHECK (kind IN ('update', 'decision')),
            draft        TEXT NOT NULL,  -- JSON: the team's own text, never a participant's
            author_chat  INTEGER NOT NULL,  -- the peer researcher's: told what became of it
            created_at   TEXT NOT NULL
        );
        """,
    ),
    Migration(
        21,
        "voice notes: their words (transcripts), the transcription queue, the listen queue",
        """
        -- Every voice note answer waits here until a coordinator has listened to it, or the
        -- machine's transcript of it has been screened (then its row goes). sent_to/sent_at:
        -- the coordinator it was last handed to (others skip it for a while, so two
        -- coordinators do not listen to the same note); outcome: what they made of it.
        CREATE TABLE listens (
            answer_id       INTEGER PRIMARY KEY REFERENCES answers(id) ON DELETE CASCADE,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            queued_at       TEXT NOT NULL,
            sent_to         TEXT,
            sent_at         TEXT,
            heard_by        TEXT,
            heard_at        TEXT,
            outcome         TEXT CHECK (outcome IN ('fine', 'follow_up', 'typed'))
        );
        CREATE INDEX listens_waiting ON listens (heard_at, queued_at);
        -- Voice notes waiting for the transcriber (offline, one at a time). claimed_until: a
        -- worker is on it until then (a killed worker's claim runs out); attempts: tries so
        -- far (a note that fails too often stays with the listen queue alone).
        CREATE TABLE transcriptions (
            answer_id       INTEGER PRIMARY KEY REFERENCES answers(id) ON DELETE CASCADE,
            participant_id  TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
            queued_at       TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            claimed_until   TEXT
        );
        CREATE INDEX transcriptions_queue ON transcriptions (queued_at);
        -- A voice note's words, and whose they are: 'machine' (transcribed, not yet checked),
        -- 'person' (they said it is right, or typed the fix), 'coordinator' (typed while
        -- listening). fix_message_id: the message asking the person for their fix, so their
        -- reply to it finds its answer.
        ALTER TABLE answers ADD COLUMN transcript TEXT;
        ALTER TABLE answers ADD COLUMN transcript_by TEXT
            CHECK (transcript_by IN ('machine', 'person', 'coordinator'));
        ALTER TABLE answers ADD COLUMN fix_message_id INTEGER;
        INSERT INTO listens (answer_id, participant_id, queued_at)
            SELECT id, participant_id, answered_at FROM answers WHERE file_path IS NOT NULL;
        """,
    ),
)
