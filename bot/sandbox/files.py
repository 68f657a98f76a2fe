"""Uploaded and participant-sent files, stored on disk and addressed by file_id/file_path.

For hostile-input tests a participant's file can declare a ``file_size`` other than the bytes
stored (say 105 MB declared, a few bytes stored: getFile then refuses it as too big, as Telegram
does above 20 MB, without the test allocating 105 MB), and can get an odd ``file_path``: a given
``suffix`` (``""`` for none, or a very long one) or a whole path of the caller's choosing.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass
from pathlib import Path

# Folder and extension per kind, mirroring the file_path values Telegram hands out.
_KINDS = {
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "photo": ("photos", ".jpg"),
    "sticker": ("stickers", ".webp"),
    "audio": ("music", ".mp3"),
}
# Telegram file_ids start with a type-dependent prefix; mimic that loosely.
_PREFIX = {
    "document": "BQACAgQAAxk",
    "voice": "AwACAgQAAxk",
    "photo": "AgACAgQAAxk",
    "sticker": "CAACAgQAAxk",
    "audio": "CQACAgQAAxk",
}


@dataclass
class StoredFile:
    """One stored blob. Several file_ids may point at it (photo sizes, re-sends)."""

    file_id: str
    file_unique_id: str
    kind: str
    size: int
    file_path: str
    disk_path: Path
    file_name: str | None = None
    mime_type: str | None = None
    declared_size: int | None = None  # what updates and getFile claim, if not the real size

    @property
    def reported_size(self) -> int:
        """The file_size Telegram would report: the declared one, else the stored bytes."""
        return self.size if self.declared_size is None else self.declared_size

    def to_file(self, file_id: str | None = None) -> dict[str, object]:
        """The Bot API File object (as returned by getFile)."""
        return {
            "file_id": file_id or self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.reported_size,
            "file_path": self.file_path,
        }


class FileStore:
    """Keeps file bytes under a directory; lookups are in memory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    async def put(
        self,
        data: bytes,
        kind: str,
        file_name: str | None = None,
        mime_type: str | None = None,
        *,
        declared_size: int | None = None,
        suffix: str | None = None,
        file_path: str | None = None,
    ) -> StoredFile:
        """Store bytes and return the record (the write happens off the event loop).

        ``suffix`` replaces the kind's extension (``""``: none); ``file_path`` replaces the
        whole path (ValueError if another file has it).
        """
        folder, ext = _KINDS[kind]
        if file_path is not None and (not file_path or file_path in self._by_path):
            raise ValueError(f"file_path {file_path!r} is empty or taken")
        number = next(self._counter)
        if suffix is not None:
            ext = suffix
        elif kind == "document" and file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1][:10]
        file_path = file_path or f"{folder}/file_{number}{ext}"
        disk_path = self.directory / f"{number}.bin"
        await asyncio.to_thread(disk_path.write_bytes, data)
        record = StoredFile(
            self.new_id(kind),
            secrets.token_urlsafe(9),
            kind,
            len(data),
            file_path,
            disk_path,
            file_name,
            mime_type,
            declared_size,
        )
        self._by_id[record.file_id] = record
        self._by_path[file_path] = record
        return record

    def new_id(self, kind: str) -> str:
        """A fresh Telegram-looking file_id."""
        return _PREFIX[kind] + secrets.token_urlsafe(40)

    def alias(self, record: StoredFile, kind: str) -> str:
        """Another file_id for the same bytes (e.g. a smaller photo size)."""
        file_id = self.new_id(kind)
        self._by_id[file_id] = record
        return file_id

    def get(self, file_id: str) -> StoredFile | None:
        """The record for a file_id, if any."""
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        """The record for a file_path (as used by file downloads), if any."""
        return self._by_path.get(file_path)

    async def read(self, record: StoredFile) -> bytes:
        """The stored bytes."""
        return await asyncio.to_thread(record.disk_path.read_bytes)
