"""A progress bar (rich) on a terminal; nothing at all when output is piped or redirected."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int], None]


def _quiet(_: int) -> None:
    return None


@contextmanager
def progress(label: str, total: int | None, force: bool | None = None) -> Iterator[Advance]:
    """``with progress("Exporting", n) as advance: advance(k)``; drawn on stderr if a TTY."""
    show = sys.stderr.isatty() if force is None else force
    if not show:
        yield _quiet
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance
