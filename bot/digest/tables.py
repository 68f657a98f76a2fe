"""The digest's aggregate tables as one CSV (UTF-8 with BOM so Excel opens it cleanly)."""

from __future__ import annotations

import csv
import io

from bot.digest import fmt, power
from bot.digest.content import Digest

COLUMNS = ("week", "section", "item", "detail", "value", "share_percent", "change")
BOM = "\ufeff"


def rows(d: Digest) -> list[dict[str, str]]:
    """Long format: one row per figure; hidden figures read 'fewer than 3'."""
    out: list[dict[str, str]] = []

    def add(
        section: str, item: str, detail: str, value: int | float | None, share=None, change=None
    ):  # type: ignore[no-untyped-def]
        out.append(
            {
                "week": d.week,
                "section": section,
                "item": item,
                "detail": detail,
                "value": d.fewer if value is None else _num(value),
                "share_percent": "" if share is None else f"{share:.1f}",
                "change": "" if change is None else f"{change:+.1f}",
            }
        )

    p = d.participation
    for name, value in (
        ("active", p.active),
        ("new", p.new),
        ("paused", p.paused),
        ("stopped", p.stopped),
        ("unreachable", p.unreachable),
    ):
        add("participation", name, "people", value)
    for c in d.checkins:
        add("checkin", c.id, "asked", c.asked)
        add("checkin", c.id, "answered", c.answered, c.response_rate)
        add("checkin", c.id, "completed without a nudge", c.unprompted)
        add("checkin", c.id, "started", c.started)
        add("checkin", c.id, "completed", c.completed, c.completion_rate)
    for q in d.questions:
        item = f"{q.checkin_id}/{q.question_id}"
        add("question", item, "people", q.people)
        if q.hidden:
            continue
        if q.mean is not None:
            add("question", item, fmt.mean_name(q), q.mean, None, q.change)
        for b in q.buckets:
            add("question", item, f"answer={b.label}", b.count, b.share, b.change)
    for s in d.stages:
        add("stage", s.stage, "people this week", s.this_week)
        add("stage", s.stage, "people since start", s.since_start)
    add("stage", "every stage", "people who contributed at every stage so far", d.every_stage)
    add("loop", "updates", "sent this week", d.loop.updates)
    add("loop", "contributors", "people", d.loop.contributors)
    add("loop", "reached", "people", d.loop.reached, d.loop.share)
    for a in d.loop.agreement:
        for verdict, value in (("yes", a.yes), ("partly", a.partly), ("no", a.no)):
            add("loop", f"got it right ({a.stage})", verdict, value)
    for section, item, detail, value, share in power_figures(d):
        add(section, item, detail, value, share)
    add("safeguarding", "alerts", "raised", d.alerts.raised)
    add("safeguarding", "alerts", "taken", d.alerts.taken)
    add("safeguarding", "voice notes", "waiting to be heard", d.voice.count)
    if d.voice.oldest is not None:  # when the oldest came, in the project's time zone
        oldest = d.voice.oldest.strftime("%Y-%m-%d %H:%M")
        out.append({**out[-1], "detail": "oldest waiting came", "value": oldest})
    return out


def _num(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.2f}"


def render(d: Digest, bom: bool = True) -> str:
    """The CSV text (with a BOM first unless ``bom`` is False)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows(d))
    return (BOM if bom else "") + buffer.getvalue()


def power_figures(d: Digest) -> list[tuple[str, str, str, int | None, float | None]]:
    """The tokenism meter as (section, stage or week, measure, count, share) rows; a hidden
    share has no count and no share (it reads "fewer than 3")."""
    meter = d.power
    if meter is None:
        return []
    out: list[tuple[str, str, str, int | None, float | None]] = []
    for section, rows_ in (("power by stage", meter.stages), ("power by week", meter.weeks)):
        for row in rows_:
            out.append((section, row.label, "decisions", row.decisions, None))
            out.append((section, row.label, "decisions closed", row.closed, None))
            out.append((section, row.label, "followed or explained", row.explained, None))
            out.append((section, row.label, "suggestions", row.suggestions, None))
            out.append((section, row.label, "suggestions adopted", row.adopted, None))
            for name, value in (
                ("turnout", row.turnout),
                ("got it right", row.got_it_right),
                ("heard back", row.heard_back),
            ):
                if value.hidden:
                    out.append((section, row.label, f"{name} percent", None, None))
                elif value.value is not None:
                    out.append((section, row.label, f"{name} percent", None, value.value))
            if row.input is not None:
                out.append((section, row.label, "lived-experience input", int(row.input), None))
    return out


POWER_COLUMNS = ("week", "section", "item", "measure", "value", "share_percent", "meaning")


def render_power(d: Digest, bom: bool = True) -> str:
    """The tokenism meter's own CSV: one row per measure, each with what it means."""
    meanings = {name.lower(): meaning for name, meaning in power.LEGEND}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=POWER_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for section, item, measure, value, share in power_figures(d):
        hidden = value is None and share is None
        writer.writerow(
            {
                "week": d.week,
                "section": section,
                "item": item,
                "measure": measure,
                "value": d.fewer if hidden else ("" if value is None else str(value)),
                "share_percent": "" if share is None else f"{share:.1f}",
                "meaning": meanings.get(measure.removesuffix(" percent"), ""),
            }
        )
    return (BOM if bom else "") + buffer.getvalue()
