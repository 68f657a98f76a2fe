"""Speech-to-text benchmark on generated voice notes.

    python -m bench.voice [--engine pocketsphinx] [--model PATH] [--no-backlog] [--quick]

espeak-ng speaks a dozen short English sentences (British voice, 140 words a minute), some of
them like what safeguarding has to catch. Each becomes an OGG/Opus voice note like Telegram's
(``bot.voice.decode.encode_ogg_opus``), then is decoded and transcribed by the real engine.

Printed, each beside a baseline:

* real-time factor (RTF): CPU seconds (``time.process_time``) per second of audio, for
  decode + transcribe, beside decoding alone;
* peak RSS (``ru_maxrss``) before loading the engine, after loading it and after transcribing
  every note;
* word error rate (WER) per sentence and overall (all edits over all reference words) for the
  voice note, beside the same sentence's original WAV (what Opus compression costs).

Then bench/voice_backlog.py: p99 time to reply to button presses while 100 voice notes are
being transcribed, beside none, in the same run (target: at most 1.5x).

A synthetic voice is not a person on a phone in a noisy room: these WERs are a floor, good for
comparing engines and settings, not a promise. A benchmark reports; the exit code is 0 unless
the benchmark itself broke.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.voice.decode import VoiceError, decode, encode_ogg_opus
from bot.voice.engines import ENGINES, make_engine
from bot.voice.wer import word_error_rate, words

SENTENCES = [
    "I want to end it all",
    "I feel safe here now",
    "The drop in was closed on Monday",
    "Nobody called me back about my housing",
    "The staff were kind and listened to me",
    "I did not feel safe at the hostel last night",
    "Can we meet later in the week",
    "I have not eaten since yesterday",
    "The new opening hours are much better",
    "Please do not share my name with anyone",
    "He keeps hurting me and I am scared",
    "Thank you for asking what I think",
]
T = TypeVar("T")


@dataclass
class Row:
    sentence: str
    seconds: float
    decode_cpu: float
    transcribe_cpu: float
    heard: str
    wer_note: float
    wer_wav: float


def rss_mb() -> float:
    # Linux reports ru_maxrss in KiB: the process's peak so far, never its current size.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speak(espeak: str, text: str, out: Path) -> bytes:
    subprocess.run(
        [espeak, "-v", "en-gb", "-s", "140", "-w", str(out), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out.read_bytes()


def cpu(action: Callable[..., T], *args: Any) -> tuple[float, T]:
    """(CPU seconds, result) of action(*args)."""
    start = time.process_time()
    result = action(*args)
    return time.process_time() - start, result


def run(engine_name: str, model: Path | None) -> int:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        print("espeak-ng is not installed (apt-get install espeak-ng): nothing to speak with")
        return 1
    with tempfile.TemporaryDirectory(prefix="everystage-voice-") as folder:
        wavs = [speak(espeak, s, Path(folder) / f"{i}.wav") for i, s in enumerate(SENTENCES)]
    originals = [decode(wav) for wav in wavs]
    notes = [encode_ogg_opus(a.pcm, a.rate) for a in originals]
    # Warm FFmpeg's codecs up so the first sentence's decode is not charged for it.
    decode(notes[0])

    rss_before = rss_mb()
    load_cpu, engine = cpu(make_engine, engine_name, model)
    rss_loaded = rss_mb()

    rows: list[Row] = []
    for sentence, original, note in zip(SENTENCES, originals, notes, strict=True):
        decode_cpu, audio = cpu(decode, note)
        transcribe_cpu, transcript = cpu(engine.transcribe, audio)
        from_wav = engine.transcribe(original)
        rows.append(
            Row(
                sentence=sentence,
                seconds=audio.seconds,
                decode_cpu=decode_cpu,
                transcribe_cpu=transcribe_cpu,
                heard=transcript.text,
                wer_note=word_error_rate(sentence, transcript.text),
                wer_wav=word_error_rate(sentence, from_wav.text),
            )
        )
    rss_done = rss_mb()
    print(report(engine_name, rows, load_cpu, (rss_before, rss_loaded, rss_done), notes))
    return 0


def report(
    engine_name: str,
    rows: list[Row],
    load_cpu: float,
    rss: tuple[float, float, float],
    notes: list[bytes],
) -> str:
    """The printed table."""
    audio_s = sum(r.seconds for r in rows)
    ref_words = sum(len(words(r.sentence)) for r in rows)
    kib = sum(len(n) for n in notes) / 1024
    lines = [
        "",
        f"Everystage voice benchmark: {engine_name}",
        f"  {len(rows)} sentences by espeak-ng (en-gb, 140 wpm), {audio_s:.1f} s of audio, "
        f"{ref_words} words; OGG/Opus voice notes at 48 kHz mono, 32 kbit/s ({kib:.0f} KiB)",
        "  RTF = CPU seconds per second of audio (process_time); WER = word error rate",
        "",
        f"  {'#':>2} {'audio':>6} {'RTF decode':>11} {'RTF dec+stt':>12} {'WER wav':>8} "
        f"{'WER note':>9}  sentence / heard",
    ]
    for i, r in enumerate(rows, start=1):
        lines.append(
            f"  {i:>2} {r.seconds:>5.2f}s {r.decode_cpu / r.seconds:>11.3f} "
            f"{(r.decode_cpu + r.transcribe_cpu) / r.seconds:>12.3f} {r.wer_wav:>8.2f} "
            f"{r.wer_note:>9.2f}  {r.sentence}"
        )
        lines.append(f"  {'':>53}-> {r.heard or '(nothing)'}")

    def overall(attr: str) -> float:
        edits = sum(getattr(r, attr) * len(words(r.sentence)) for r in rows)
        return edits / ref_words

    decode_cpu = sum(r.decode_cpu for r in rows)
    total_cpu = decode_cpu + sum(r.transcribe_cpu for r in rows)
    rss_before, rss_loaded, rss_done = rss
    summary = [
        (
            "RTF decode + transcribe",
            f"{total_cpu / audio_s:.3f}",
            "decode alone",
            f"{decode_cpu / audio_s:.4f}",
        ),
        ("engine load (CPU)", f"{load_cpu:.2f} s", "", ""),
        (
            "peak RSS after loading",
            f"{rss_loaded:.0f} MB",
            "before loading",
            f"{rss_before:.0f} MB",
        ),
        (
            "peak RSS after transcribing",
            f"{rss_done:.0f} MB",
            "after loading",
            f"{rss_loaded:.0f} MB",
        ),
        (
            "WER overall, voice notes",
            f"{overall('wer_note'):.2f}",
            "original WAVs",
            f"{overall('wer_wav'):.2f}",
        ),
        (
            "sentences heard exactly",
            f"{sum(r.wer_note == 0 for r in rows)}/{len(rows)}",
            "original WAVs",
            f"{sum(r.wer_wav == 0 for r in rows)}/{len(rows)}",
        ),
    ]
    lines += ["", f"  {'':30}{'figure':>12}   baseline"]
    for name, value, base_name, base in summary:
        lines.append(f"  {name:<30}{value:>12}   {base_name:<16}{base:>10}".rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice", description=__doc__)
    parser.add_argument("--engine", choices=ENGINES, default="pocketsphinx")
    parser.add_argument("--model", type=Path, help="faster-whisper's model folder")
    parser.add_argument(
        "--no-backlog",
        action="store_true",
        help="skip the replies-during-a-backlog part (bench/voice_backlog.py)",
    )
    parser.add_argument("--quick", action="store_true", help="shorter backlog phases")
    args = parser.parse_args(argv)
    try:
        status = run(args.engine, args.model)
    except VoiceError as error:
        print(f"voice benchmark: {error}")
        return 1
    if not args.no_backlog:
        import asyncio

        from bench import voice_backlog

        print()
        opts = voice_backlog.parse_args(["--quick"] if args.quick else [])
        print(voice_backlog.report(asyncio.run(voice_backlog.run(opts)), opts))
    return status


if __name__ == "__main__":
    sys.exit(main())
