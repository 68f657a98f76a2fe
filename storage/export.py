"""Pseudonymised export of answers: one row per answer, never a chat id or a name.

Rows are streamed from SQLite in batches, so memory stays flat however many answers there
are. Filters: a period (``since`` included, ``until`` excluded) and one check-in. CSV can
start with a BOM so Excel reads it as UTF-8; times are ISO 8601 in UTC; XLSX is written in
openpyxl's streaming (write-only) mode.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from storage.db import Database, utc_text

COLUMNS = (
    "pseudonym",
    "checkin_id",
    "question_id",
    "kind",
    "answer",
    "skipped",
    "voice_note",
    "stage",
    "answered_at",
)
BATCH = 2000
BOM = "\ufeff"

Advance = Callable[[int], None]


@dataclass(frozen=True)
class Filters:
    """Which answers to export; None means no limit."""

    since: datetime | None = None
    until: datetime | None = None
    checkin_id: str | None = None

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
        return (" WHERE " + " AND ".join(parts) if parts else ""), tuple(params)


def _query(filters: Filters | None) -> tuple[str, tuple[str, ...]]:
    where, params = (filters or Filters()).where()
    return (
        "SELECT p.pseudonym, a.checkin_id, a.question_id, a.kind, a.value, a.file_path,"
        " a.stage, a.answered_at FROM answers a JOIN participants p ON p.id = a.participant_id"
        f"{where} ORDER BY a.answered_at, a.id",
        params,
    )


def _answer_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


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


def _row(row: Any) -> dict[str, Any]:
    value = None if row[4] is None else json.loads(row[4])
    return {
        "pseudonym": row[0],
        "checkin_id": row[1],
        "question_id": row[2],
        "kind": row[3],
        "answer": None if row[5] else value,
        "skipped": row[4] is None,
        "voice_note": row[5],
        "stage": row[6],
        "answered_at": row[7],
    }


async def rows(db: Database, filters: Filters | None = None) -> AsyncIterator[dict[str, Any]]:
    """Every answer as a flat dict with the pseudonym, oldest first, streamed."""
    async for batch in _batches(db, filters):
        for row in batch:
            yield _row(row)


def _flat(row: dict[str, Any]) -> list[Any]:
    return [
        row["pseudonym"],
        row["checkin_id"],
        row["question_id"],
        row["kind"],
        _answer_text(row["answer"]),
        int(row["skipped"]),
        row["voice_note"] or "",
        row["stage"],
        row["answered_at"],
    ]


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
    path: Path, out: TextIO, filters: Filters | None, advance: Advance | None, bom: bool
) -> int:
    sql, params = _query(filters)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if bom:
            out.write(BOM)
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        written = 0
        cursor = conn.execute(sql, params)
        while batch := cursor.fetchmany(BATCH):
            writer.writerows(
                (
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    "" if r[5] else _text(r[4]),
                    int(r[4] is None),
                    r[5] or "",
                    r[6],
                    r[7],
                )
                for r in batch
            )
            written += len(batch)
            if advance:
                advance(len(batch))
        return written
    finally:
        conn.close()


async def write_csv(
    db: Database,
    out: TextIO,
    filters: Filters | None = None,
    advance: Advance | None = None,
    bom: bool = False,
) -> int:
    """Write CSV with a header (and a BOM first if ``bom``); return the answers written.

    Streamed in a worker thread through a read-only connection of its own (SQLite's WAL lets
    it read while the bot writes), so the event loop is never blocked and memory stays flat.
    """
    return await asyncio.to_thread(_csv_in_thread, db.path, out, filters, advance, bom)


async def write_json(
    db: Database, out: TextIO, filters: Filters | None = None, advance: Advance | None = None
) -> int:
    """Write a JSON array of answers, one per line; return how many."""
    out.write("[")
    written = 0
    async for batch in _batches(db, filters):
        for row in batch:
            out.write(",\n" if written else "\n")
            out.write(json.dumps(_row(row), ensure_ascii=False))
            written += 1
        if advance:
            advance(len(batch))
    out.write("\n]\n")
    return written


async def write_xlsx(
    db: Database, path: Path, filters: Filters | None = None, advance: Advance | None = None
) -> int:
    """Write an Excel workbook (one sheet, header row frozen); return how many answers."""
    from openpyxl import Workbook  # late: only this format needs it

    book = Workbook(write_only=True)
    sheet = book.create_sheet("answers")
    sheet.freeze_panes = "A2"
    sheet.append(list(COLUMNS))
    written = 0
    async for batch in _batches(db, filters):
        for row in batch:
            sheet.append([_excel_safe(v) for v in _flat(_row(row))])
        written += len(batch)
        if advance:
            advance(len(batch))
    book.save(path)
    return written


def _excel_safe(value: Any) -> Any:
    """Text that Excel would run as a formula is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
