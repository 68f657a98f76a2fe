"""Charts with matplotlib (Agg, no display): inline SVG for the HTML, PNG for Telegram.

Hidden cells are drawn as empty bars labelled "fewer than 3", never with their value.

Drawn for a phone: the figure is ``WIDTH_PT`` wide (about a phone's screen, and the HTML never
shows it wider), each answer's label sits above its bar so long labels get the full width, and
every text is ``FONT_SIZE`` points, which the HTML shows at ``FONT_SIZE`` px or more on a
390 px screen. SVG text stays text (``svg.fonttype`` none): screen readers and the layout test
can read it, and it is sharp at any zoom.
"""

from __future__ import annotations

import io
import textwrap
import threading

from bot.digest.content import Digest, QuestionFigures

_LOCK = threading.Lock()  # pyplot keeps global state
INK, ACCENT, MUTED = "#1f2933", "#2b6cb0", "#9aa5b1"
MUTED_TEXT = "#52606d"  # "fewer than 3" beside an empty bar: readable on white (6:1)
WIDTH_PT = 340.0  # 1 pt = 1 SVG unit; a 390 px screen shows it at about 358 px
FONT_SIZE = 13.0  # every label, value and title, in points (SVG units)
PNG_DPI = 150
TITLE_CHARS = 42  # per line; two lines at most
LABEL_CHARS = 40


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": FONT_SIZE,
            "font.family": ["DejaVu Sans", "sans-serif"],
            "svg.fonttype": "none",  # text as text, in the reader's sans-serif font
            "svg.hashsalt": "everystage",  # same input, same bytes
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _title(title: str) -> str:
    lines = textwrap.wrap(title, TITLE_CHARS) or [""]
    if len(lines) > 2:
        lines = [lines[0], _clip(" ".join(lines[1:]), TITLE_CHARS)]
    return "\n".join(lines)


def _bars(labels: list[str], values: list[int | None], title: str, fewer: str, fmt: str):  # type: ignore[no-untyped-def]
    plt = _pyplot()
    rows = max(len(labels), 1)
    title_text = _title(title) if title else ""
    title_lines = title_text.count("\n") + 1 if title else 0
    height = 0.62 * rows + 0.3 * title_lines + 0.3
    fig, ax = plt.subplots(figsize=(WIDTH_PT / 72, height), dpi=110)
    shown = [v or 0 for v in values]
    ax.barh(
        range(len(labels)),
        shown,
        height=0.42,
        color=[ACCENT if v is not None else MUTED for v in values],
    )
    ax.set_ylim(len(labels) - 0.6, -0.95)  # first answer on top, room for its label
    top = max(shown or [1]) or 1
    ax.set_xlim(0, top * 1.3)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        # The answer above its bar, the count (or "fewer than 3") at the bar's end.
        ax.text(0, i - 0.3, _clip(label, LABEL_CHARS), va="bottom", ha="left", color=INK)
        text = fewer if value is None else str(value)
        ax.text(
            shown[i] + top * 0.02,
            i,
            text,
            va="center",
            color=INK if value is not None else MUTED_TEXT,
        )
    ax.set_yticks([])
    ax.set_xticks([])
    ax.spines["bottom"].set_visible(False)
    ax.spines["left"].set_color(MUTED)
    if title_text:
        ax.set_title(title_text, loc="left", fontsize=FONT_SIZE, color=INK, fontweight="bold")
    fig.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata=_metadata(fmt), dpi=PNG_DPI if fmt == "png" else None)
    plt.close(fig)
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    return {"Date": None} if fmt == "svg" else {"Software": None}


def question_chart(d: Digest, q: QuestionFigures, fmt: str = "svg", titled: bool = True) -> bytes:
    """A question's distribution as horizontal bars (``titled``: the question above them)."""
    title = q.text if titled else ""
    with _LOCK:
        return _bars(
            [b.label for b in q.buckets], [b.count for b in q.buckets], title, d.fewer, fmt
        )


def stage_chart(d: Digest, fmt: str = "svg") -> bytes:
    """People who contributed to each stage since the start."""
    stages = [s for s in d.stages if s.reached or s.since_start]
    with _LOCK:
        return _bars(
            [s.stage for s in stages],
            [s.since_start for s in stages],
            "People who contributed, by stage (since the start)",
            d.fewer,
            fmt,
        )


def headline_png(d: Digest) -> bytes:
    """The chart sent as a photo: the first question shown, else the stage chart."""
    first = next((q for q in d.questions if not q.hidden), None)
    return question_chart(d, first, "png") if first else stage_chart(d, "png")


TREND_SERIES = (
    ("turnout", "Turnout", "-"),
    ("got_it_right", "Got it right", "--"),
    ("heard_back", "Heard back", ":"),
)


def power_trend(d: Digest, fmt: str = "svg") -> bytes | None:
    """The tokenism meter's shares week by week (a gap where a share is hidden or there is
    nothing yet); None when no week has any share to draw."""
    meter = d.power
    if meter is None:
        return None
    series = [
        (label, style, [getattr(row, name).value for row in meter.weeks])
        for name, label, style in TREND_SERIES
    ]
    if all(v is None for _, _, values in series for v in values):
        return None
    with _LOCK:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(WIDTH_PT / 72, 3.2), dpi=110)
        xs = list(range(len(meter.weeks)))
        for (label, style, values), color in zip(series, (ACCENT, INK, MUTED_TEXT), strict=True):
            ys = [float("nan") if v is None else v for v in values]
            ax.plot(xs, ys, style, marker="o", color=color, label=label, linewidth=2)
        ax.set_ylim(0, 105)
        ax.set_yticks([0, 50, 100], ["0%", "50%", "100%"])
        ax.set_xticks(xs, [row.label[-3:] for row in meter.weeks])
        ax.tick_params(labelsize=FONT_SIZE, colors=INK)
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            ncol=2,
            frameon=False,
            fontsize=FONT_SIZE,
        )
        ax.set_title(
            "Sharing power, week by week",
            loc="left",
            fontsize=FONT_SIZE,
            color=INK,
            fontweight="bold",
        )
        fig.tight_layout(pad=0.3)
        buffer = io.BytesIO()
        fig.savefig(
            buffer, format=fmt, metadata=_metadata(fmt), dpi=PNG_DPI if fmt == "png" else None
        )
        plt.close(fig)
        return buffer.getvalue()
