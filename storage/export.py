"""Pseudonymised export of answers: one row per answer, never a chat id or a name."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from typing import Any, TextIO

from storage.db import Database

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

_QUERY = (
    "SELECT p.pseudonym, a.checkin_id, a.question_id, a.kind, a.value, a.file_path,"
    " a.stage, a.answered_at FROM answers a JOIN participants p ON p.id = a.participant_id"
    " ORDER BY a.answered_at, a.id"
)


def _answer_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


async def rows(db: Database) -> AsyncIterator[dict[str, Any]]:
    """Every answer as a flat dict with the pseudonym, oldest first, streamed."""
    async with db.read() as tx:
        async for row in tx.iterate(_QUERY):
            value = None if row["value"] is None else json.loads(row["value"])
            yield {
                "pseudonym": row["pseudonym"],
                "checkin_id": row["checkin_id"],
                "question_id": row["question_id"],
                "kind": row["kind"],
                "answer": None if row["file_path"] else value,
                "skipped": row["value"] is None,
                "voice_note": row["file_path"],
                "stage": row["stage"],
                "answered_at": row["answered_at"],
            }


async def write_csv(db: Database, out: TextIO) -> int:
    """Write CSV with a header; return the number of answers written."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    count = 0
    async for row in rows(db):
        writer.writerow(
            {
                **row,
                "answer": _answer_text(row["answer"]),
                "skipped": int(row["skipped"]),
                "voice_note": row["voice_note"] or "",
            }
        )
        count += 1
    return count


async def write_json(db: Database, out: TextIO) -> int:
    """Write a JSON array of answers, one per line; return how many."""
    out.write("[")
    count = 0
    async for row in rows(db):
        out.write(",\n" if count else "\n")
        out.write(json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n")
    return count
