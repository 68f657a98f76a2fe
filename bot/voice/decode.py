"""Audio bytes (OGG/Opus voice notes, mp3, m4a, wav, ...) to 16 kHz mono 16-bit PCM, with
PyAV (its wheels ship FFmpeg, so no system FFmpeg is needed)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

# What speech engines expect: 16 kHz is their acoustic models' rate, mono, signed 16-bit.
RATE = 16_000
# A voice note is seconds to minutes long. The cap bounds memory: a 20 MB Opus file at a low
# bitrate holds hours of audio, which would be ~100 MB of PCM an hour.
MAX_SECONDS = 600.0


class VoiceError(Exception):
    """Audio that cannot be turned into text, with a message a person can read."""


@dataclass(frozen=True)
class Audio:
    """Signed 16-bit little-endian mono PCM at ``rate`` Hz."""

    pcm: bytes
    rate: int
    seconds: float


def decode(data: bytes, max_seconds: float | None = MAX_SECONDS) -> Audio:
    """Decode audio in any container/codec FFmpeg knows to 16 kHz mono s16 PCM.

    Raises VoiceError for empty, undecodable, audio-less or too long input.
    """
    if not data:
        raise VoiceError("the audio file is empty")
    limit = None if max_seconds is None else int(max_seconds * RATE)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks: list[bytes] = []
    samples = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise VoiceError("the file has no audio in it")
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(_s16_bytes(out))
                    samples += out.samples
                if limit is not None and samples > limit:
                    raise VoiceError(f"the audio is longer than {max_seconds:g} seconds")
            # The resampler holds back a few samples until it is flushed.
            for out in resampler.resample(None):
                chunks.append(_s16_bytes(out))
                samples += out.samples
    except av.FFmpegError as error:
        # FFmpeg's own words ("Invalid data found when processing input") are readable; the
        # errno and the '<none>' file name that PyAV adds are not.
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise VoiceError(f"the audio could not be decoded ({reason})") from error
    if samples == 0:
        raise VoiceError("the file has no audio in it")
    pcm = b"".join(chunks)
    return Audio(pcm=pcm, rate=RATE, seconds=len(pcm) / 2 / RATE)


def _s16_bytes(frame: av.AudioFrame) -> bytes:
    # to_ndarray trims the plane's padding, which bytes(frame.planes[0]) would keep.
    return frame.to_ndarray().astype("<i2", copy=False).tobytes()


def encode_ogg_opus(pcm: bytes, rate: int, bitrate: int = 32_000) -> bytes:
    """Mono s16 PCM at ``rate`` Hz to an OGG/Opus file like a Telegram voice note (48 kHz
    Opus; PyAV resamples and splits the PCM into Opus frames)."""
    samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48_000, layout="mono")
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
