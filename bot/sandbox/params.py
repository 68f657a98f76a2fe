"""Request parameters as the Bot API receives them: strings from forms, JSON values, uploads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import bad_request


@dataclass
class Upload:
    """A multipart file part."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """Typed access to one request's parameters, with Telegram-like coercion.

    Form and multipart values arrive as strings (PTB JSON-encodes complex values), JSON bodies
    carry real JSON types; the getters accept both.
    """

    def __init__(self, values: dict[str, Any], uploads: dict[str, Upload]) -> None:
        self.values = values
        self.uploads = uploads

    def names(self) -> set[str]:
        """Every parameter name present (plain values and file parts)."""
        return set(self.values) | set(self.uploads)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        """An Integer parameter."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_str(self, name: str, default: str | None = None) -> str | None:
        """A String parameter (JSON scalars are stringified, as Telegram does)."""
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def get_bool(self, name: str, default: bool = False) -> bool:
        """A Boolean parameter ("true"/"false" in forms)."""
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def get_json(self, name: str) -> Any:
        """An object/array parameter, decoding JSON strings from forms."""
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def get_chat_id(self) -> int | str:
        """chat_id as Integer or "@username"."""
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            return value
        return self.get_int("chat_id") or 0

    def get_file(self, name: str) -> Upload | str | None:
        """An InputFile-or-String parameter: an upload, or a file_id/URL string."""
        if name in self.uploads:
            return self.uploads[name]
        value = self.get_str(name)
        if value and value.startswith("attach://"):
            attached = self.uploads.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"file {value} not found in the request")
            return attached
        return value

    def redacted(self) -> dict[str, Any]:
        """Values for the request log, with file contents elided."""
        data: dict[str, Any] = dict(self.values)
        for name, upload in self.uploads.items():
            data[name] = {
                "file": upload.filename,
                "size": len(upload.data),
                "content_type": upload.content_type,
            }
        return data
