"""``everystage translations export|import``: the project's own texts as a spreadsheet, one row
per text and one column per language, for translators; and their work back into the config.

A row's key names the text by ids, which stay put when texts or their order change:
``checkins.weekly.questions.week.text``, ``consent.text``, ``project.stage_messages.design``;
options one row each, counted from 1 (``checkins.weekly.questions.where.options.2``).

Import writes into the TOML file each text is in (the config or an included prompts file) with
tomlkit, which keeps the file's comments, order and layout: a text that gains a translation
becomes ``text = { en = "...", pl = "..." }`` where it was, a table gains an entry. Only what
changed is written; an empty cell never removes a translation (edit the file for that). The
result is checked as check-config checks it, and the files are put back as they were if it is
not valid. The default language's options are what answers store, so import never changes them.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import ConfigError, ConfigProblem, Settings, load_settings
from bot.translations import Path as KeyPath
from bot.translations import Text, Translations, language_name

FORMATS = ("csv", "xlsx")
BOM = "\ufeff"  # so Excel reads the CSV as UTF-8
_BARE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Row:
    """One text: its key, where it is (its key path, and its place among options), and its
    text in each language (empty: not translated)."""

    key: str
    path: KeyPath
    option: int | None
    texts: dict[str, str]


def _part(part: str | int) -> str:
    text = str(part)
    return text if _BARE.fullmatch(text) else '"' + text.replace('"', '\\"') + '"'


def key_of(path: KeyPath, settings: Settings) -> str:
    """A text's key by ids: ``checkins.weekly.questions.week.text``."""
    parts: list[str | int] = []
    rest = list(path)
    if rest[:1] == ["checkins"] and isinstance(rest[1], int):
        checkin = settings.checkins[rest[1]]
        parts += ["checkins", checkin.id]
        rest = rest[2:]
        if rest[:1] == ["questions"] and isinstance(rest[1], int):
            parts += ["questions", checkin.questions[rest[1]].id]
            rest = rest[2:]
    elif rest[:1] == ["decisions"] and isinstance(rest[1], int):
        parts += ["decisions", settings.decisions[rest[1]].id]
        rest = rest[2:]
    parts += [part + 1 if isinstance(part, int) else part for part in rest]
    return ".".join(_part(part) for part in parts)


def rows(settings: Settings) -> list[Row]:
    """Every text of the configuration, in the order the config has them."""
    translations = settings.translations
    found: list[Row] = []
    for path, values in translations.texts.items():
        key = key_of(path, settings)
        default = values[translations.default]
        if isinstance(default, list):
            for index in range(len(default)):
                texts = {
                    language: _nth(values.get(language), index)
                    for language in translations.languages
                }
                found.append(Row(f"{key}.{index + 1}", path, index, texts))
        else:
            texts = {language: str(values.get(language, "")) for language in translations.languages}
            found.append(Row(key, path, None, texts))
    return found


def _nth(options: Text | None, index: int) -> str:
    return options[index] if isinstance(options, list) and index < len(options) else ""


# ---------------------------------------------------------------------------------------------
# Export.


def export(settings: Settings, fmt: str, out: io.TextIOBase | Path) -> int:
    """Write the sheet as ``fmt`` (csv to a text stream or a file; xlsx to a file); return the
    number of texts written."""
    languages = list(settings.translations.languages)
    table = [["key", *languages]] + [
        [row.key, *(row.texts[language] for language in languages)] for row in rows(settings)
    ]
    if fmt == "xlsx":
        assert isinstance(out, Path)
        _write_xlsx(table, out)
    elif isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="") as handle:
            handle.write(BOM)
            csv.writer(handle).writerows(table)
    else:
        csv.writer(out).writerows(table)
    return len(table) - 1


def _write_xlsx(table: list[list[str]], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "translations"
    for r, values in enumerate(table, 1):
        for c, value in enumerate(values, 1):
            cell = sheet.cell(row=r, column=c, value=value)
            cell.data_type = "s"  # never a formula, whatever the text starts with
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if r == 1:
                cell.font = Font(bold=True)
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 45
    for column in range(2, len(table[0]) + 1):
        sheet.column_dimensions[chr(ord("A") + column - 1)].width = 60
    book.save(path)


# ---------------------------------------------------------------------------------------------
# Import.


def read_sheet(path: Path, fmt: str | None = None) -> list[list[str]]:
    """The cells of a sheet, row by row (empty cells as '')."""
    fmt = fmt or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
    if fmt == "xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            return [
                ["" if value is None else str(value) for value in values]
                for values in sheet.iter_rows(values_only=True)
            ]
        finally:
            book.close()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [list(values) for values in csv.reader(handle)]


@dataclass
class Changes:
    """What a sheet changes: for each text's key path, its new text in each language."""

    texts: dict[KeyPath, dict[str, Text]] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)


def changes(settings: Settings, table: list[list[str]], name: str) -> Changes:
    """What ``table`` (a sheet read back) changes in the configuration, or why it cannot."""
    translations = settings.translations
    found = Changes()
    if not table or not table[0] or table[0][0].strip().lower() != "key":
        found.problems.append(
            ConfigProblem(
                name, 1, "(header)", "the first row must be: key, then a language a column"
            )
        )
        return found
    header = [cell.strip() for cell in table[0]]
    languages = header[1:]
    for column, language in enumerate(languages, 2):
        if language not in translations.languages:
            found.problems.append(
                ConfigProblem(
                    name,
                    1,
                    f"column {column}",
                    f"'{language}' is not one of the project's languages"
                    f" ({', '.join(translations.languages)})",
                )
            )
    if found.problems:
        return found
    known = {row.key: row for row in rows(settings)}
    seen: dict[str, int] = {}
    options: dict[tuple[KeyPath, str], dict[int, str]] = {}
    rows_of: dict[KeyPath, int] = {}
    for number, cells in enumerate(table[1:], 2):
        if not any(cell.strip() for cell in cells):
            continue
        key = cells[0].strip()
        row = known.get(key)
        if row is None:
            found.problems.append(
                ConfigProblem(
                    name,
                    number,
                    key or "(key)",
                    "is not a text of this configuration (was an id changed? export again)",
                )
            )
            continue
        if key in seen:
            found.problems.append(ConfigProblem(name, number, key, f"is also on row {seen[key]}"))
            continue
        seen[key] = number
        rows_of.setdefault(row.path, number)
        for language, cell in zip(languages, cells[1:], strict=False):
            if not cell:
                continue  # not translated: never removes a translation
            if row.option is None:
                if cell != row.texts[language]:
                    found.texts.setdefault(row.path, {})[language] = cell
            else:
                options.setdefault((row.path, language), {})[row.option] = cell
    for (path, language), given in options.items():
        current = translations.texts[path].get(language)
        count = len(translations.texts[path][translations.default])
        wanted = [given.get(i, _nth(current, i)) for i in range(count)]
        if wanted == current:
            continue
        if language == translations.default:
            found.problems.append(
                ConfigProblem(
                    name,
                    rows_of[path],
                    key_of(path, settings),
                    f"the {language_name(language)} options are what answers store; change"
                    " them in the config file itself, if at all",
                )
            )
        elif not all(wanted):
            missing = ", ".join(str(i + 1) for i, text in enumerate(wanted) if not text)
            found.problems.append(
                ConfigProblem(
                    name,
                    rows_of[path],
                    key_of(path, settings),
                    f"{language_name(language)} has no text for option(s) {missing}; give"
                    " every option or none",
                )
            )
        else:
            found.texts.setdefault(path, {})[language] = wanted
    return found


def write(settings: Settings, found: Changes) -> list[str]:
    """Write ``found`` into the config files; return the files changed.

    Raises ConfigError (and puts every file back) if the result is not a valid configuration.
    """
    import tomlkit

    translations = settings.translations
    by_file: dict[str, list[tuple[KeyPath, dict[str, Text]]]] = {}
    for path, texts in found.texts.items():
        file, local = _place(path, translations)
        by_file.setdefault(file, []).append((local, texts))
    before: dict[str, str] = {}
    for file, edits in by_file.items():
        text = Path(file).read_text(encoding="utf-8")
        before[file] = text
        document = tomlkit.parse(text)
        for local, texts in edits:
            _set(document, local, texts, translations)
        Path(file).write_text(tomlkit.dumps(document), encoding="utf-8")
    try:
        # Half a sheet is progress: what is still untranslated is check-config's to report.
        load_settings(translations.config_file, untranslated_ok=True)
    except ConfigError:
        for file, text in before.items():
            Path(file).write_text(text, encoding="utf-8")
        raise
    return list(by_file)


def _place(path: KeyPath, translations: Translations) -> tuple[str, KeyPath]:
    """The file a text is written in, and its key path there."""
    if path[0] == "checkins" and isinstance(path[1], int):
        file, local = translations.checkin_files[path[1]]
        return file, ("checkins", local, *path[2:])
    return translations.config_file, path


def _set(document: Any, path: KeyPath, texts: dict[str, Text], translations: Translations) -> None:
    import tomlkit
    from tomlkit.items import InlineTable, Table

    container = document
    for part in path[:-1]:
        container = container[part]
    key = path[-1]
    current = container[key]
    if isinstance(current, Table | InlineTable):
        for language, text in texts.items():
            current[language] = _item(text)
        return
    default = translations.default
    values: dict[str, Any] = {default: texts.get(default, current.unwrap())}
    values |= {
        language: texts[language] for language in translations.languages if language in texts
    }
    entries = ", ".join(
        f"{language} = {_item(text).as_string()}" for language, text in values.items()
    )
    container[key] = tomlkit.parse(f"k = {{ {entries} }}")["k"]


def _item(text: Text) -> Any:
    """A TOML value for a text: a multi-line string where it has line breaks, if that reads
    back the same; an array of strings for options."""
    import tomlkit

    if isinstance(text, list):
        array = tomlkit.array()
        array.extend(text)
        return array
    if "\n" in text:
        multiline = tomlkit.string(text, multiline=True)
        try:
            if tomllib.loads(f"k = {multiline.as_string()}")["k"] == text:
                return multiline
        except tomllib.TOMLDecodeError:
            pass
    return tomlkit.string(text)


def import_sheet(settings: Settings, sheet: Path, fmt: str | None = None) -> tuple[int, list[str]]:
    """Read ``sheet`` and write what it changes; (texts changed, files written).

    Raises ConfigError for a sheet that does not fit the configuration, or a result that is not
    a valid configuration (the files are then left as they were).
    """
    found = changes(settings, read_sheet(sheet, fmt), str(sheet))
    if found.problems:
        raise ConfigError(found.problems)
    if not found.texts:
        return 0, []
    count = sum(len(texts) for texts in found.texts.values())
    return count, write(settings, found)


__all__ = ["FORMATS", "Row", "export", "import_sheet", "key_of", "read_sheet", "rows"]
