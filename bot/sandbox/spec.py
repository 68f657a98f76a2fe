"""The official Bot API spec (api.json) and request validation against it."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from .params import Params, Upload

log = logging.getLogger(__name__)

_INT_RE = re.compile(r"^-?\d+$")
# Subtypes pin their discriminator in prose: 'must be chat' or 'always "emoji"'.
_DISCRIMINATOR_RE = re.compile(r'(?:must be|always)\s+[“"]?([a-z_]+)')


def default_spec_path() -> Path:
    """$EVERYSTAGE_BOTAPI_SPEC, else <repo root>/../shared/telegram-bot-api/api.json."""
    env = os.environ.get("EVERYSTAGE_BOTAPI_SPEC")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "telegram-bot-api" / "api.json"


def spec_available(path: Path | None = None) -> bool:
    """Whether the spec file exists, so tests can skip with a clear reason."""
    return (path or default_spec_path()).is_file()


def load_spec(path: Path | None = None) -> BotApiSpec | None:
    """The parsed spec (cached per path), or None with a warning when it is absent."""
    resolved = (path or default_spec_path()).resolve()
    if not resolved.is_file():
        log.warning(
            "Bot API spec not found at %s; the sandbox will not validate requests", resolved
        )
        return None
    return _load(str(resolved))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> BotApiSpec:
    with open(path, encoding="utf-8") as fh:
        return BotApiSpec(json.load(fh))


def _short(value: Any) -> str:
    text = repr(value.filename if isinstance(value, Upload) else value)
    return text if len(text) <= 60 else text[:57] + "..."


class BotApiSpec:
    """Method and type definitions with a validator for incoming requests."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version: str = data.get("version", "?")
        self.methods: dict[str, Any] = data["methods"]
        self.types: dict[str, Any] = data["types"]

    def has_method(self, name: str) -> bool:
        """Whether the method exists (exact, case-sensitive name)."""
        return name in self.methods

    def validate(self, method: str, params: Params) -> list[str]:
        """Every way the request breaks the spec, as human-readable problems."""
        fields = {f["name"]: f for f in self.methods[method].get("fields", [])}
        attached = {
            v.removeprefix("attach://")
            for v in _strings(params.values)
            if v.startswith("attach://")
        }
        problems = [
            f"unknown parameter '{name}'"
            for name in sorted(params.names())
            if name not in fields and name not in attached
        ]
        for name, field in fields.items():
            if name in params.uploads:
                value: Any = params.uploads[name]
            elif name in params.values:
                value = params.values[name]
            else:
                if field["required"]:
                    problems.append(f"required parameter '{name}' is missing")
                continue
            problems += self._check(value, field["types"], f"parameter '{name}'", True, params)
        return problems

    def check_object(self, value: Any, type_name: str, where: str = "object") -> list[str]:
        """Validate a JSON value against a spec type (handy for the sandbox's own output)."""
        return self._check(value, [type_name], where, False, Params({}, {}))

    def _check(
        self, value: Any, types: list[str], where: str, form: bool, params: Params
    ) -> list[str]:
        candidates = []
        for type_name in types:
            problems = self._check_one(value, type_name, where, form, params)
            if not problems:
                return []
            candidates.append(problems)
        best = min(candidates, key=len)
        if len(types) > 1 and len(best) == 1 and best[0].startswith(f"{where} must be "):
            return [f"{where} must be {' or '.join(types)}, got {_short(value)}"]
        return best

    def _check_one(
        self, value: Any, type_name: str, where: str, form: bool, params: Params
    ) -> list[str]:
        mismatch = [f"{where} must be {type_name}, got {_short(value)}"]
        if type_name.startswith("Array of "):
            value = _decoded(value, list) if form else value
            if not isinstance(value, list):
                return mismatch
            inner = type_name.removeprefix("Array of ")
            problems: list[str] = []
            for i, item in enumerate(value):
                problems += self._check(item, [inner], f"{where}[{i}]", False, params)
            return problems
        if type_name == "Integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and bool(_INT_RE.match(value))
            )
            return [] if ok else mismatch
        if type_name == "Float":
            return [] if _is_float(value) else mismatch
        if type_name == "String":
            return [] if isinstance(value, str) else mismatch
        if type_name == "Boolean":
            ok = isinstance(value, bool) or (form and value in ("true", "false"))
            return [] if ok else mismatch
        if type_name == "InputFile":
            if isinstance(value, Upload):
                return []
            if isinstance(value, str) and value.startswith("attach://"):
                if value.removeprefix("attach://") not in params.uploads:
                    return [f"{where} refers to {value} but no such file part was uploaded"]
                return []
            return mismatch
        spec = self.types.get(type_name)
        if spec is None:
            return [f"{where} has type {type_name}, which the spec does not define"]
        if "subtypes" in spec:
            return self._check(value, spec["subtypes"], where, form, params)
        value = _decoded(value, dict) if form else value
        if not isinstance(value, dict):
            return mismatch
        return self._check_fields(value, spec, type_name, where, params)

    def _check_fields(
        self,
        value: dict[str, Any],
        spec: dict[str, Any],
        type_name: str,
        where: str,
        params: Params,
    ) -> list[str]:
        fields = {f["name"]: f for f in spec.get("fields", [])}
        # A subtype's first field (type/status/source) is its discriminator.
        discriminator = next(iter(fields), None) if spec.get("subtype_of") else None
        problems = [
            f"{where} has unknown field '{key}' for {type_name}"
            for key in value
            if key not in fields
        ]
        for name, field in fields.items():
            if name not in value:
                if field["required"]:
                    problems.append(f"{where} is missing required field '{name}' of {type_name}")
                continue
            problems += self._check(value[name], field["types"], f"{where}.{name}", False, params)
            if name == discriminator:
                match = _DISCRIMINATOR_RE.search(" ".join(_as_list(field.get("description"))))
                if match and value[name] != match.group(1):
                    problems.append(f"{where}.{name} must be '{match.group(1)}' for {type_name}")
        return problems


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [str(value or "")]


def _decoded(value: Any, kind: type | tuple[type, ...]) -> Any:
    # Forms carry arrays and objects as JSON text.
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, kind) else value
    return value


def _is_float(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _strings(values: dict[str, Any]) -> list[str]:
    # attach:// references may sit inside JSON-encoded media objects.
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            decoded = _decoded(value, (dict, list))
            if decoded is value:
                found.append(value)
            else:
                walk(decoded)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for value in values.values():
        walk(value)
    return found
