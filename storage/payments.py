"""Recognition and payments: how each person wants their time recognised, and what was paid.

A payment names its person by code name (pseudonym), never a name or Telegram id. Amounts are
whole minor units (pence, cents), so sums are exact. Finance law requires payment records to be
kept (HMRC: 6 years), so erasing a person (/delete) does not delete their payments: it cuts the
link (``participant_id`` and the preference they had given become NULL) and the code name alone
stays, until :func:`erase_older_than` deletes them after ``recognition.retention_years``.
"""

from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from storage import inbox
from storage.db import Database, Transaction, utc_text

# How a person wants their time recognised (participants.recognition; NULL: not chosen yet).
PREFERENCES = ("payment", "voucher", "none", "benefits_check")
METHODS = ("cash", "bank", "voucher", "other")
# How a preference reads in the finance file (the bot's own words are in the locale file).
PREFERENCE_WORDS = {
    "payment": "payment",
    "voucher": "voucher",
    "none": "no payment",
    "benefits_check": "check benefits first",
}
COLUMNS = ("number", "code_name", "paid_on", "amount", "currency", "method", "preference")
BOM = "\ufeff"


@dataclass(frozen=True)
class Payment:
    """One payment made for someone's time."""

    id: int
    pseudonym: str
    amount_minor: int
    currency: str
    method: str
    paid_on: str  # YYYY-MM-DD
    preference: str | None
    recorded_at: str

    def amount(self, places: int) -> Decimal:
        """The amount in the currency's major unit (12.50), exactly."""
        return Decimal(self.amount_minor).scaleb(-places)


@dataclass(frozen=True)
class Recorded:
    """A payment just recorded, and what its person asked for now (None: not chosen yet)."""

    payment: Payment
    preference: str | None


_SELECT = (
    "SELECT id, pseudonym, amount_minor, currency, method, paid_on, preference, recorded_at"
    " FROM payments"
)


def _payment(row: Any) -> Payment:
    return Payment(**{key: row[key] for key in Payment.__dataclass_fields__})


async def record(
    db: Database,
    pseudonym: str,
    amount_minor: int,
    currency: str,
    method: str,
    paid_on: date,
    now: datetime,
) -> Recorded | None:
    """Record a payment to the person with this code name; None if there is nobody by it.

    The /paid update being handled is marked handled in the same transaction, so a restart
    never records the same payment twice.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    if amount_minor <= 0:
        raise ValueError("a payment is more than nothing")
    async with db.transaction() as tx:
        person = await tx.one(
            "SELECT id, pseudonym, recognition FROM participants WHERE pseudonym = ?",
            (pseudonym.strip().upper(),),
        )
        if person is None:
            return None
        number = await tx.insert(
            "INSERT INTO payments (participant_id, pseudonym, amount_minor, currency, method,"
            " paid_on, preference, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                person["id"],
                person["pseudonym"],
                amount_minor,
                currency,
                method,
                paid_on.isoformat(),
                person["recognition"],
                utc_text(now),
            ),
        )
        row = await tx.one(f"{_SELECT} WHERE id = ?", (number,))
        await inbox.complete_in(tx, now)
    return Recorded(_payment(row), person["recognition"])


async def of_person(db: Database, participant_id: str) -> list[Payment]:
    """A person's payments, oldest first."""
    async with db.read() as tx:
        return await of_person_in(tx, participant_id)


async def of_person_in(tx: Transaction, participant_id: str) -> list[Payment]:
    """A person's payments, oldest first, read in ``tx``."""
    found = await tx.all(
        f"{_SELECT} WHERE participant_id = ? ORDER BY paid_on, id", (participant_id,)
    )
    return [_payment(row) for row in found]


async def between(db: Database, since: date | None, until: date | None) -> list[Payment]:
    """Payments made from ``since`` to ``until`` (days, both included), oldest first."""
    async with db.read() as tx:
        found = await tx.all(
            f"{_SELECT} WHERE paid_on >= ? AND paid_on <= ? ORDER BY paid_on, id",
            (
                since.isoformat() if since else "0000-01-01",
                until.isoformat() if until else "9999-12-31",
            ),
        )
    return [_payment(row) for row in found]


async def unlink_in(tx: Transaction, participant_id: str) -> int:
    """On erasure: keep the person's payments under their code name only; how many."""
    return await tx.execute(
        "UPDATE payments SET participant_id = NULL, preference = NULL WHERE participant_id = ?",
        (participant_id,),
    )


async def count_of(db: Database, participant_id: str) -> int:
    """How many payments this person has (what /delete would keep)."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT count(*) AS n FROM payments WHERE participant_id = ?", (participant_id,)
        )
    return int(row["n"]) if row else 0


async def erase_older_than(db: Database, cutoff: date) -> int:
    """Retention: delete payments made before ``cutoff``; how many."""
    async with db.transaction() as tx:
        count = await tx.execute("DELETE FROM payments WHERE paid_on < ?", (cutoff.isoformat(),))
    if count:
        await db.scrub(["payments"])
    return count


def retention_cutoff(today: date, years: int) -> date:
    """The first day still kept: ``years`` before ``today`` (29 February: the 28th)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def places_of(currency: str) -> int:
    """Digits after the point in this currency (2 for GBP, 0 for JPY)."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(currency))


def _row(payment: Payment) -> dict[str, Any]:
    return {
        "number": payment.id,
        "code_name": payment.pseudonym,
        "paid_on": payment.paid_on,
        "amount": payment.amount(places_of(payment.currency)),
        "currency": payment.currency,
        "method": payment.method,
        "preference": PREFERENCE_WORDS.get(payment.preference or "", ""),
    }


def write_csv(found: list[Payment], out: TextIO, *, bom: bool = False) -> int:
    """One row per payment: code name, never a name or Telegram id; how many."""
    if bom:
        out.write(BOM)
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for payment in found:
        row = _row(payment)
        writer.writerow({**row, "amount": f"{row['amount']:f}"})
    return len(found)


async def write_xlsx(found: list[Payment], path: Path) -> int:
    """The same rows as an Excel workbook: amounts as numbers, days as dates; how many."""
    from openpyxl import Workbook  # late: only this format needs it
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("payments")
    sheet.freeze_panes = "A2"
    sheet.append(list(COLUMNS))
    for payment in found:
        row = _row(payment)
        day = WriteOnlyCell(sheet, date.fromisoformat(row["paid_on"]))
        day.number_format = "yyyy-mm-dd"
        amount = WriteOnlyCell(sheet, row["amount"])
        places = places_of(payment.currency)
        amount.number_format = "0." + "0" * places if places else "0"
        sheet.append(
            [
                row["number"],
                row["code_name"],
                day,
                amount,
                row["currency"],
                row["method"],
                row["preference"],
            ]
        )
    await asyncio.to_thread(book.save, path)
    return len(found)
