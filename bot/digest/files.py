"""The digest files on disk: ``digest-<week>.html``, ``.md`` and ``.csv`` in ``digest.output_dir``.

They hold quotes, so they follow the people in them: after an erasure every digest file is
made again from the database as it is now (:func:`refresh_after_erasure`), and retention
deletes the files of weeks older than the cutoff (:func:`prune`). Files are written whole to a
temporary file in the same folder (created 0600) and moved into place, so a reader never sees
half a file; a temporary file left by a crash is removed by the next refresh or prune.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bot.digest import content, html, markdown, tables, weeks
from bot.services import services_of
from bot.settings import Settings

log = logging.getLogger(__name__)

SUFFIXES = ("html", "md", "csv", "power.csv")  # power.csv: the tokenism meter on its own
FILE_NAME = re.compile(r"^digest-(\d{4}-W\d{2})\.(html|md|csv|power\.csv)$")
_TEMP_PREFIX = ".digest-"
_TEMP_SUFFIX = ".tmp"
# Held while a file is written and while leftover temporary files are removed, so a clean-up
# never takes a temporary file another thread is about to move into place.
_writing = threading.Lock()


class DigestTexts(Protocol):
    """What :func:`write_files` needs (``bot.handlers.weekly_digest.Rendered`` is one)."""

    @property
    def digest(self) -> content.Digest: ...
    @property
    def html(self) -> str: ...
    @property
    def markdown(self) -> str: ...
    @property
    def csv(self) -> str: ...
    @property
    def power_csv(self) -> str: ...


def output_dir(settings: Settings) -> Path:
    """``digest.output_dir``; a relative one is beside the database."""
    folder = settings.digest.output_dir
    return folder if folder.is_absolute() else Path(settings.storage.path).parent / folder


def write_files(rendered: DigestTexts, folder: Path) -> list[Path]:
    """digest-<week>.html, .md, .csv and .power.csv in ``folder``, each replaced atomically."""
    texts = {
        "html": rendered.html,
        "md": rendered.markdown,
        "csv": rendered.csv,
        "power.csv": rendered.power_csv,
    }
    return _write_week(folder, rendered.digest.week, texts)


def _write_week(folder: Path, week: str, texts: Mapping[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for suffix, text in texts.items():
        path = folder / f"digest-{week}.{suffix}"
        _replace(path, text.encode("utf-8"))
        written.append(path)
    return written


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` (mode 0600), then move it over.

    The file it replaces is overwritten with zeros once it is out of sight, so what it said
    is not left behind in the freed space (on file systems that write in place).
    """
    with _writing:
        handle, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            old = _open_for_wiping(path)
            try:
                os.replace(temp, path)
                if old is not None:
                    _wipe(old)
            finally:
                if old is not None:
                    os.close(old)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _open_for_wiping(path: Path) -> int | None:
    """The file open for writing, or None: not there, a link, not ours to write, or also
    known by another name (a hard link someone made on purpose is left alone)."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    if os.fstat(handle).st_nlink != 1:
        os.close(handle)
        return None
    return handle


def _wipe(handle: int) -> None:
    """Overwrite an open file with zeros, as far as it goes (best effort)."""
    with contextlib.suppress(OSError):
        size = os.fstat(handle).st_size
        os.lseek(handle, 0, os.SEEK_SET)
        block = bytes(min(size, 1 << 16))
        left = size
        while left > 0:
            left -= os.write(handle, block[: min(left, len(block))])
        os.fsync(handle)


def _delete(path: Path) -> None:
    """Overwrite with zeros, then unlink (FileNotFoundError if it is not there)."""
    handle = _open_for_wiping(path)
    if handle is not None:
        try:
            _wipe(handle)
        finally:
            os.close(handle)
    path.unlink()


def _remove_leftovers(folder: Path) -> int:
    """Delete temporary files a crash left behind (they may hold an older digest)."""
    removed = 0
    if not folder.is_dir():
        return removed
    with _writing:
        for path in folder.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                _delete(path)
                removed += 1
    return removed


def on_disk(folder: Path) -> dict[str, list[Path]]:
    """Every digest file in ``folder``, by week (weeks that are not real ISO weeks left out)."""
    found: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        match = FILE_NAME.match(path.name)
        if match is None or not path.is_file() or path.is_symlink():
            continue
        try:
            weeks.parse_week(match.group(1))
        except ValueError:
            continue
        found.setdefault(match.group(1), []).append(path)
    return found


# ---------------------------------------------------------------------------------------------
# After an erasure.


def _render_and_write(digest: content.Digest, folder: Path, suffixes: list[str]) -> None:
    """Render the formats that were on disk and replace them (CPU-bound: runs in a thread)."""
    renderers = {
        "html": html.render,
        "md": markdown.render,
        "csv": tables.render,
        "power.csv": tables.render_power,
    }
    _write_week(folder, digest.week, {s: renderers[s](digest) for s in suffixes})


def _unlink_all(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            _delete(path)
            removed += 1
    return removed


def _error(exc: BaseException) -> str:
    """An error described without anything it might quote: its type, and for OS errors the
    reason and the file."""
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or ''} {exc.filename or ''}".strip()
    return type(exc).__name__


async def refresh_after_erasure(app: Any, since: datetime | None = None) -> int:
    """Make every digest file on disk again from the database as it is now; the weeks redone.

    Called after a person is erased, so their words and their part in the figures leave every
    file. ``since`` (when they joined) skips the weeks that ended before it: those cannot hold
    anything of theirs, and remaking two years of weeks would keep them waiting. It does not
    raise: a week that cannot be made again has its files deleted instead (``/digest WEEK``
    makes them again), and problems are logged without any content.
    """
    services = services_of(app)
    folder = output_dir(services.settings)
    try:
        await asyncio.to_thread(_remove_leftovers, folder)
        found = await asyncio.to_thread(on_disk, folder)
    except Exception as exc:
        log.error("erasure: could not list the digest files in %s (%s)", folder, _error(exc))
        return 0
    rewritten = 0
    zone = services.settings.project.timezone
    for week, paths in found.items():
        if since is not None and weeks.bounds(week, zone)[1] <= since:
            continue
        suffixes = [p.name.rsplit(".", 1)[1] for p in paths]
        try:
            digest = await content.compute(services.db, services.settings, week)
            await asyncio.to_thread(_render_and_write, digest, folder, suffixes)
        except Exception as exc:
            try:
                await asyncio.to_thread(_unlink_all, paths)
            except Exception as again:
                log.error(
                    "erasure: digest %s could not be made again (%s) nor deleted (%s): "
                    "delete %s by hand",
                    week,
                    _error(exc),
                    _error(again),
                    ", ".join(str(p) for p in paths),
                )
            else:
                log.error(
                    "erasure: digest %s could not be made again (%s); its files were deleted "
                    "(/digest %s makes it again)",
                    week,
                    _error(exc),
                    week,
                )
            continue
        rewritten += 1
    if rewritten:
        log.info("erasure: %d digest week(s) made again in %s", rewritten, folder)
    return rewritten


# ---------------------------------------------------------------------------------------------
# Retention.


def _prune(folder: Path, cutoff: datetime, zone: str) -> int:
    removed = 0
    if not folder.is_dir():
        return removed
    _remove_leftovers(folder)
    for week, paths in on_disk(folder).items():
        _, end = weeks.bounds(week, zone)
        if end > cutoff:
            continue
        for path in paths:
            try:
                _delete(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("retention: could not delete %s (%s)", path, _error(exc))
                continue
            removed += 1
    return removed


async def prune(app: Any, cutoff: datetime) -> int:
    """Retention: delete the digest files of every week that ended at or before ``cutoff``."""
    settings = services_of(app).settings
    folder = output_dir(settings)
    removed = await asyncio.to_thread(_prune, folder, cutoff, settings.project.timezone)
    if removed:
        log.info("retention: deleted %d digest file(s) of weeks before %s", removed, cutoff.date())
    return removed
