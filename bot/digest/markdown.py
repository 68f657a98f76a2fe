"""The digest as Markdown: short enough to read in a chat, complete enough to file."""

from __future__ import annotations

from bot.digest import fmt, power
from bot.digest.content import LEGEND, Digest


def render(d: Digest) -> str:
    """The whole digest as Markdown."""
    p = d.participation
    lines = [
        f"# {d.project}: weekly digest {d.week}",
        f"_{fmt.period(d)} ({d.timezone}). Figures from fewer than {d.min_group_size} people "
        f"show as “{d.fewer}”._",
        "",
        "## People",
        f"- Taking part: {fmt.count(d, p.active)} (new this week: {fmt.count(d, p.new)})",
        f"- Paused: {fmt.count(d, p.paused)} · stopped: {fmt.count(d, p.stopped)}"
        f" · unreachable: {fmt.count(d, p.unreachable)}",
    ]
    if d.checkins:
        lines += ["", "## Check-ins"]
        for c in d.checkins:
            lines.append(
                f"- **{c.title}**: answered {fmt.count(d, c.answered)} of"
                f" {fmt.count(d, c.asked)} asked ({fmt.pct(c.response_rate)});"
                f" without a nudge {fmt.count(d, c.unprompted)};"
                f" completed {fmt.count(d, c.completed)} of {fmt.count(d, c.started)} started"
                f" ({fmt.pct(c.completion_rate)})"
            )
        lines += ["", "_How these are counted:_"]
        lines += [f"- _{term}_: {meaning}" for term, meaning in LEGEND]
    if d.questions:
        lines += ["", "## Answers"]
        for q in d.questions:
            lines.append(f"**{q.text}** _({q.checkin_title})_")
            if q.hidden:
                lines.append(f"- {d.fewer} people answered")
                continue
            summary = f"- {q.people} people"
            if q.mean is not None:
                summary += f"; {fmt.mean(q)}"
                delta = fmt.mean_change(q)
                summary += f" ({delta} on last week)" if delta else ""
            lines.append(summary)
            cells = []
            for b in q.buckets:
                cell = f"{b.label}: {fmt.count(d, b.count)}"
                if b.count is not None and b.change is not None:
                    cell += f" ({fmt.change(b.change)})"
                cells.append(cell)
            lines.append("- " + " · ".join(cells))
    lines += ["", "## Every stage"]
    for s in d.stages:
        if s.reached or s.since_start:
            lines.append(
                f"- {s.stage}: {fmt.count(d, s.this_week)} this week,"
                f" {fmt.count(d, s.since_start)} since the start"
            )
    lines.append(
        f"- Contributed at every stage up to the end of this week"
        f" ({', '.join(d.reached_stages)}): {fmt.count(d, d.every_stage)}"
    )
    lines.append("- _“Since the start” counts people up to the end of this week._")
    loop = d.loop
    lines += [
        "",
        "## You said, we did",
        f"- Updates sent: {loop.updates}; by the end of the week they had reached"
        f" {fmt.count(d, loop.reached)} of {fmt.count(d, loop.contributors)} contributors"
        f" ({fmt.pct(loop.share)})",
        *(
            f"- Did the updates written in the {a.stage} stage get it right? Yes"
            f" {fmt.count(d, a.yes)}, partly {fmt.count(d, a.partly)}, no {fmt.count(d, a.no)}"
            for a in loop.agreement
        ),
        *_power(d),
        "",
        "## Safeguarding",
        f"- Alerts raised: {fmt.count(d, d.alerts.raised)}; taken: {fmt.count(d, d.alerts.taken)}",
        f"- Voice notes waiting to be heard at the end of the week: {fmt.voice_waiting(d.voice)}",
    ]
    if d.quotes:
        lines += ["", "## In their words"]
        lines += [f"> “{q.text}” _({q.checkin_title})_\n" for q in d.quotes]
    return "\n".join(lines).rstrip() + "\n"


def summary(d: Digest) -> str:
    """A few plain lines for the coordinators' chat (the HTML file has the rest)."""
    p = d.participation
    rates = ", ".join(f"{c.title} {fmt.pct(c.response_rate, d.fewer)}" for c in d.checkins)
    lines = [
        f"📊 Weekly digest {d.week} ({fmt.period(d)})",
        f"People taking part: {fmt.count(d, p.active)} (new: {fmt.count(d, p.new)})",
    ]
    if rates:
        lines.append(f"Response: {rates}")
    covered = [s for s in d.stages if s.reached]
    if covered:
        lines.append(
            "Contributed this week: "
            + ", ".join(f"{s.stage} {fmt.count(d, s.this_week)}" for s in covered)
        )
    lines.append(
        f"Updates sent: {d.loop.updates}, reaching {fmt.pct(d.loop.share)} of contributors"
    )
    lines.append(
        f"Safeguarding alerts: {fmt.count(d, d.alerts.raised)} raised,"
        f" {fmt.count(d, d.alerts.taken)} taken"
    )
    if d.voice.count:
        lines.append(f"Voice notes waiting to be heard: {fmt.voice_waiting(d.voice)} (/listen)")
    return "\n".join(lines)


def _power(d: Digest) -> list[str]:
    meter = d.power
    if meter is None:
        return []
    lines = ["", "## Sharing power"]
    if not meter.anything:
        lines.append("- No decisions, suggestions or updates yet: people have only been asked.")
    for row in meter.stages:
        if not row.empty or row.input:
            lines.append(f"- {row.label}: {power.line(row, d.fewer)}")
    lines.append("")
    lines += [f"- _{name}: {meaning}._" for name, meaning in power.LEGEND]
    return lines
