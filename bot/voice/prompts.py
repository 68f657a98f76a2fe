"""Questions' recordings (``audio = "prompts/week.ogg"``, or one per language with
``audio.pl = ...``), read and checked when the configuration loads.

Each file is read once per load, decoded (so a file that is not audio is a problem at its line,
not a failure in front of a person) and kept in memory as what will be sent: Telegram plays a
voice note only in OGG/Opus, so a file in another format (mp3, m4a, wav, OGG/Vorbis...) is
converted once, here, to OGG/Opus mono at speech quality. Judged by what the file holds, not by
its name. Nothing here touches Telegram (bot/prompt_audio.py sends them).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_SEND = 50 * 1024 * 1024  # Telegram: a bot sends voice notes of up to 50 MB
MAX_READ = 200 * 1024 * 1024  # read no bigger file into memory (a long WAV may still convert)
WARN_BYTES = 1024 * 1024  # a voice note over 1 MB is slow and costly on a phone's data
WARN_SECONDS = 120.0  # a question read aloud takes seconds; over 2 minutes is a talk
MAX_SECONDS = 600.0  # decoding stops here: too long to be a question
SENT_AS = "OGG/Opus"

Where = tuple[str | int, ...]


class AudioProblem(Exception):
    """A question's audio file that cannot be sent, with a message a coordinator can act on."""


@dataclass(frozen=True)
class PromptAudio:
    """A question's recording as it will be sent: OGG/Opus bytes."""

    path: Path
    data: bytes = field(repr=False)
    seconds: float
    converted: bool  # the file was in another format and ``data`` is its OGG/Opus version
    digest: str = ""  # of ``data``: the key Telegram's file_id is remembered under

    @classmethod
    def of(cls, path: Path, data: bytes, seconds: float, converted: bool) -> PromptAudio:
        return cls(path, data, seconds, converted, hashlib.sha256(data).hexdigest())


def prepare(path: Path) -> PromptAudio:
    """Read, decode and (if it is not OGG/Opus) convert one file; AudioProblem if it cannot be
    a question's audio. Blocking: call it off the event loop."""
    from bot.voice import decode  # late: PyAV loads only for a config that has audio

    if not path.exists():
        raise AudioProblem(f"{path} does not exist; the path is relative to the config file")
    if not path.is_file():
        raise AudioProblem(f"{path} is not a file")
    try:
        size = path.stat().st_size
        if size > MAX_READ:
            raise AudioProblem(f"{path} is {size / 2**20:.0f} MB; a question's audio is small")
        data = path.read_bytes()
    except OSError as exc:
        raise AudioProblem(f"{path} cannot be read ({exc.strerror or exc})") from None
    try:
        audio = decode.decode(data, max_seconds=MAX_SECONDS)
    except decode.VoiceError as exc:
        raise AudioProblem(f"{path}: {exc}; give a recording (OGG/Opus, MP3, M4A, WAV)") from None
    if _is_ogg_opus(data):
        return PromptAudio.of(path, data, audio.seconds, converted=False)
    converted = decode.encode_ogg_opus(audio.pcm, audio.rate, bitrate=24_000)
    if len(converted) > MAX_SEND:
        raise AudioProblem(f"{path} is over 50 MB as OGG/Opus, more than Telegram lets a bot send")
    return PromptAudio.of(path, converted, audio.seconds, converted=True)


def _is_ogg_opus(data: bytes) -> bool:
    """OGG holding Opus: what Telegram shows as a voice note, and sent as it is."""
    import av

    if len(data) > MAX_SEND:
        return False  # too big to send as it is: converting makes it smaller
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.audio
            return (
                "ogg" in container.format.name.split(",")
                and len(streams) == 1
                and streams[0].codec_context.name == "opus"
            )
    except av.FFmpegError:
        return False


def advice(audio: PromptAudio) -> list[str]:
    """What check-config says about a good file that could be better."""
    found = []
    if audio.seconds > WARN_SECONDS:
        found.append(
            f"is {audio.seconds / 60:.1f} minutes long; a question read aloud is best under"
            f" {WARN_SECONDS / 60:g} minutes"
        )
    if len(audio.data) > WARN_BYTES:
        found.append(
            f"is {len(audio.data) / 2**20:.1f} MB as sent; a voice note over 1 MB is slow and"
            " costly on a phone's data (OGG/Opus at 24 kbit/s is about 0.2 MB a minute)"
        )
    if audio.converted:
        found.append(
            f"is not {SENT_AS}, what Telegram plays as a voice note: it will be sent converted"
            " (mono, speech quality); save it as .ogg (Opus) to send it as it is"
        )
    return found


@dataclass
class Library:
    """Every question's audio in a configuration, by absolute path."""

    files: dict[str, PromptAudio] = field(default_factory=dict)
    problems: list[tuple[Where, str]] = field(default_factory=list)
    warnings: list[tuple[Where, str]] = field(default_factory=list)


def load(
    data: dict[str, Any],
    folder_of: Callable[[int], Path],
    languages: tuple[str, ...],
) -> Library:
    """Find, check and read every ``audio`` of the raw TOML's questions (check-ins from
    included files already added); each path is made absolute in ``data`` (in place), from
    the folder of the file its check-in is written in (``folder_of(index)``).

    A file used by several questions is read once and advised about once.
    """
    library = Library()
    seen: dict[Path, PromptAudio | AudioProblem] = {}
    checkins = data.get("checkins")
    for c, checkin in enumerate(checkins if isinstance(checkins, list) else []):
        questions = checkin.get("questions") if isinstance(checkin, dict) else None
        for q, question in enumerate(questions if isinstance(questions, list) else []):
            if not isinstance(question, dict) or "audio" not in question:
                continue
            at: Where = ("checkins", c, "questions", q, "audio")
            value = question["audio"]
            if isinstance(value, str):
                question["audio"] = _read(library, seen, at, folder_of(c), value)
            elif isinstance(value, dict):
                for language, given in value.items():
                    if language not in languages:
                        library.problems.append(
                            (
                                (*at, language),
                                f"'{language}' is not one of the project's languages"
                                f" ({', '.join(languages)}); add it to languages under"
                                " [project], or remove this",
                            )
                        )
                    elif isinstance(given, str):
                        value[language] = _read(library, seen, (*at, language), folder_of(c), given)
            # Anything else is the model's to report (a file name in quotes, or a table).
    return library


def _read(
    library: Library,
    seen: dict[Path, PromptAudio | AudioProblem],
    at: Where,
    folder: Path,
    given: str,
) -> str:
    if not given.strip():
        if given:  # an empty one is the model's to report
            library.problems.append((at, 'is blank; give a file, like audio = "prompts/week.ogg"'))
        return given
    path = (folder / given).absolute()
    found = seen.get(path)
    first = found is None
    if found is None:
        try:
            found = prepare(path)
        except AudioProblem as exc:
            found = exc
        seen[path] = found
    if isinstance(found, AudioProblem):
        library.problems.append((at, str(found)))
    else:
        library.files[str(path)] = found
        if first:
            library.warnings += [(at, message) for message in advice(found)]
    return str(path)
