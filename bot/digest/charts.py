"""Charts with matplotlib (Agg, no display): inline SVG for the HTML, PNG for Telegram.

Hidden cells are drawn as empty bars labelled "fewer than 3", never with their value.
"""

from __future__ import annotations

import io
import threading

from bot.digest.content import Digest, QuestionFigures

_LOCK = threading.Lock()  # pyplot keeps global state
INK, ACCENT, MUTED = "#1f2933", "#2b6cb0", "#9aa5b1"


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "svg.fonttype": "path",  # text as shapes: no font needed to view the SVG
            "svg.hashsalt": "everystage",  # same input, same bytes
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _bars(labels: list[str], values: list[int | None], title: str, fewer: str, fmt: str):  # type: ignore[no-untyped-def]
    plt = _pyplot()
    height = 0.45 * len(labels) + 0.9
    fig, ax = plt.subplots(figsize=(6.0, height), dpi=110)
    shown = [v or 0 for v in values]
    ax.barh(range(len(labels)), shown, color=[ACCENT if v is not None else MUTED for v in values])
    ax.set_yticks(range(len(labels)), labels=[label[:28] for label in labels])
    ax.invert_yaxis()
    top = max(shown or [1]) or 1
    ax.set_xlim(0, top * 1.25)
    for i, value in enumerate(values):
        text = fewer if value is None else str(value)
        ax.text(
            shown[i] + top * 0.02, i, text, va="center", color=INK if value is not None else MUTED
        )
    ax.set_title(
        title if len(title) <= 60 else title[:59] + "…", loc="left", fontsize=10, color=INK
    )
    ax.tick_params(axis="x", colors=MUTED)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata=_metadata(fmt))
    plt.close(fig)
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    return {"Date": None} if fmt == "svg" else {"Software": None}


def question_chart(d: Digest, q: QuestionFigures, fmt: str = "svg") -> bytes:
    """A question's distribution as horizontal bars."""
    with _LOCK:
        return _bars(
            [b.label for b in q.buckets], [b.count for b in q.buckets], q.text, d.fewer, fmt
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
