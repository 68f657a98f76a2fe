"""README's reference covers every setting and every command, the way sqlite-utils' docs test
checks every CLI command is documented.

Walks the settings model itself (``model_fields``, through lists, tables and the kinds of
question and schedule), so a setting added to the model without a line in README fails here.
"""

from __future__ import annotations

import argparse
import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from bot.cli import _parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(heading: str) -> str:
    """README from ``heading`` to the next heading of the same level."""
    start = README.index(f"\n{heading}\n")
    level = heading.split(" ", 1)[0]
    end = README.find(f"\n{level} ", start + len(heading) + 2)
    return README[start : end if end >= 0 else len(README)]


REFERENCE = section("## Configuration")


def types_of(annotation: Any) -> list[Any]:
    """What a value may be: Annotated and None dropped, unions spread, lists opened."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return types_of(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [kind for arg in get_args(annotation) for kind in types_of(arg)]
    if origin in (list, tuple):
        return [
            kind for arg in get_args(annotation) if arg is not Ellipsis for kind in types_of(arg)
        ]
    return [] if annotation is type(None) else [annotation]


def kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    [kind] = get_args(field.annotation)
    return str(kind)


def walk(model: type[BaseModel], prefix: str = "") -> tuple[set[str], set[tuple[str, str, str]]]:
    """Every dotted key (``checkins.questions.show_if.any_of``), and for the kinds of question
    and schedule each (dotted place, kind, key) that only some kinds have."""
    keys: set[str] = set()
    by_kind: set[tuple[str, str, str]] = set()
    for name, field in model.model_fields.items():
        name = field.alias or name  # the key as written in the TOML
        keys.add(f"{prefix}{name}")
        inner_keys, inner_by_kind = walk_value(field.annotation, f"{prefix}{name}")
        keys |= inner_keys
        by_kind |= inner_by_kind
    return keys, by_kind


def walk_value(annotation: Any, dotted: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    """The keys inside a value: a table, a list of tables, or one of several kinds of table."""
    keys: set[str] = set()
    by_kind: set[tuple[str, str, str]] = set()
    models = [t for t in types_of(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    kinds = {kind: m for m in models if (kind := kind_of(m))}
    if len(kinds) < 2:
        for member in models:
            inner_keys, inner_by_kind = walk(member, f"{dotted}.")
            keys |= inner_keys
            by_kind |= inner_by_kind
        return keys, by_kind
    common = set.intersection(*(set(member.model_fields) for member in kinds.values()))
    for kind, member in kinds.items():
        for key, field in member.model_fields.items():
            if key in common:
                keys.add(f"{dotted}.{key}")
            else:
                by_kind.add((dotted, kind, key))
            inner_keys, inner_by_kind = walk_value(field.annotation, f"{dotted}.{key}")
            keys |= inner_keys
            by_kind |= inner_by_kind
    return keys, by_kind


KEYS, BY_KIND = walk(Settings)


def test_the_walk_finds_settings_at_every_depth() -> None:
    # The test is only as good as its walk: settings in sections, lists of tables, inline
    # tables, and each kind's own keys.
    assert {
        "project.name",
        "storage.max_file_mb",
        "safeguarding.resources.hours",
        "checkins.minutes",
        "checkins.schedule.kind",
        "checkins.questions.required",
        "checkins.questions.show_if.any_of",
    } <= KEYS
    assert "checkins.questions.min" not in KEYS  # only a scale has it
    assert ("checkins.questions", "scale", "min_label") in BY_KIND
    assert ("checkins.questions", "reflection", "follow_up") in BY_KIND
    assert ("checkins.schedule", "weekly", "every_weeks") in BY_KIND


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_setting_is_in_the_readme_reference(key: str) -> None:
    # A section is named by its header, [storage] or [[checkins]]; a setting by its dotted key.
    names = [f"`{key}`"] if "." in key else [f"`[{key}]`", f"`[[{key}]]`"]
    assert any(name in REFERENCE for name in names), (
        f"README's Configuration section does not describe {names[0]}"
    )


def kind_row(kind: str) -> str:
    rows = [line for line in REFERENCE.splitlines() if line.startswith(f"| `{kind}` |")]
    assert len(rows) == 1, f"README's Configuration section needs one table row for kind `{kind}`"
    return rows[0]


@pytest.mark.parametrize(("place", "kind", "key"), sorted(BY_KIND))
def test_every_kind_lists_its_own_keys(place: str, kind: str, key: str) -> None:
    assert re.search(rf"`{re.escape(key)}[` ]", kind_row(kind)), (
        f"README's row for {place} kind `{kind}` does not list `{key}`"
    )


def commands() -> dict[str, list[str]]:
    """Each ``everystage`` subcommand and its options (without --help)."""
    [subparsers] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {
        name: [
            option
            for action in parser._actions
            if not isinstance(action, argparse._HelpAction)
            for option in action.option_strings
        ]
        for name, parser in subparsers.choices.items()
    }


def test_there_are_commands_to_check() -> None:
    assert {"run", "check-config", "export", "demo"} <= set(commands())


@pytest.mark.parametrize(("command", "options"), sorted(commands().items()))
def test_every_command_and_option_is_in_the_readme(command: str, options: list[str]) -> None:
    rows = [line for line in README.splitlines() if line.startswith(f"| `everystage {command}` |")]
    assert len(rows) == 1, f"README's Commands table needs a row for `everystage {command}`"
    for option in options:
        assert f"`{option}`" in rows[0], f"README's row for `everystage {command}` lacks {option}"
