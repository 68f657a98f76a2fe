"""Speech to text, end to end on this machine: espeak-ng speaks a sentence, it becomes an
OGG/Opus voice note like Telegram's, and the real PocketSphinx engine transcribes it.

These tests check what the pipeline guarantees (formats, durations, types, clear errors),
not how well PocketSphinx recognises a synthetic voice: that is bench/voice.py's job.
The slow parts (speaking, loading the model: about a second) run once, in module-scoped
fixtures, and the tests share them.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from bot.voice.decode import RATE, Audio, VoiceError, decode, encode_ogg_opus
from bot.voice.engines import FasterWhisperEngine, PocketSphinxEngine, make_engine
from bot.voice.wer import word_error_rate

SENTENCE = "I feel safe here now and the staff listen to me"


@pytest.fixture(scope="module")
def espeak() -> str:
    """espeak-ng's path; skips without it, except in CI (.ci/run installs it)."""
    path = shutil.which("espeak-ng")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs the voice tests: espeak-ng is not installed (see .ci/run)")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng) to speak test audio")
    return path


@pytest.fixture(scope="module")
def spoken(espeak: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WAV of SENTENCE in espeak-ng's British English voice (22.05 kHz mono)."""
    out = tmp_path_factory.mktemp("voice") / "sentence.wav"
    subprocess.run(
        [espeak, "-v", "en-gb", "-s", "140", "-w", str(out), SENTENCE],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return out


@pytest.fixture(scope="module")
def voice_note(spoken: Path) -> bytes:
    """SENTENCE as an OGG/Opus voice note."""
    wav = decode(spoken.read_bytes())
    return encode_ogg_opus(wav.pcm, wav.rate)


@pytest.fixture(scope="module")
def engine() -> PocketSphinxEngine:
    return PocketSphinxEngine()


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def encode(pcm: bytes, rate: int, container: str, codec: str) -> bytes:
    """PCM to another format a phone may send (stereo, 44.1 kHz), for decode to undo."""
    mono = np.frombuffer(pcm, dtype="<i2")
    stereo = np.repeat(mono, 2).reshape(1, -1)  # packed s16: left, right, left, right, ...
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=44_100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


def test_voice_note_decodes_to_16k_mono_with_the_speech_duration(
    spoken: Path, voice_note: bytes
) -> None:
    expected = wav_seconds(spoken)
    assert expected > 1.0, "espeak-ng spoke less than a second"
    assert voice_note.startswith(b"OggS")
    with av.open(io.BytesIO(voice_note)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.channels) == ("opus", 48_000, 1)

    audio = decode(voice_note)
    assert audio.rate == RATE == 16_000
    assert len(audio.pcm) % 2 == 0
    # Mono: one 2-byte sample per 1/16000 s, so the byte count is the duration exactly.
    assert audio.seconds == pytest.approx(len(audio.pcm) / 2 / 16_000)
    assert audio.seconds == pytest.approx(expected, abs=0.2)
    assert np.abs(np.frombuffer(audio.pcm, dtype="<i2")).max() > 1000, "decoded to silence"


@pytest.mark.parametrize(("container", "codec"), [("mp3", "libmp3lame"), ("ipod", "aac")])
def test_other_formats_decode_to_16k_mono(spoken: Path, container: str, codec: str) -> None:
    wav = decode(spoken.read_bytes())
    audio = decode(encode(wav.pcm, wav.rate, container, codec))
    assert audio.rate == 16_000
    assert audio.seconds == pytest.approx(wav_seconds(spoken), abs=0.2)


def test_pocketsphinx_transcribes_a_voice_note(
    voice_note: bytes, engine: PocketSphinxEngine
) -> None:
    audio = decode(voice_note)
    transcript = engine.transcribe(audio)
    assert isinstance(transcript.text, str)
    assert transcript.engine == engine.name == "pocketsphinx"
    assert transcript.seconds == audio.seconds
    # Not a quality check: ten clearly spoken words must reach the recogniser as some words.
    assert transcript.text.strip(), "speech was transcribed as nothing"
    assert transcript.confidence is None or 0.0 <= transcript.confidence <= 1.0
    # The decoder is reused: a second note goes through the same instance.
    again = engine.transcribe(audio)
    assert isinstance(again.text, str) and again.text.strip()


def test_silence_transcribes_to_next_to_nothing(engine: PocketSphinxEngine) -> None:
    silence = decode(encode_ogg_opus(bytes(2 * 16_000), 16_000))
    assert silence.seconds == pytest.approx(1.0, abs=0.05)
    transcript = engine.transcribe(silence)
    assert len(transcript.text.split()) <= 1
    assert transcript.engine == "pocketsphinx"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"this is a text file, not a voice note", "could not be decoded"),
        (bytes(range(256)) * 40, "could not be decoded"),
        (b"OggS\x00\x02" + bytes(100), "could not be decoded"),  # a voice note cut short
    ],
)
def test_undecodable_bytes_raise_a_readable_voice_error(data: bytes, words: str) -> None:
    with pytest.raises(VoiceError, match=words) as caught:
        decode(data)
    message = str(caught.value)
    assert "Errno" not in message and "<none>" not in message
    assert message.isprintable()


def test_too_long_audio_is_refused(voice_note: bytes) -> None:
    with pytest.raises(VoiceError, match="longer than 1 seconds"):
        decode(voice_note, max_seconds=1)


def test_engines_need_16k_audio(engine: PocketSphinxEngine) -> None:
    with pytest.raises(VoiceError, match="16 kHz"):
        engine.transcribe(Audio(pcm=bytes(8000), rate=8000, seconds=0.5))


def test_make_engine() -> None:
    assert make_engine("pocketsphinx", None).name == "pocketsphinx"
    with pytest.raises(VoiceError, match="unknown speech engine 'vosk'"):
        make_engine("vosk", None)
    with pytest.raises(VoiceError, match="needs a model folder"):
        make_engine("faster-whisper", None)


def test_faster_whisper_missing_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # None in sys.modules makes `import faster_whisper` fail, installed or not.
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(VoiceError, match=r"pip install 'everystage\[whisper\]'"):
        FasterWhisperEngine(tmp_path)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("I feel safe here now", "i feel safe here now", 0.0),
        ("Hello, world!", "hello world", 0.0),  # case and punctuation do not count
        ("the drop in was closed", "a cat sat on mats", 1.0),  # all substituted
        ("the drop in was closed", "the drop in is closed", 0.2),  # one substitution
        ("the drop in was closed", "the drop in was not closed", 0.2),  # one insertion
        ("I want to end it all", "I want to end all", 1 / 6),  # one deletion
        ("end it all", "", 1.0),  # everything deleted
        ("", "", 0.0),
        ("yes", "no no no", 3.0),  # insertions can take it past 1.0
    ],
)
def test_word_error_rate(reference: str, hypothesis: str, expected: float) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)
