"""Participant-facing texts in several languages: how the config gives them, and each
language's copy of the settings.

Any text a participant reads may be written as one string, in the project's default language
(``project.locale``), or as a table with one entry per language; options as one list per
language, the same number in each::

    text = { en = "How has your week been?", pl = "Jak minął Ci tydzień?" }
    options = { en = ["Hours", "Staff"], pl = ["Godziny", "Personel"] }

:func:`extract` takes these tables out of the raw TOML before it is validated and leaves the
default language's text in their place, so the models (and the engine, the digest and exports
that read them) see one text each and add answers up across languages: an option's text in the
default language is its id, stored whatever language it was pressed in. What it took out is a
:class:`Translations`; :func:`localize` makes the copy of the settings in one language, where
the texts read in it (options as their ``labels``). Which keys are texts each model says in its
``translatable``; the settings' own sections are listed here (:data:`SECTIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from babel import Locale, UnknownLocaleError
from pydantic import BaseModel

from conversations.decisions import DecisionSpec
from conversations.kinds import KINDS
from conversations.model import CheckIn
from conversations.questions import QuestionKind

Path = tuple[str | int, ...]
Text = str | list[str]

ERROR, DEFAULT = "error", "default"  # project.missing_translations
SECTIONS: dict[str, tuple[str, ...]] = {
    "project": ("short_name",),
    "consent": ("text", "more"),
    "privacy": ("organisation", "contact"),
}
"""The settings' own sections: their keys a participant reads."""
RESOURCE_TEXTS = ("name", "contact", "hours")  # each [[safeguarding.resources]]


def language_name(code: str, *, with_code: bool = True) -> str:
    """A language as coordinators read it: "Polish (pl)", or "Polish"."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name("en")
    except (UnknownLocaleError, ValueError, TypeError):
        name = None
    if not name:
        return code
    return f"{name} ({code})" if with_code else name


@dataclass(frozen=True)
class Translations:
    """Every participant-facing text of a configuration, in each language it is given in."""

    default: str = "en"
    languages: tuple[str, ...] = ("en",)
    """The languages people may choose, the default first."""
    fallback: bool = False
    """A missing translation reads in the default language (else it is a check-config error)."""
    texts: dict[Path, dict[str, Text]] = field(default_factory=dict)
    """For each text's place in the config (a key path), its text in each language given; the
    default language always. Only texts the config writes (and are not empty) are here."""
    versions: dict[str, int] = field(default_factory=dict)
    """consent.version per language, when the config gives it per language."""
    checkin_files: tuple[tuple[str, int], ...] = ()
    """For each check-in: the file it is written in and its place there (includes)."""
    config_file: str = ""

    def __eq__(self, other: object) -> bool:  # checkin_files and config_file are provenance
        if not isinstance(other, Translations):
            return NotImplemented
        mine = (self.default, self.languages, self.fallback, self.texts, self.versions)
        return mine == (other.default, other.languages, other.fallback, other.texts, other.versions)

    __hash__ = None  # type: ignore[assignment]

    def given(self, language: str) -> dict[Path, Text]:
        """The texts written in ``language`` (not the default's where it has none)."""
        return {path: values[language] for path, values in self.texts.items() if language in values}

    def coverage(self, language: str) -> tuple[int, int]:
        """(texts written in ``language``, texts there are)."""
        return len(self.given(language)), len(self.texts)

    def summary(self) -> str:
        """Coverage per language: "en (default), pl 100%, ar 87% (12 texts in English)"."""
        parts = [f"{self.default} (default)"]
        for language in self.languages[1:]:
            have, total = self.coverage(language)
            percent = 100 * have // total if total else 100
            part = f"{language} {percent}%"
            if have < total:
                part += f" ({total - have} texts in {language_name(self.default, with_code=False)})"
            parts.append(part)
        return ", ".join(parts)

    def version(self, language: str, default: int) -> int:
        """The consent version people who read ``language`` agree to."""
        return self.versions.get(language, default)


# ---------------------------------------------------------------------------------------------
# Reading the raw TOML.


@dataclass
class _Reader:
    default: str
    languages: tuple[str, ...]
    fallback: bool
    # (the text's path, what is wrong, the line to show if not the path's: a table's entry)
    problems: list[tuple[Path, str, Path | None]] = field(default_factory=list)
    texts: dict[Path, dict[str, Text]] = field(default_factory=dict)

    def take(self, parent: Any, path: Path) -> None:
        """The text at ``path`` (key ``path[-1]`` of ``parent``): recorded, and a table of
        languages replaced by its default language's entry."""
        key = path[-1]
        if not isinstance(parent, dict) or key not in parent:
            return
        value = parent[key]
        if _is_text(value):
            if _has_words(value):
                self.texts[path] = {self.default: value}
                self.missing(path, {self.default}, table=False)
            return
        if not isinstance(value, dict):
            return  # the model says what it should be
        entries = self.entries(path, value)
        if self.default in entries:
            parent[key] = entries[self.default]
        elif entries:
            parent[key] = next(iter(entries.values()))  # reported below; checked as if default
        if self.default not in value:
            _problem(
                self,
                (
                    path,
                    f"has no text in {language_name(self.default)}, the project's language"
                    f" (locale); add {self.default} = {_example(value)}",
                ),
            )
            return
        if self.default not in entries:
            return  # reported as the wrong type
        if _has_words(entries[self.default]):
            self.texts[path] = entries
            self.missing(path, set(entries), table=True)
            self.same_options(path, entries)

    def entries(self, path: Path, table: dict[str, Any]) -> dict[str, Text]:
        """The entries of a table of languages that are texts in a language of the project."""
        kind = next((type(v) for v in table.values() if _is_text(v)), str)
        found: dict[str, Text] = {}
        for language, text in table.items():
            if language not in self.languages:
                offered = ", ".join(self.languages)
                _problem(
                    self,
                    (
                        (*path, language),
                        f"'{language}' is not one of the project's languages ({offered}); add it"
                        " to languages under [project], or remove this",
                    ),
                )
            elif not _is_text(text) or type(text) is not kind:
                like = '["...", "..."]' if kind is list else '"..."'
                what = "a list of options" if kind is list else "text in quotes"
                _problem(self, ((*path, language), f"must be {what}, like {language} = {like}"))
            else:
                found[language] = text
        return found

    def missing(self, path: Path, given: set[str], *, table: bool) -> None:
        absent = [language for language in self.languages if language not in given]
        if self.fallback or not absent:
            return
        names = " or ".join(language_name(language) for language in absent)
        entries = ", ".join(f"{language} = ..." for language in absent)
        how = (
            f"add {entries} to it"
            if table
            else f"write it as {{ {self.default} = ..., {entries} }}"
        )
        _problem(
            self,
            (
                path,
                f"has no text in {names}; {how}, or let texts without a translation read in"
                f' {language_name(self.default)} with missing_translations = "default"'
                " under [project]",
                (*path, self.default) if table else None,
            ),
        )

    def same_options(self, path: Path, entries: dict[str, Text]) -> None:
        base = entries[self.default]
        if not isinstance(base, list):
            return
        for language, options in entries.items():
            assert isinstance(options, list)
            if len(options) != len(base):
                _problem(
                    self,
                    (
                        (*path, language),
                        f"has {len(options)} options, and {language_name(self.default)} has"
                        f" {len(base)}; give every language the same options, in the same order",
                    ),
                )
            elif len(set(options)) != len(options):
                _problem(self, ((*path, language), "lists the same option twice; each once"))


def _problem(reader: _Reader, problem: tuple[Any, ...]) -> None:
    """Record a problem: (path, message), or (path, message, the path of its line)."""
    path, message, *at = problem
    reader.problems.append((path, message, at[0] if at else None))


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _has_words(value: Text) -> bool:
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def _example(table: dict[str, Any]) -> str:
    return '["...", "..."]' if any(isinstance(v, list) for v in table.values()) else '"..."'


def _places(data: dict[str, Any]) -> list[tuple[Any, Path]]:
    """Every place a participant-facing text may be: (the table holding it, its path)."""
    found: list[tuple[Any, Path]] = []
    for section, keys in SECTIONS.items():
        table = data.get(section)
        found += [(table, (section, key)) for key in keys]
    project = data.get("project")
    messages = project.get("stage_messages") if isinstance(project, dict) else None
    if isinstance(messages, dict):
        found += [(messages, ("project", "stage_messages", stage)) for stage in messages]
    guard = data.get("safeguarding")
    resources = guard.get("resources") if isinstance(guard, dict) else None
    for index, resource in enumerate(resources if isinstance(resources, list) else []):
        found += [(resource, ("safeguarding", "resources", index, k)) for k in RESOURCE_TEXTS]
    checkins = data.get("checkins")
    for c, checkin in enumerate(checkins if isinstance(checkins, list) else []):
        if not isinstance(checkin, dict):
            continue
        found += [(checkin, ("checkins", c, key)) for key in CheckIn.translatable]
        questions = checkin.get("questions")
        for q, question in enumerate(questions if isinstance(questions, list) else []):
            if not isinstance(question, dict):
                continue
            name = question.get("kind")
            kind = KINDS.get(name, QuestionKind) if isinstance(name, str) else QuestionKind
            found += [(question, ("checkins", c, "questions", q, key)) for key in kind.translatable]
    decisions = data.get("decisions")
    for d, decision in enumerate(decisions if isinstance(decisions, list) else []):
        found += [(decision, ("decisions", d, key)) for key in DecisionSpec.translatable]
    return found


def extract(
    data: dict[str, Any], *, untranslated_ok: bool = False
) -> tuple[Translations, list[tuple[Path, str, Path | None]]]:
    """Take the tables of languages out of the raw TOML ``data`` (changed in place: each
    becomes its default language's text) and say what is wrong with them, as (path, message).

    Run on the whole configuration, check-ins from included files already added.
    ``untranslated_ok``: a missing translation is no problem (the translators' sheet is how
    the missing ones get written), whatever ``missing_translations`` says.
    """
    project = data.get("project")
    project = project if isinstance(project, dict) else {}
    default = project.get("locale", "en")
    default = default if isinstance(default, str) else "en"
    chosen = project.get("languages")
    others = [x for x in chosen if isinstance(x, str)] if isinstance(chosen, list) else []
    languages = tuple(dict.fromkeys([default, *others]))
    reader = _Reader(
        default, languages, untranslated_ok or project.get("missing_translations") == DEFAULT
    )
    for parent, path in _places(data):
        reader.take(parent, path)
    versions = _versions(data, reader)
    translations = Translations(
        default=default,
        languages=languages,
        fallback=reader.fallback,
        texts=reader.texts,
        versions=versions,
    )
    return translations, reader.problems


def _versions(data: dict[str, Any], reader: _Reader) -> dict[str, int]:
    """consent.version given per language: taken out as the texts are."""
    consent = data.get("consent")
    table = consent.get("version") if isinstance(consent, dict) else None
    if not isinstance(table, dict):
        return {}
    assert isinstance(consent, dict)
    path: Path = ("consent", "version")
    found: dict[str, int] = {}
    for language, version in table.items():
        if language not in reader.languages:
            _problem(
                reader,
                (
                    (*path, language),
                    f"'{language}' is not one of the project's languages"
                    f" ({', '.join(reader.languages)})",
                ),
            )
        elif type(version) is not int or version < 1:
            _problem(
                reader, ((*path, language), f"must be a whole number from 1, like {language} = 1")
            )
        else:
            found[language] = version
    if reader.default in found:
        consent["version"] = found[reader.default]
    else:
        del consent["version"]
        if reader.default not in table:
            _problem(reader, (path, f"has no version for {language_name(reader.default)}; add it"))
    if not reader.fallback:
        for language in reader.languages:
            if language not in table:
                _problem(
                    reader,
                    (
                        path,
                        f"has no version for {language_name(language)}; add {language} = 1,"
                        ' or let it be the default\'s with missing_translations = "default"',
                    ),
                )
    return found


def in_language(data: dict[str, Any], translations: Translations, language: str) -> dict[str, Any]:
    """A copy of the raw ``data`` (as :func:`extract` left it) with the texts in ``language``,
    options too: to check each language's texts as the model checks the default's."""
    import copy

    copied = copy.deepcopy(data)
    for path, text in translations.given(language).items():
        node: Any = copied
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = text
    consent = copied.get("consent")
    if language in translations.versions and isinstance(consent, dict):
        consent["version"] = translations.versions[language]
    return copied


# ---------------------------------------------------------------------------------------------
# The settings in one language.


def localize(settings: BaseModel, translations: Translations, language: str) -> Any:
    """``settings`` with every text ``translations`` has in ``language`` in its place.

    Texts without one stay in the default language. Options stay what they are (the values
    answers store) and their translations become the question's ``labels``.
    """
    updates = list(translations.given(language).items())
    localized = _apply(settings, updates)
    if language in translations.versions:
        consent = localized.consent.model_copy(update={"version": translations.versions[language]})
        localized = localized.model_copy(update={"consent": consent})
    return localized


def _apply(node: Any, updates: list[tuple[Path, Text]]) -> Any:
    if not updates:
        return node
    here: dict[str | int, Any] = {}
    below: dict[str | int, list[tuple[Path, Text]]] = {}
    for path, text in updates:
        if len(path) == 1:
            here[path[0]] = text
        else:
            below.setdefault(path[0], []).append((path[1:], text))
    if isinstance(node, list):
        copied = list(node)
        for index, text in here.items():
            copied[int(index)] = text
        for index, rest in below.items():
            copied[int(index)] = _apply(copied[int(index)], rest)
        return copied
    if isinstance(node, dict):
        copied_dict = dict(node)
        copied_dict.update(here)
        for key, rest in below.items():
            copied_dict[key] = _apply(copied_dict[key], rest)
        return copied_dict
    changes = {str(k): _apply(getattr(node, str(k)), rest) for k, rest in below.items()}
    if isinstance(node, QuestionKind):
        return node.translated({str(k): v for k, v in here.items()}).model_copy(update=changes)
    return node.model_copy(update={**{str(k): v for k, v in here.items()}, **changes})


__all__ = [
    "DEFAULT",
    "ERROR",
    "Translations",
    "extract",
    "in_language",
    "language_name",
    "localize",
]
