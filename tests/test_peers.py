"""Peer researchers: experts by experience on the team, between participants and coordinators.

The config (``[team] peer_researchers``), and end to end through the sandbox what they may do
(a digest, triaging a suggestion, drafting an update a coordinator sends, previewing what we
heard) and what they may not (/stage, /alerts, an alert's button), each refusal audited. Every
command x role x chat kind, as a pure decision, is in tests/test_access.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import EXAMPLE

# ---------------------------------------------------------------------------------------------
# The config.


def with_team(peers: str, coordinators: str = "[111111111]") -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "peer_researchers = []" in text and "user_ids = [111111111]" in text
    text = text.replace("user_ids = [111111111]", f"user_ids = {coordinators}", 1)
    return text.replace("peer_researchers = []", f"peer_researchers = {peers}", 1)


def problems(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = main(["check-config", "--config", str(path)])
    err = capsys.readouterr().err
    if code == 0:
        return []
    *lines, _total = err.splitlines()
    return [line.removeprefix(f"{path}:") for line in lines]


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), 1) if fragment in line)


def test_peer_researchers_are_listed_by_user_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(with_team("[333333333, 444444444]"), encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 0
    assert "2 peer researcher(s)" in capsys.readouterr().out  # the summary counts them


def test_someone_listed_as_coordinator_and_peer_researcher_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = with_team("[\n  333333333,\n  222222222,\n]", "[111111111, 222222222]")
    assert problems(tmp_path, capsys, text) == [
        f"{line_of(text, '  222222222,')}: team.peer_researchers[1]: is also in "
        "coordinators.user_ids; a person has one role: keep them in one list"
    ]


def test_peer_researchers_ids_are_positive_whole_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = with_team('[\n  -5,\n  "333333333",\n]')
    assert problems(tmp_path, capsys, text) == [
        f"{line_of(text, '  -5,')}: team.peer_researchers[0]: must be a Telegram user id: a "
        "positive number, like 333333333",
        f"{line_of(text, '333333333')}: team.peer_researchers[1]: each entry must be a whole "
        "number without quotes, like 333333333",
    ]


def test_the_overlap_is_found_from_the_environment_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVERYSTAGE_TEAM__PEER_RESEARCHERS", "[111111111]")
    assert problems(tmp_path, capsys, with_team("[]")) == [
        "environment EVERYSTAGE_TEAM__PEER_RESEARCHERS: team.peer_researchers[0]: is also in "
        "coordinators.user_ids; a person has one role: keep them in one list"
    ]
