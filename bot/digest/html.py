"""The digest as one self-contained HTML file: inline SVG charts, no external resources,
readable on a phone, and clean when printed.

On a phone (390 px wide) nothing is wider than the screen: the check-in table stacks into one
card per check-in, other tables scroll sideways inside their own box, long words wrap, and the
charts are drawn at about the phone's width so their labels stay at least 12 px
(``charts.FONT_SIZE``; ``tests/test_digest_layout.py`` checks all of this in Chromium).
"""

from __future__ import annotations

import re
from html import escape

from bot.digest import charts, fmt, power
from bot.digest.content import LEGEND, Digest
from bot.digest.power import PowerRow, Share

STYLE = """
:root { --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --accent: #2b6cb0; }
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  margin: 0 auto; padding: 1rem; max-width: 46rem; background: #fff; overflow-wrap: anywhere; }
h1 { font-size: 1.45rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; border-bottom: 2px solid var(--line);
  padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
p.meta, .note { color: var(--muted); font-size: .9rem; margin: .2rem 0; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(8.5rem, 1fr)); gap: .5rem; }
.tile { border: 1px solid var(--line); border-radius: .5rem; padding: .5rem .7rem; }
.tile b { display: block; font-size: 1.35rem; }
.tile span { color: var(--muted); font-size: .85rem; }
.hidden { color: var(--muted); font-style: italic; font-size: 1rem !important; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: .3rem 0; }
th, td { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid var(--line); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll table { overflow-wrap: normal; }
ul.legend { padding-left: 1.1rem; }
ul.legend li { margin: .15rem 0; }
figure { margin: .4rem 0 1rem; }
figure svg { display: block; width: 100%; height: auto; max-width: {chart_max}; }
@media (max-width: 36rem) {
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden;
    clip: rect(0 0 0 0); white-space: nowrap; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr { border: 1px solid var(--line); border-radius: .5rem; margin: .5rem 0;
    padding: .15rem .6rem; }
  table.stack td { display: flex; justify-content: space-between; gap: 1rem; padding: .25rem 0; }
  table.stack tr td:last-child { border-bottom: 0; }
  table.stack td::before { content: attr(data-label); color: var(--muted); text-align: left; }
  table.stack td.name { font-weight: 600; }
  table.stack td.name::before { content: none; }
}
blockquote { margin: .6rem 0; padding: .4rem .8rem; border-left: 4px solid var(--accent);
  background: #f5f7fa; }
blockquote cite { display: block; color: var(--muted); font-size: .85rem; font-style: normal; }
section { break-inside: avoid-page; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { break-after: avoid; }
  figure, table, blockquote, .tile { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


CHECKIN_COLUMNS = (
    "Asked",
    "Answered",
    "Response",
    "Without a nudge",
    "Started",
    "Completed",
    "Completion",
)


def _svg(data: bytes, label: str) -> str:
    text = data.decode("utf-8")
    text = re.sub(r"^.*?(?=<svg)", "", text, flags=re.DOTALL)  # drop the XML prologue
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = text.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    return f"<figure>{text}</figure>"


# Charts are never drawn wider than their natural size, so their text never grows past it.
CHART_MAX = f"{charts.WIDTH_PT * 4 / 3:.0f}px"


def _n(d: Digest, n: int | None) -> str:
    return f'<span class="hidden">{escape(d.fewer)}</span>' if n is None else f"{n:,}"


def render(d: Digest, with_charts: bool = True) -> str:
    """The whole digest as an HTML document."""
    p = d.participation
    e = escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(d.project)}: digest {e(d.week)}</title>",
        f"<style>{STYLE.replace('{chart_max}', CHART_MAX)}</style></head><body>",
        f"<header><h1>{e(d.project)}</h1>",
        f'<p class="meta">Weekly digest {e(d.week)}: {e(fmt.period(d))} ({e(d.timezone)})</p>',
        f'<p class="note">To protect people, any figure from fewer than {d.min_group_size} '
        f"people shows as “{e(d.fewer)}”. No names, code names or Telegram ids appear here."
        "</p></header>",
        '<section><h2>People</h2><div class="tiles">',
    ]
    for label, value in (
        ("taking part", p.active),
        ("new this week", p.new),
        ("paused", p.paused),
        ("stopped", p.stopped),
        ("unreachable", p.unreachable),
    ):
        out.append(f'<div class="tile"><b>{_n(d, value)}</b><span>{label}</span></div>')
    out.append("</div></section>")

    if d.checkins:
        out += [
            '<section><h2>Check-ins</h2><div class="scroll"><table class="stack">',
            "<thead><tr><th>Check-in</th>"
            + "".join(f'<th class="n">{e(label)}</th>' for label in CHECKIN_COLUMNS)
            + "</tr></thead><tbody>",
        ]
        for c in d.checkins:
            cells = (
                _n(d, c.asked),
                _n(d, c.answered),
                fmt.pct(c.response_rate),
                _n(d, c.unprompted),
                _n(d, c.started),
                _n(d, c.completed),
                fmt.pct(c.completion_rate),
            )
            out.append(
                f"<tr><td class='name'>{e(c.title)}</td>"
                + "".join(
                    f"<td class='n' data-label='{e(label)}'>{cell}</td>"
                    for label, cell in zip(CHECKIN_COLUMNS, cells, strict=True)
                )
                + "</tr>"
            )
        out.append("</tbody></table></div>")
        out.append('<ul class="note legend">')
        out += [f"<li><b>{e(term)}</b>: {e(meaning)}</li>" for term, meaning in LEGEND]
        out.append("</ul></section>")

    if d.questions:
        out.append("<section><h2>Answers</h2>")
        for q in d.questions:
            out.append(f"<h3 dir='auto'>{e(q.text)}</h3><p class='meta'>{e(q.checkin_title)}")
            if q.hidden:
                out.append(f" · {e(d.fewer)} people answered</p>")
                continue
            out.append(f" · {q.people} people")
            if q.mean is not None:
                delta = fmt.mean_change(q)
                out.append(f" · {e(fmt.mean(q))}")
                out.append(f" ({e(delta)} on last week)" if delta else "")
            out.append("</p>")
            if with_charts:
                # The question is the heading just above: the chart needs no title of its own.
                out.append(_svg(charts.question_chart(d, q, titled=False), q.text))
            out.append(
                '<div class="scroll"><table><tr><th>Answer</th><th class="n">Count</th>'
                '<th class="n">Share</th><th class="n">Change</th></tr>'
            )
            for b in q.buckets:
                change = fmt.change(b.change) if b.count is not None else ""
                out.append(
                    f"<tr><td>{e(b.label)}</td><td class='n'>{_n(d, b.count)}</td>"
                    f"<td class='n'>{fmt.pct(b.share)}</td><td class='n'>{e(change)}</td></tr>"
                )
            out.append("</table></div>")
        out.append("</section>")

    out += [
        "<section><h2>Every stage</h2>",
        '<div class="scroll"><table><tr><th>Stage</th><th class="n">This week</th>'
        '<th class="n">Since the start</th></tr>',
    ]
    for s in d.stages:
        if s.reached or s.since_start:
            out.append(
                f"<tr><td>{e(s.stage)}</td><td class='n'>{_n(d, s.this_week)}</td>"
                f"<td class='n'>{_n(d, s.since_start)}</td></tr>"
            )
    out.append("</table></div>")
    out.append(
        f"<p>People who have contributed at every stage up to the end of this week "
        f"({e(', '.join(d.reached_stages))}): <b>{_n(d, d.every_stage)}</b></p>"
        '<p class="note">“Since the start” counts people up to the end of this week.</p>'
    )
    if with_charts:
        out.append(_svg(charts.stage_chart(d), "People who contributed, by stage"))
    out.append("</section>")

    loop = d.loop
    out += [
        "<section><h2>You said, we did</h2>",
        f"<p>Updates sent this week: <b>{loop.updates}</b>. By the end of the week they had "
        f"reached {_n(d, loop.reached)} of {_n(d, loop.contributors)} contributors "
        f"({fmt.pct(loop.share)}).</p>",
        *(
            f"<p>Did the updates written in the {escape(a.stage)} stage get it right? Yes "
            f"<b>{_n(d, a.yes)}</b>, partly <b>{_n(d, a.partly)}</b>, no <b>{_n(d, a.no)}</b>.</p>"
            for a in loop.agreement
        ),
        "</section>",
        *_power(d, with_charts),
        "<section><h2>Safeguarding</h2>",
        f"<p>Alerts raised: <b>{_n(d, d.alerts.raised)}</b>; taken: "
        f"<b>{_n(d, d.alerts.taken)}</b>.</p>",
        f"<p>Voice notes waiting to be heard at the end of the week: "
        f"<b>{escape(fmt.voice_waiting(d.voice))}</b>.</p></section>",
    ]
    if d.quotes:
        out.append("<section><h2>In their words</h2>")
        out.append(
            '<p class="note">Only from people who said we may quote them, with names, numbers '
            "and addresses taken out.</p>"
        )
        for quote in d.quotes:
            out.append(
                f"<blockquote><span dir='auto'>“{e(quote.text)}”</span>"
                f"<cite>{e(quote.checkin_title)}</cite></blockquote>"
            )
        out.append("</section>")
    out.append("</body></html>\n")
    return "\n".join(out)


POWER_COLUMNS = (
    "Decisions",
    "Turnout",
    "Followed or explained",
    "Suggestions adopted",
    "Got it right",
    "Heard back",
)


def _power_cells(d: Digest, row: PowerRow) -> list[str]:
    def share(value: Share) -> str:
        return _n(d, None) if value.hidden else escape(value.words(d.fewer))

    return [
        str(row.decisions),
        share(row.turnout),
        f"{row.explained} of {row.closed}",
        f"{row.adopted} of {row.suggestions}",
        share(row.got_it_right),
        share(row.heard_back),
    ]


def _power(d: Digest, with_charts: bool) -> list[str]:
    """The tokenism meter: per stage since the start, a trend week by week, and the legend."""
    meter = d.power
    if meter is None:
        return []
    e = escape
    out = ["<section><h2>Sharing power</h2>"]
    if not meter.anything:
        out.append(
            "<p>No decisions, suggestions or updates yet: so far people have only been asked.</p>"
        )
    head = "".join(f'<th class="n">{e(c)}</th>' for c in POWER_COLUMNS)
    out.append(
        f'<div class="scroll"><table><tr><th>Stage</th>{head}<th>Lived-experience input</th></tr>'
    )
    for row in meter.stages:
        cells = "".join(f"<td class='n'>{c}</td>" for c in _power_cells(d, row))
        out.append(
            f"<tr><td>{e(row.label)}</td>{cells}<td>{'yes' if row.input else 'no'}</td></tr>"
        )
    out.append("</table></div>")
    trend = charts.power_trend(d) if with_charts else None
    if trend is not None:
        out.append(_svg(trend, "Sharing power, week by week: turnout, got it right, heard back"))
    out.append(f'<div class="scroll"><table><tr><th>Week</th>{head}</tr>')
    for row in meter.weeks:
        cells = "".join(f"<td class='n'>{c}</td>" for c in _power_cells(d, row))
        out.append(f"<tr><td>{e(row.label)}</td>{cells}</tr>")
    out.append("</table></div>")
    out.append('<ul class="legend">')
    out += [f"<li><b>{e(name)}</b>: {e(meaning)}.</li>" for name, meaning in power.LEGEND]
    out.append("</ul></section>")
    return out
