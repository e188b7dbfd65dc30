"""Audio in and out: validated blocks from any file soundfile reads, and streaming resampling.

Resampling uses libsoxr's streaming resampler (python-soxr, a librosa dependency), whose
output does not depend on how the input is cut into blocks.
"""
from __future__ import annotations

import io
from typing import BinaryIO, Iterator

import numpy as np
import soundfile as sf

from .errors import CodecError

BLOCK = 1 << 16
MAX_CHANNELS = 255
MIN_RATE, MAX_RATE = 1000, 384000


class Resampler:
    """Streaming (samples, channels) float32 resampler; identity when the rates agree."""

    def __init__(self, rate_in: int, rate_out: int, channels: int):
        self.same = rate_in == rate_out
        if not self.same:
            import soxr
            self.stream = soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self.same:
            return block
        return self.stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)


def check_block(block: np.ndarray, where: str) -> None:
    if not np.isfinite(block).all():
        raise CodecError(f"{where}: audio contains NaN or infinite samples")


def open_audio(src) -> sf.SoundFile:
    """A path, '-' data already read into a BytesIO, or a binary file object -> an open SoundFile."""
    try:
        f = sf.SoundFile(src)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise CodecError(f"cannot read audio ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if f.channels > MAX_CHANNELS:
        raise CodecError(f"{f.channels} channels (at most {MAX_CHANNELS})")
    if not MIN_RATE <= f.samplerate <= MAX_RATE:
        raise CodecError(f"sample rate {f.samplerate} Hz is out of range ({MIN_RATE}..{MAX_RATE})")
    return f


def read_blocks(f: sf.SoundFile, block: int = BLOCK) -> Iterator[np.ndarray]:
    """(n, channels) float32 blocks; NaN/inf raise CodecError."""
    while True:
        x = f.read(block, dtype="float32", always_2d=True)
        if not len(x):
            return
        check_block(x, "input")
        yield x


def as_2d(audio: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) -> (samples, channels) float32, validated."""
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise CodecError(f"audio must be (samples,) or (samples, channels), got shape {np.shape(audio)}")
    if a.shape[1] > MAX_CHANNELS and a.shape[0] <= MAX_CHANNELS:
        a = a.T  # (channels, samples) given by mistake
    if a.shape[1] > MAX_CHANNELS:
        raise CodecError(f"{a.shape[1]} channels (at most {MAX_CHANNELS})")
    if not np.issubdtype(a.dtype, np.number):
        raise CodecError("audio must be numeric")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    a = a.astype(np.float32, copy=False)
    check_block(a, "input")
    return a


def write_audio(dst, blocks: Iterator[np.ndarray], rate: int, channels: int, fmt: str) -> None:
    """Write (n, channels) blocks to a path or binary file object as WAV (float) or FLAC (24 bit)."""
    fmt = fmt.upper()
    subtype = "FLOAT" if fmt == "WAV" else "PCM_24"
    with sf.SoundFile(dst, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype) as f:
        for b in blocks:
            f.write(b)


def to_bytes(blocks: Iterator[np.ndarray], rate: int, channels: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    write_audio(buf, blocks, rate, channels, fmt)
    return buf.getvalue()


def readable_source(src) -> object:
    """Binary file objects that cannot seek (pipes) are read whole first; soundfile needs seeking."""
    if hasattr(src, "read") and not (hasattr(src, "seekable") and src.seekable()):
        return io.BytesIO(src.read())
    return src
