"""Recognition and payments: each person says how they want their time recognised (/settings),
coordinators mark payments by code name (/paid), people see them (/mydata), the finance file
(`everystage payments`) holds code names only, and payment records outlive /delete (the law
keeps them) under the code name alone, until retention deletes them."""

from __future__ import annotations

import csv
import io
import json
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.handlers.payments import Paid, Problem, amount_in_minor_units, code_name, read_paid
from bot.sandbox import Sandbox, SandboxClient, SandboxUser
from bot.settings import Settings
from storage import participants, payments
from storage.db import Database
from tests.conftest import (
    EXAMPLE,
    everystage,
    join,
    privacy_notice,
    rows,
    running,
    settle,
    tap,
)

COORDINATOR = 7950
TEAM_CHAT = -100795
# A Saturday: nothing is due, so no nudge crosses the conversation.
SATURDAY = datetime(2026, 11, 7, 12, tzinfo=UTC)
TODAY = date(2026, 11, 7)


# ---------------------------------------------------------------------------------------------
# Reading /paid, without Telegram.


@pytest.mark.parametrize(
    ("text", "places", "minor"),
    [
        ("20", 2, 2000),
        ("12.5", 2, 1250),
        ("12.50", 2, 1250),
        ("£12.50", 2, 1250),
        ("0.01", 2, 1),
        ("1200", 0, 1200),
        ("12.505", 2, None),  # a fraction of a penny
        ("0", 2, None),
        ("0.00", 2, None),
        ("-5", 2, None),
        ("12,50", 2, None),
        ("1e3", 2, None),
        ("twenty", 2, None),
        ("1234567", 2, None),  # over 999,999: surely a typing mistake
        ("12.5", 0, None),
    ],
)
def test_amounts_are_exact_minor_units(text: str, places: int, minor: int | None) -> None:
    assert amount_in_minor_units(text, places, "£") == minor


def test_a_paid_command_is_read_with_its_method_and_day_in_either_order() -> None:
    def read(line: str) -> Paid | Problem:
        return read_paid(line.split(), 2, TODAY, "£")

    assert read("P-7KQ2MX 20") == Paid("P-7KQ2MX", 2000, "other", TODAY)
    assert read("p-7kq2mx 12.50 Cash") == Paid("P-7KQ2MX", 1250, "cash", TODAY)
    assert read("7KQ2MX 5 on 2026-03-01 voucher") == Paid(
        "P-7KQ2MX", 500, "voucher", date(2026, 3, 1)
    )
    assert read("P-7KQ2MX 5 bank 2026-11-06") == Paid("P-7KQ2MX", 500, "bank", date(2026, 11, 6))
    assert read("") == Problem("payments.usage", {})
    assert read("P-7KQ2MX") == Problem("payments.usage", {})
    assert read("P-7KQ2MX 5 cash bank") == Problem("payments.usage", {})
    assert read("P-7KQ2MX lots") == Problem("payments.bad_amount", {"amount": "lots"})
    assert read("P-7KQ2MX 5 paypal") == Problem("payments.bad_method", {"method": "paypal"})
    assert read("P-7KQ2MX 5 on 2026-02-30") == Problem("payments.bad_day", {"day": "2026-02-30"})
    assert read("P-7KQ2MX 5 on 2026-11-08") == Problem("payments.future_day", {"day": "2026-11-08"})
    assert code_name(" p-abc234 ") == "P-ABC234"


def test_payment_records_are_kept_whole_years() -> None:
    assert payments.retention_cutoff(date(2026, 11, 7), 6) == date(2020, 11, 7)
    assert payments.retention_cutoff(date(2028, 2, 29), 1) == date(2027, 2, 28)


# ---------------------------------------------------------------------------------------------
# Through the bot.


def team(make_settings: Any, **env: str) -> Settings:
    settings: Settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        coordinators__chat_id=str(TEAM_CHAT),
        nudges__check_every_seconds="3600",
        **env,
    )
    return settings


async def choose(user: SandboxUser, label: str) -> None:
    """In /settings, choose how they want their time recognised."""
    await user.send("/settings")
    summary = await user.expect("Your settings")
    assert "• Pay for your time: not chosen yet" in summary.text
    assert ["What everyone said", "Payment"] in [[b.text for b in row] for row in summary.buttons]
    assert all(len(row) <= 2 for row in summary.buttons)  # small phones: two to a row
    await tap(user, "Payment")
    choices = await user.last_bot_message()
    assert choices is not None
    assert "how would you like it?" in choices.text
    assert choices.button_texts() == [
        "Money",
        "A voucher",
        "No payment, thanks",
        "Check my benefits first",
    ]
    await user.press(label)


async def test_a_person_asks_to_check_benefits_and_the_team_sees_it_when_paying(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings = team(make_settings)
    async with running(settings, clock=FakeClock(SATURDAY)) as app:
        coordinator = await client.user(COORDINATOR, first_name="Jo")
        ada = await client.user(7951, first_name="Ada")
        ben = await client.user(7952, first_name="Ben")
        for person in (ada, ben):
            await join(person)
        [(ada_code,), (ben_code,)] = rows(
            settings, "SELECT pseudonym FROM participants ORDER BY chat_id"
        )

        # Ada: "check my benefits first", with a kind note about benefits.
        await choose(ada, "Check my benefits first")
        note = await ada.expect("can sometimes change the benefits you get")
        assert "talk it through with you" in note.text
        shown = {m.message_id: m for m in await ada.messages()}
        assert any("• Pay for your time: check my benefits first" in m.text for m in shown.values())
        assert rows(settings, "SELECT recognition FROM participants ORDER BY chat_id") == [
            ("benefits_check",),
            (None,),
        ]
        # Ben: a voucher, and no note about benefits.
        await choose(ben, "A voucher")
        await ben.expect("• Pay for your time: a voucher")
        await settle(sandbox, app)
        assert not [m for m in await ben.messages() if "benefits" in (m.text or "")]

        # The coordinator records payments; mistakes are named kindly, nothing is stored.
        for wrong, says in (
            ("/paid", "To record a payment, send /paid"),
            (f"/paid {ada_code} twenty cash", "“twenty” isn't an amount I can read"),
            (f"/paid {ada_code} 0 cash", "“0” isn't an amount I can read"),
            (f"/paid {ada_code} 10 paypal", "“paypal” isn't a way of paying I know"),
            (f"/paid {ada_code} 10 cash on 2026-11-30", "2026-11-30 hasn't happened yet"),
            ("/paid P-ZZZZZZ 10 cash", "I can't find anyone with the code name P-ZZZZZZ"),
        ):
            await coordinator.send(wrong)
            await coordinator.expect(says)
        assert rows(settings, "SELECT count(*) FROM payments") == [(0,)]

        await coordinator.send(f"/paid {ada_code.lower()} 12.50 cash")
        done = await coordinator.expect("recorded")
        assert done.text == (
            f"✅ Payment #1 recorded: £12.50 to {ada_code}, cash, on 2026-11-07.\n"
            "⚠️ They asked to check their benefits first: make sure someone has talked it"
            " through with them."
        )
        await coordinator.send(f"/paid {ada_code} 20 bank on 2026-10-31")
        await coordinator.expect("Payment #2 recorded: £20.00")
        await coordinator.send(f"/paid {ben_code} 15 voucher")
        done = await coordinator.expect("Payment #3 recorded")
        assert done.text.endswith("They asked for a voucher.")
        for text in [m.text or "" for m in await coordinator.messages()]:
            assert "Ada" not in text and "7951" not in text
        audited = rows(settings, "SELECT action, allowed FROM audit_log WHERE action = 'paid'")
        assert len(audited) == 9 and all(allowed for _, allowed in audited)

        # Ada sees her preference and her payments in /mydata, in words and in the file.
        await ada.send("/mydata")
        summary = await ada.expect("Here's what we keep about you")
        assert (
            "Payment for your time: check my benefits first. You can change this in /settings."
        ) in summary.text
        assert "Payments we made you:\n• £20.00 to your bank account, on 2026-10-31\n" in (
            summary.text
        )
        assert "• £12.50 in cash, on 2026-11-07" in summary.text
        assert "records of payments for 6 years" in summary.text
        document = await ada.wait_for_bot_message()
        mine = json.loads(await client.download(document.document["file_id"]))
        assert mine["you"]["recognition"] == "benefits_check"
        assert [
            (p["paid_on"], p["amount"], p["currency"], p["method"]) for p in mine["payments_to_you"]
        ] == [("2026-10-31", "20.00", "GBP", "bank"), ("2026-11-07", "12.50", "GBP", "cash")]
        assert all(p["you_had_asked_for"] == "benefits_check" for p in mine["payments_to_you"])

        # /delete says plainly that payments stay; afterwards they do, under the code name only.
        await ada.send("/delete")
        confirm = await ada.expect("Are you sure?")
        assert "keep records of payments we made you for 6 years" in confirm.text
        await ada.press("Yes, delete it all")
        done = await ada.expect("Everything about you has been deleted, except records of")
        await ben.send("/delete")
        confirm = await ben.expect("Are you sure?")
        assert "payments" in confirm.text  # Ben was paid too
        await ben.press("No, keep it")
        await settle(sandbox, app)

    assert rows(settings, "SELECT count(*) FROM participants WHERE chat_id = 7951") == [(0,)]
    assert rows(settings, "SELECT count(*) FROM answers") == rows(
        settings,
        "SELECT count(*) FROM answers a JOIN participants p ON p.id = a.participant_id"
        " WHERE p.chat_id = 7952",
    )
    assert rows(
        settings,
        "SELECT pseudonym, participant_id, preference, amount_minor, paid_on FROM payments"
        " WHERE pseudonym = ? ORDER BY id",
        (ada_code,),
    ) == [(ada_code, None, None, 1250, "2026-11-07"), (ada_code, None, None, 2000, "2026-10-31")]
    [(ben_link,)] = rows(settings, "SELECT participant_id FROM payments WHERE id = 3")
    assert ben_link is not None


async def test_privacy_says_payment_records_are_kept(
    client: SandboxClient, make_settings: Any
) -> None:
    async with running(make_settings(recognition__retention_years="7")):
        user = await client.user(7960)
        await user.send("/privacy")
        notice, _ = await privacy_notice(user)
        assert "what we paid you and when" in notice
        assert "keep records of payments for 7 years" in notice
        assert "only under your code name, not linked to you" in notice
        assert len(notice) < 2000


async def test_nobody_without_payments_is_told_about_them_on_delete(
    client: SandboxClient, make_settings: Any
) -> None:
    async with running(make_settings()):
        user = await client.user(7961)
        await join(user)
        await user.send("/delete")
        confirm = await user.expect("Are you sure?")
        assert "payment" not in confirm.text
        await user.press("Yes, delete it all")
        done = await user.expect("Everything about you has been deleted. 🗑")
        assert "payment" not in done.text


# ---------------------------------------------------------------------------------------------
# The finance file, and retention.


async def paid_people(settings: Settings) -> dict[str, str]:
    """Two people (chat ids 555000111, 555000222), paid on several days; their code names."""
    now = SATURDAY
    async with Database.opened(settings.storage) as db:
        ana, _ = await participants.consent(db, 555000111, 1, now)
        ben, _ = await participants.consent(db, 555000222, 1, now)
        await participants.set_preference(db, ana.id, "recognition", "voucher")
        for code, minor, method, day in (
            (ana.pseudonym, 1000, "voucher", date(2026, 2, 28)),  # before the period
            (ana.pseudonym, 1250, "voucher", date(2026, 3, 1)),
            (ben.pseudonym, 2000, "cash", date(2026, 3, 15)),
            (ana.pseudonym, 999, "bank", date(2026, 3, 31)),
            (ben.pseudonym, 3000, "other", date(2026, 4, 1)),  # after it
        ):
            assert await payments.record(db, code, minor, "GBP", method, day, now)
    return {"ana": ana.pseudonym, "ben": ben.pseudonym}


async def test_the_finance_file_holds_code_names_and_the_period_only(
    make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings()
    codes = await paid_people(settings)
    period = ("--config", str(EXAMPLE), "--from", "2026-03-01", "--to", "2026-03-31")

    status, out, err = await everystage("payments", *period)
    assert status == 0, err
    assert out.startswith("\ufeff")
    found = list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff"))))
    assert [tuple(r.values()) for r in found] == [
        ("2", codes["ana"], "2026-03-01", "12.50", "GBP", "voucher", "voucher"),
        ("3", codes["ben"], "2026-03-15", "20.00", "GBP", "cash", ""),
        ("4", codes["ana"], "2026-03-31", "9.99", "GBP", "bank", "voucher"),
    ]
    assert list(found[0]) == list(payments.COLUMNS)
    for secret in ("555000111", "555000222"):
        assert secret not in out

    target = tmp_path / "march.xlsx"
    target.write_bytes(b"")
    target.chmod(0o644)  # even a file that was readable by others is made owner-only
    status, _, err = await everystage(
        "payments", *period, "--format", "xlsx", "--output", str(target)
    )
    assert status == 0, err
    assert "wrote 3 payments" in err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    from openpyxl import load_workbook

    sheet = load_workbook(target, read_only=True)["payments"]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == list(payments.COLUMNS)
    assert [(r[1], r[2].date(), float(r[3]), r[5]) for r in table[1:]] == [
        (codes["ana"], date(2026, 3, 1), 12.5, "voucher"),
        (codes["ben"], date(2026, 3, 15), 20.0, "cash"),
        (codes["ana"], date(2026, 3, 31), 9.99, "bank"),
    ]

    status, _, err = await everystage("payments", *period, "--format", "xlsx")
    assert status == 2 and "--output" in err
    status, _, err = await everystage("payments", "--config", str(EXAMPLE), "--from", "March")
    assert status == 2 and "YYYY-MM-DD" in err


async def test_retention_deletes_payment_records_after_the_years_set(
    make_settings: Any, sandbox: Sandbox
) -> None:
    settings = make_settings(recognition__retention_years="6")
    async with Database.opened(settings.storage) as db:
        person, _ = await participants.consent(db, 555000333, 1, SATURDAY)
        for day in (date(2020, 11, 6), date(2020, 11, 7), date(2026, 1, 5)):
            await payments.record(db, person.pseudonym, 500, "GBP", "cash", day, SATURDAY)
    async with running(settings, clock=FakeClock(SATURDAY)):
        pass  # retention runs at start-up
    assert rows(settings, "SELECT paid_on FROM payments ORDER BY paid_on") == [
        ("2020-11-07",),
        ("2026-01-05",),
    ]


async def test_erasure_keeps_payments_by_code_name_only(database: Database, tmp_path: Path) -> None:
    person, _ = await participants.consent(database, 555000444, 1, SATURDAY)
    await participants.set_preference(database, person.id, "recognition", "benefits_check")
    recorded = await payments.record(
        database, person.pseudonym, 2500, "GBP", "cash", TODAY, SATURDAY
    )
    assert recorded is not None and recorded.preference == "benefits_check"
    data = await participants.everything_about(database, person.id)
    assert len(data["payments_to_you"]) == 1
    assert await payments.count_of(database, person.id) == 1

    await participants.erase(database, person.id, tmp_path)

    assert await participants.by_chat(database, 555000444) is None
    [kept] = await payments.between(database, None, None)
    assert (kept.pseudonym, kept.amount_minor, kept.preference) == (person.pseudonym, 2500, None)
    async with database.read() as tx:
        row = await tx.one("SELECT participant_id FROM payments")
    assert row is not None and row["participant_id"] is None
    # Paying an erased code name is refused: nobody is behind it any more.
    again = await payments.record(database, person.pseudonym, 100, "GBP", "cash", TODAY, SATURDAY)
    assert again is None
