"""Cross-reference checks on check-in content: the problems a single field cannot show.

They run on the raw TOML data, not the validated models, so a file with a structural mistake
still gets every other problem reported in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from conversations.kinds import KINDS, QUESTION_KINDS


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, at a key path like ('checkins', 0, 'id')."""

    path: tuple[str | int, ...]
    message: str


# Any value can be anywhere in the raw TOML: these checks only look at values of the right
# type and leave wrong types to the model's validation, which names them. What a question of
# each kind can be answered with (and what else only its kind can see) its class says.


def _texts(values: list[Any]) -> list[str]:
    return [value for value in values if isinstance(value, str)]


def _is_answer_like(value: Any) -> bool:
    """Text or a whole number (the model reads true as 1 and 2.0 as 2)."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str | int)


def _kind(question: dict[str, Any]) -> str | None:
    kind = question.get("kind")
    return kind if isinstance(kind, str) else None


def check_stages(project: dict[str, Any]) -> list[Problem]:
    """Stage names must be unique and the current stage one of them."""
    problems: list[Problem] = []
    stages = project.get("stages")
    if not isinstance(stages, list):
        return problems
    if not stages:
        problems.append(Problem(("project", "stages"), "is empty; list at least one stage"))
    names = _texts(stages)  # other entries are reported as not being names
    seen: set[str] = set()
    for stage in names:
        if stage in seen:
            problems.append(
                Problem(("project", "stages"), f"lists '{stage}' twice; each stage once")
            )
        seen.add(stage)
    messages = project.get("stage_messages")
    if isinstance(messages, dict):
        for stage in messages:
            if stage not in names:
                problems.append(
                    Problem(
                        ("project", "stage_messages", stage),
                        f"'{stage}' is not one of the stages ({', '.join(names)})",
                    )
                )
    current = project.get("current_stage")
    if isinstance(current, str) and names and current not in names:
        problems.append(
            Problem(
                ("project", "current_stage"),
                f"'{current}' is not one of the stages ({', '.join(names)})",
            )
        )
    return problems


def check_checkins(checkins: list[Any], stages: list[str]) -> list[Problem]:
    """Duplicate ids, unknown stages and ``show_if`` references, all reported together."""
    problems: list[Problem] = []
    seen_checkins: dict[str, int] = {}
    for c_index, checkin in enumerate(checkins):
        if not isinstance(checkin, dict):
            continue
        base: tuple[str | int, ...] = ("checkins", c_index)
        checkin_id = checkin.get("id")
        if isinstance(checkin_id, str):
            if checkin_id in seen_checkins:
                problems.append(
                    Problem(
                        (*base, "id"),
                        f"'{checkin_id}' is already the id of check-in number "
                        f"{seen_checkins[checkin_id] + 1}; give each check-in its own id",
                    )
                )
            else:
                seen_checkins[checkin_id] = c_index
        checkin_stages = checkin.get("stages", [])
        if isinstance(checkin_stages, list):
            for stage in checkin_stages:
                if isinstance(stage, str) and stages and stage not in stages:
                    problems.append(
                        Problem(
                            (*base, "stages"),
                            f"unknown stage '{stage}'; the project's stages are "
                            f"{', '.join(stages)}",
                        )
                    )
        schedule = checkin.get("schedule", [])
        if isinstance(schedule, list):
            problems.extend(_check_clocks((*base, "schedule"), schedule))
        questions = checkin.get("questions", [])
        if isinstance(questions, list):
            problems.extend(_check_questions(base, questions))
    return problems


def _is_clock(value: str) -> bool:
    """Whether ``value`` is a time of day like '09:30' (as conversations.schedule reads it)."""
    hours, _, minutes = value.partition(":")
    try:
        time(int(hours), int(minutes))
    except (ValueError, OverflowError):
        return False
    return True


def _check_clocks(path: tuple[str | int, ...], schedule: list[Any]) -> list[Problem]:
    """Times of day in schedules, with the model's message (the same problem is reported once).

    Checked here too because an hour too large for a clock makes the model's check overflow
    instead of failing.
    """
    problems: list[Problem] = []
    for index, entry in enumerate(schedule):
        if not isinstance(entry, dict):
            continue
        kind, clock, window = entry.get("kind"), entry.get("time"), entry.get("window")
        found = []
        if kind in ("weekly", "after_joining") and isinstance(clock, str):
            found.append(((*path, index, "time"), clock))
        if kind == "random_daily" and isinstance(window, list):
            found += [((*path, index, "window"), value) for value in _texts(window)]
        problems += [
            Problem(where, f"'{value}' is not a time of day like '09:30'")
            for where, value in found
            if not _is_clock(value)
        ]
    return problems


def _check_questions(base: tuple[str | int, ...], questions: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    earlier: dict[str, dict[str, Any]] = {}
    for q_index, question in enumerate(questions):
        if not isinstance(question, dict):
            continue
        path = (*base, "questions", q_index)
        question_id = question.get("id")
        kind = KINDS.get(_kind(question) or "")
        if kind is not None:
            problems += [Problem((*path, key), text) for key, text in kind.raw_problems(question)]
        show_if = question.get("show_if")
        if isinstance(show_if, dict):
            problems.extend(_check_show_if((*path, "show_if"), show_if, earlier, questions))
        if isinstance(question_id, str):
            if question_id in earlier:
                problems.append(
                    Problem(
                        (*path, "id"),
                        f"'{question_id}' is used by an earlier question in this check-in; "
                        "give each question its own id",
                    )
                )
            else:
                earlier[question_id] = question
    return problems


def _check_show_if(
    path: tuple[str | int, ...],
    show_if: dict[str, Any],
    earlier: dict[str, dict[str, Any]],
    questions: list[Any],
) -> list[Problem]:
    target_id = show_if.get("question")
    if not isinstance(target_id, str):
        return []
    target = earlier.get(target_id)
    if target is None:
        later = any(isinstance(q, dict) and q.get("id") == target_id for q in questions)
        where = "comes later" if later else "does not exist in this check-in"
        return [
            Problem(
                (*path, "question"),
                f"names question '{target_id}', which {where}; "
                "show_if can only depend on an earlier question",
            )
        ]
    name = _kind(target) or ""
    kind = KINDS.get(name)
    if kind is None:
        return []  # the target's kind is reported as unknown or not text
    if not kind.takes_buttons:
        kinds = ", ".join(k for k in QUESTION_KINDS if KINDS[k].takes_buttons)
        return [
            Problem(
                (*path, "question"),
                f"names '{target_id}', a {name} question; "
                f"show_if can only depend on a {kinds} question",
            )
        ]
    allowed = kind.raw_answers(target)
    if allowed is None:
        return []
    problems: list[Problem] = []
    for key in ("equals", "any_of"):
        values = show_if.get(key)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if not _is_answer_like(value):
                continue  # the model reports it as neither text nor a number
            if value not in allowed:
                shown = ", ".join(repr(v) for v in allowed)
                problems.append(
                    Problem(
                        (*path, key),
                        f"{value!r} is not an answer to '{target_id}'; use one of {shown}",
                    )
                )
    return problems


def check_decisions(decisions: Any, checkins: list[Any]) -> list[Problem]:
    """``[[decisions]]`` ids must be unique, and a ``checkin:ID`` audience a known check-in."""
    problems: list[Problem] = []
    if not isinstance(decisions, list):
        return problems
    known = {c.get("id") for c in checkins if isinstance(c, dict) and isinstance(c.get("id"), str)}
    seen: set[str] = set()
    for index, decision in enumerate(decisions):
        if not isinstance(decision, dict):
            continue
        name = decision.get("id")
        if isinstance(name, str):
            if name in seen:
                problems.append(Problem(("decisions", index, "id"), f"'{name}' is used twice"))
            seen.add(name)
        who = decision.get("who")
        if isinstance(who, str) and who.strip().lower().startswith("checkin"):
            wanted = who.split(":", 1)[-1].strip() if ":" in who else who.split()[-1]
            if wanted not in known:
                problems.append(
                    Problem(
                        ("decisions", index, "who"),
                        f"'{wanted}' is not a check-in id ({', '.join(sorted(map(str, known)))})",
                    )
                )
    return problems
