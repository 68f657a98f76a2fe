"""Speech-to-text engines behind one small interface.

Engines are synchronous and CPU-bound: the caller runs ``transcribe`` in a worker thread or
process, off the event loop. An engine holds a loaded model and is not thread-safe, so each
worker owns one engine and reuses it for every voice note it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.voice.decode import Audio, VoiceError

ENGINES = ("pocketsphinx", "faster-whisper")


@dataclass(frozen=True)
class Transcript:
    """What an engine heard. ``confidence`` is a probability in [0, 1], or None when the
    engine gives none (for instance when it heard nothing)."""

    text: str
    confidence: float | None
    engine: str
    seconds: float


class Engine(Protocol):
    """A loaded speech-to-text model. One instance serves one worker at a time."""

    name: str

    def transcribe(self, audio: Audio) -> Transcript:
        """The text spoken in ``audio`` (16 kHz mono s16 PCM)."""
        ...


class PocketSphinxEngine:
    """CMU PocketSphinx 5 with the US English model its wheel ships: small, fully offline,
    fast, and not very accurate. The decoder takes about half a second to load, so it is
    made once here and reused; it keeps state between utterances and is not thread-safe."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        import pocketsphinx

        # At INFO level PocketSphinx writes each hypothesis, i.e. what the person said, to
        # stderr; transcripts must never reach logs.
        self._decoder = pocketsphinx.Decoder(samprate=16_000, loglevel="FATAL")

    def transcribe(self, audio: Audio) -> Transcript:
        """Decode the whole note as one utterance."""
        _check_rate(audio)
        decoder = self._decoder
        decoder.start_utt()
        try:
            # full_utt: normalise with the whole note's statistics, not a running estimate.
            decoder.process_raw(audio.pcm, full_utt=True)
        finally:
            decoder.end_utt()
        hyp = decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return Transcript(text="", confidence=None, engine=self.name, seconds=audio.seconds)
        # hyp.prob is the posterior probability of the best path, already out of log space.
        confidence = min(max(float(hyp.prob), 0.0), 1.0)
        return Transcript(
            text=hyp.hypstr.strip(), confidence=confidence, engine=self.name, seconds=audio.seconds
        )


class FasterWhisperEngine:
    """Whisper through CTranslate2 (faster-whisper), from a model folder already on disk:
    far more accurate than PocketSphinx and far heavier. An optional extra."""

    name = "faster-whisper"

    def __init__(self, model_path: Path, compute_type: str = "int8") -> None:
        try:
            # Imported here so the bot runs without the extra installed.
            from faster_whisper import WhisperModel
        except ImportError as error:
            raise VoiceError(
                "faster-whisper is not installed: pip install 'everystage[whisper]'"
            ) from error
        if not Path(model_path).is_dir():
            raise VoiceError(f"no faster-whisper model folder at {model_path}")
        # A local folder only: the model is never downloaded at run time.
        self._model: Any = WhisperModel(
            str(model_path), device="cpu", compute_type=compute_type, local_files_only=True
        )

    def transcribe(self, audio: Audio) -> Transcript:
        """Greedy decoding (beam_size=1) with voice activity detection to skip silence."""
        _check_rate(audio)
        samples = np.frombuffer(audio.pcm, dtype="<i2").astype(np.float32) / 32768.0
        segments, _info = self._model.transcribe(samples, beam_size=1, vad_filter=True)
        # segments is a generator: transcription happens while it is consumed.
        texts: list[str] = []
        logprobs: list[float] = []
        for segment in segments:
            texts.append(segment.text.strip())
            logprobs.append(segment.avg_logprob)
        text = " ".join(t for t in texts if t)
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else None
        return Transcript(text=text, confidence=confidence, engine=self.name, seconds=audio.seconds)


def make_engine(name: str, model_path: Path | None = None) -> Engine:
    """The engine called ``name`` ("pocketsphinx" or "faster-whisper"), loaded and ready."""
    if name == "pocketsphinx":
        return PocketSphinxEngine()
    if name == "faster-whisper":
        if model_path is None:
            raise VoiceError("faster-whisper needs a model folder (model_path), none was given")
        return FasterWhisperEngine(model_path)
    raise VoiceError(f"unknown speech engine {name!r}: choose one of {', '.join(ENGINES)}")


def _check_rate(audio: Audio) -> None:
    # Both engines' models are trained on 16 kHz; other rates give confident nonsense.
    if audio.rate != 16_000:
        raise VoiceError(f"speech engines need 16 kHz audio, got {audio.rate} Hz (use decode())")
