"""Pseudonymised export of answers: one row per answer, never a chat id or a name.

Rows are streamed from the database in batches, so memory stays flat however many answers there
are. Filters: a period (``since`` included, ``until`` excluded), one check-in, one question.
Each row carries the check-in's title and the question's text from the current config
(:class:`Labels`; empty once no longer configured). CSV can start with a BOM so Excel reads it
as UTF-8, and times are ISO 8601 text in UTC; XLSX is written in openpyxl's streaming
(write-only) mode, with times as date cells (UTC) and each answer typed as its question kind
says (``Cell``: a scale's number as a number, a multi's choices as one text).

A voice note's words are in ``transcript``, and ``words_from`` says where a free-text answer's
words came from (:func:`words_from`). A machine's transcript the person has not checked is
exported too, labelled ``transcribed``: the analyst decides whether to use unchecked words, and
leaving them out would leave no words at all for every note nobody has checked or listened to.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from conversations.kinds import KINDS, kind_of
from conversations.questions import Cell
from storage.db import Database, parse_utc, utc_text

if TYPE_CHECKING:
    from conversations.model import CheckIn

COLUMNS = (
    "pseudonym",
    "checkin_id",
    "checkin_title",
    "question_id",
    "question",
    "kind",
    "answer",
    "skipped",
    "voice_note",
    "transcript",  # a voice note's words (answers.transcript)
    "words_from",  # where a free-text answer's words came from: see words_from()
    "stage",
    "answered_at",
    "language",  # the language the answer was given in (questions keep one id across them)
)
# A spreadsheet's date cell carries no time zone, so its header says which one.
XLSX_HEADER = tuple("answered_at (UTC)" if c == "answered_at" else c for c in COLUMNS)
XLSX_DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
XLSX_WIDTHS = {"B": 16, "C": 24, "D": 16, "E": 48, "G": 32, "J": 32, "K": 18, "M": 20}
BATCH = 2000
BOM = "\ufeff"
FOLLOW_UP_SUFFIX = ".follow_up"  # a reflection's follow-up is stored as "<question>.follow_up"

Advance = Callable[[int], None]

# ``words_from``: whose words an answer's are (README, "Export").
TYPED = "typed"  # a free-text answer typed in the chat
TRANSCRIBED = "transcribed"  # a voice note transcribed here, not checked by anyone
CONFIRMED = "confirmed"  # a voice note's words the person confirmed, or typed as its fix
COORDINATOR_TYPED = "coordinator-typed"  # typed by a coordinator listening to the voice note
AUDIO_ONLY = "audio only"  # a voice note without words (not transcribed, or kept as audio)
_BY = {"machine": TRANSCRIBED, "person": CONFIRMED, "coordinator": COORDINATOR_TYPED}
_FREE_TEXT = frozenset(name for name, kind in KINDS.items() if kind.quotable)


def words_from(kind: str, skipped: bool, voice_note: str | None, transcript_by: str | None) -> str:
    """Where an answer's words came from; empty for a skipped one and for a press of a button
    or a number (no words of their own)."""
    if voice_note:
        return _BY.get(transcript_by or "", AUDIO_ONLY)
    if skipped or kind not in _FREE_TEXT:
        return ""
    return TYPED


@dataclass(frozen=True)
class Labels:
    """Check-in titles and question texts by id, from the current config."""

    titles: Mapping[str, str] = field(default_factory=dict)
    questions: Mapping[tuple[str, str], str] = field(default_factory=dict)
    language: str = ""  # the project's default: answers given in it are stored without one


def labels_of(checkins: Iterable[CheckIn], language: str = "") -> Labels:
    """The labels of configured check-ins (a reflection's follow-up is a question too), and
    the project's default ``language``."""
    titles: dict[str, str] = {}
    questions: dict[tuple[str, str], str] = {}
    for checkin in checkins:
        titles[checkin.id] = checkin.title
        for question in checkin.questions:
            questions[checkin.id, question.id] = question.text
            follow_up = question.follow_up_text
            if follow_up:
                questions[checkin.id, question.id + FOLLOW_UP_SUFFIX] = follow_up
    return Labels(titles, questions, language)


NO_LABELS = Labels()


@dataclass(frozen=True)
class Filters:
    """Which answers to export; None means no limit."""

    since: datetime | None = None
    until: datetime | None = None
    checkin_id: str | None = None
    question_id: str | None = None

    def where(self) -> tuple[str, tuple[str, ...]]:
        """A WHERE clause (or '') and its parameters."""
        parts, params = [], []
        if self.since is not None:
            parts.append("a.answered_at >= ?")
            params.append(utc_text(self.since))
        if self.until is not None:
            parts.append("a.answered_at < ?")
            params.append(utc_text(self.until))
        if self.checkin_id is not None:
            parts.append("a.checkin_id = ?")
            params.append(self.checkin_id)
        if self.question_id is not None:
            parts.append("a.question_id = ?")
            params.append(self.question_id)
        return (" WHERE " + " AND ".join(parts) if parts else ""), tuple(params)


def _query(filters: Filters | None) -> tuple[str, tuple[str, ...]]:
    where, params = (filters or Filters()).where()
    return (
        "SELECT p.pseudonym, a.checkin_id, a.question_id, a.kind, a.value, a.file_path,"
        " a.stage, a.answered_at, a.language, a.transcript, a.transcript_by FROM answers a"
        " JOIN participants p ON p.id = a.participant_id"
        f"{where} ORDER BY a.answered_at, a.id",
        params,
    )


def _answer_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


async def unknown_filter(
    db: Database, filters: Filters | None, labels: Labels = NO_LABELS
) -> str | None:
    """Why the check-in or question filter can match nothing, naming the known ones; else None.

    Known: configured, or with answers in the database (a check-in since removed from the
    config still has its answers). A known one with no answers in the period is no error.
    """
    filters = filters or Filters()
    checkin, question = filters.checkin_id, filters.question_id
    async with db.read() as tx:
        if checkin is not None and checkin not in labels.titles:
            stored = await tx.one(
                "SELECT 1 AS x FROM answers WHERE checkin_id = ? LIMIT 1", (checkin,)
            )
            if stored is None:
                rows = await tx.all("SELECT DISTINCT checkin_id FROM answers")
                known = _listed(labels.titles, (r["checkin_id"] for r in rows))
                return f"unknown check-in {checkin!r}; the check-ins are: {known}"
        if question is None:
            return None
        configured = [q for c, q in labels.questions if checkin is None or c == checkin]
        if question in configured:
            return None
        where, params = ("checkin_id = ? AND ", (checkin,)) if checkin is not None else ("", ())
        stored = await tx.one(
            f"SELECT 1 AS x FROM answers WHERE {where}question_id = ? LIMIT 1", (*params, question)
        )
        if stored is not None:
            return None
        rows = await tx.all(
            "SELECT DISTINCT question_id FROM answers"
            + (" WHERE checkin_id = ?" if checkin is not None else ""),
            params,
        )
    known = _listed(configured, (r["question_id"] for r in rows))
    scope = f" in check-in {checkin!r}" if checkin is not None else ""
    return f"unknown question {question!r}{scope}; the questions are: {known or '(none)'}"


def _listed(configured: Iterable[str], stored: Iterable[str]) -> str:
    """Configured ids in config order, then any others found in the database, sorted."""
    seen = list(dict.fromkeys(configured))
    seen += sorted(set(stored) - set(seen))
    return ", ".join(seen)


async def count(db: Database, filters: Filters | None = None) -> int:
    """How many answers an export with these filters writes."""
    where, params = (filters or Filters()).where()
    async with db.read() as tx:
        row = await tx.one(f"SELECT count(*) AS n FROM answers a{where}", params)
    return row["n"] if row else 0


async def _batches(db: Database, filters: Filters | None) -> AsyncIterator[list[Any]]:
    sql, params = _query(filters)
    async with db.read() as tx:
        async for batch in tx.batches(sql, params, BATCH):
            yield batch


def _row(row: Any, labels: Labels = NO_LABELS) -> dict[str, Any]:
    value = None if row[4] is None else json.loads(row[4])
    return {
        "pseudonym": row[0],
        "checkin_id": row[1],
        "checkin_title": labels.titles.get(row[1], ""),
        "question_id": row[2],
        "question": labels.questions.get((row[1], row[2]), ""),
        "kind": row[3],
        "answer": None if row[5] else value,
        "skipped": row[4] is None,
        "voice_note": row[5],
        "transcript": row[9] if row[5] else None,
        "words_from": words_from(row[3], row[4] is None, row[5], row[10]),
        "stage": row[6],
        "answered_at": row[7],
        "language": row[8] or labels.language,
    }


async def rows(
    db: Database, filters: Filters | None = None, labels: Labels = NO_LABELS
) -> AsyncIterator[dict[str, Any]]:
    """Every answer as a flat dict with the pseudonym, oldest first, streamed."""
    async for batch in _batches(db, filters):
        for row in batch:
            yield _row(row, labels)


def _text(raw: str | None) -> str:
    """A stored JSON value as export text, without json.loads for the common cases."""
    if raw is None:
        return ""
    if raw[0] == '"' and "\\" not in raw:
        return raw[1:-1]
    if raw[0] not in '"[{':
        return raw  # numbers, true/false
    return _answer_text(json.loads(raw))


def _csv_in_thread(
    db: Database,
    out: TextIO,
    filters: Filters | None,
    advance: Advance | None,
    bom: bool,
    labels: Labels,
) -> int:
    sql, params = _query(filters)
    if bom:
        out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    written = 0
    titles, questions = labels.titles, labels.questions
    for batch in db.stream(sql, params, BATCH):
        writer.writerows(
            (
                r[0],
                r[1],
                titles.get(r[1], ""),
                r[2],
                questions.get((r[1], r[2]), ""),
                r[3],
                "" if r[5] else _text(r[4]),
                int(r[4] is None),
                r[5] or "",
                (r[9] or "") if r[5] else "",
                words_from(r[3], r[4] is None, r[5], r[10]),
                r[6],
                r[7],
                r[8] or labels.language,
            )
            for r in batch
        )
        written += len(batch)
        if advance:
            advance(len(batch))
    return written


async def write_csv(
    db: Database,
    out: TextIO,
    filters: Filters | None = None,
    advance: Advance | None = None,
    bom: bool = False,
    labels: Labels = NO_LABELS,
) -> int:
    """Write CSV with a header (and a BOM first if ``bom``); return the answers written.

    Streamed in a worker thread through a read-only connection of its own (SQLite's WAL lets
    it read while the bot writes; PostgreSQL through a server-side cursor), so the event loop
    is never blocked and memory stays flat.
    """
    return await asyncio.to_thread(_csv_in_thread, db, out, filters, advance, bom, labels)


async def write_json(
    db: Database,
    out: TextIO,
    filters: Filters | None = None,
    advance: Advance | None = None,
    labels: Labels = NO_LABELS,
) -> int:
    """Write a JSON array of answers, one per line; return how many."""
    out.write("[")
    written = 0
    async for batch in _batches(db, filters):
        for row in batch:
            out.write(",\n" if written else "\n")
            out.write(json.dumps(_row(row, labels), ensure_ascii=False))
            written += 1
        if advance:
            advance(len(batch))
    out.write("\n]\n")
    return written


async def write_xlsx(
    db: Database,
    path: Path,
    filters: Filters | None = None,
    advance: Advance | None = None,
    labels: Labels = NO_LABELS,
) -> int:
    """Write an Excel workbook (one sheet, header row frozen); return how many answers.

    Scale answers (and any other number) are number cells, so a spreadsheet can average
    them; ``answered_at`` is a date cell in UTC. Text stays text, never a formula.
    """
    from openpyxl import Workbook  # late: only this format needs it
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("answers")
    sheet.freeze_panes = "A2"
    for column, width in XLSX_WIDTHS.items():
        sheet.column_dimensions[column].width = width
    sheet.append(list(XLSX_HEADER))
    written = 0
    async for batch in _batches(db, filters):
        for raw in batch:
            row = _row(raw, labels)
            when = WriteOnlyCell(sheet, parse_utc(row["answered_at"]).replace(tzinfo=None))
            when.number_format = XLSX_DATE_FORMAT
            sheet.append(
                [
                    _excel_safe(row["pseudonym"]),
                    _excel_safe(row["checkin_id"]),
                    _excel_safe(row["checkin_title"]),
                    _excel_safe(row["question_id"]),
                    _excel_safe(row["question"]),
                    row["kind"],
                    _excel_value(row["answer"], row["kind"]),
                    int(row["skipped"]),
                    _excel_safe(row["voice_note"] or ""),
                    _excel_safe(row["transcript"] or ""),
                    row["words_from"],
                    _excel_safe(row["stage"]),
                    when,
                    _excel_safe(row["language"]),
                ]
            )
        written += len(batch)
        if advance:
            advance(len(batch))
    await asyncio.to_thread(book.save, path)
    return written


def _excel_value(answer: Any, kind: str) -> Any:
    """An answer as its kind says (``Cell``): a number stays a number (a scale's), a list is
    one text joined with '; ' (a multi's); anything else is safe text."""
    cell = kind_of(kind).cell
    if cell is Cell.NUMBER and isinstance(answer, int | float) and not isinstance(answer, bool):
        return answer
    if cell is Cell.LIST and isinstance(answer, list):
        return _excel_safe("; ".join(str(v) for v in answer))
    return _excel_safe(_answer_text(answer))


def _excel_safe(value: Any) -> Any:
    """Text that Excel would run as a formula is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
