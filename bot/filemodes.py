"""Owner-only files: everything the bot writes is readable by the user it runs as, and no one else.

:func:`restrict_umask` makes every file the process creates from then on 0600 (folders 0700).
:func:`secure_files` fixes what was created before (an older version, a copy made by hand, a
run without the umask): the database and its ``-wal``/``-shm``, the voice notes folder and the
digest folder, with everything in them, lose any group or other permission bits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.settings import Settings

log = logging.getLogger(__name__)

UMASK = 0o077
_OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_DATABASE_SIDE_FILES = ("-wal", "-shm", "-journal")


def restrict_umask() -> int:
    """From now on, files this process creates are 0600 and folders 0700; the old umask."""
    return os.umask(UMASK)


def locations(settings: Settings) -> list[Path]:
    """Where the bot keeps data: the database and its side files, the voice notes, digests.

    A folder that is, or holds, the database's own folder is left out: it is shared with other
    things (``files_dir = "."``, say), so only the bot's own files in it are tightened.
    """
    from bot.digest.files import output_dir  # late: keeps this module free of the digest stack

    database = Path(settings.storage.path)
    found = [database, *(Path(f"{database}{side}") for side in _DATABASE_SIDE_FILES)]
    home = database.parent.resolve()
    for folder in (settings.storage.files_path, output_dir(settings)):
        resolved = folder.resolve()
        if resolved == home or resolved in home.parents:
            log.warning("file modes: %s also holds the database's folder; not tightened", folder)
            continue
        found.append(folder)
    return found


def _tighten_one(path: Path, changed: list[Path]) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    # A symbolic link is never followed: chmod would change whatever it points at.
    if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return
    if mode & _OPEN_TO_OTHERS:
        os.chmod(path, stat.S_IMODE(mode) & ~_OPEN_TO_OTHERS)
        changed.append(path)


def tighten_paths(paths: Iterable[Path]) -> list[Path]:
    """Remove group/other bits from each path and, for a folder, everything in it; the ones
    changed. Blocking: call it in a thread."""
    changed: list[Path] = []
    for top in paths:
        _tighten_one(top, changed)
        if not top.is_dir() or top.is_symlink():
            continue
        for folder, dirs, files in os.walk(top, followlinks=False):
            for name in (*dirs, *files):
                _tighten_one(Path(folder) / name, changed)
    return changed


async def tighten(paths: Iterable[Path]) -> int:
    """:func:`tighten_paths` in a thread; logs one line if anything changed; how many did."""
    changed = await asyncio.to_thread(tighten_paths, list(paths))
    if changed:
        shown = ", ".join(str(p) for p in changed[:3]) + (", ..." if len(changed) > 3 else "")
        log.warning(
            "tightened permissions on %d files (they were readable by other users): %s",
            len(changed),
            shown,
        )
    return len(changed)


async def secure_files(app: Any) -> int:
    """Make the bot's data owner-only (see :func:`locations`); how many paths were changed.

    Call it once the database is open (post_init), so its -wal and -shm files exist.
    """
    from bot.services import services_of  # late: the CLI imports this module before Telegram

    return await tighten(locations(services_of(app).settings))
