"""Audio in and out: validated blocks from any file soundfile reads, and streaming resampling.

Resampling uses libsoxr's streaming resampler (python-soxr, a librosa dependency), whose
output does not depend on how the input is cut into blocks.
"""
from __future__ import annotations

import io
from typing import Iterator

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


#: Output sample formats: WAV is 16-bit PCM unless float is asked for; FLAC is 24-bit PCM.
WAV_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
LIMIT_KNEE = 0.891  # -1 dBFS: the soft limiter of PCM outputs leaves every sample below this untouched


def soft_limit(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Samples over -1 dBFS bent smoothly (tanh knee) towards full scale, never reaching it.

    Memoryless, so the result does not depend on how the audio is cut into blocks. Returns
    (limited float32 block, number of samples that were over the knee). The decoder's output can
    peak a little over full scale (+0.3 to +1.9 dBFS seen); a PCM file cannot hold that, and a
    hard clip would be audible as clicks.
    """
    a = np.abs(x)
    over = a > LIMIT_KNEE
    n = int(over.sum())
    if not n:
        return x, 0
    k = LIMIT_KNEE
    y = x.astype(np.float32, copy=True)
    y[over] = np.sign(x[over]) * (k + (1 - k) * np.tanh((a[over] - k) / (1 - k)))
    return y, n


def to_pcm(x: np.ndarray, bits: int) -> np.ndarray:
    """float in [-1, 1] -> int16 / int32 (24-bit range, as libsndfile expects), rounded, saturated."""
    scale = float(1 << (bits - 1))
    q = np.clip(np.rint(x.astype(np.float64) * scale), -scale, scale - 1)
    return q.astype(np.int16) if bits == 16 else (q.astype(np.int32) << 8)


def write_audio(dst, blocks: Iterator[np.ndarray], rate: int, channels: int, fmt: str,
                subtype: str | None = None) -> dict:
    """Write (n, channels) float blocks to a path or binary file object.

    WAV: 16-bit PCM by default, ``subtype="PCM_24"`` or ``"FLOAT"`` (32-bit float, written as
    decoded: the only output that may exceed full scale). FLAC: 24-bit PCM. PCM outputs are
    soft-limited (:func:`soft_limit`) and saturated, so they never clip or wrap. Returns
    ``{"limited": samples over the knee, "peak": the largest |sample| before limiting}``.
    """
    fmt = fmt.upper()
    if subtype is None:
        subtype = "PCM_16" if fmt == "WAV" else "PCM_24"
    subtype = subtype.upper()
    if fmt == "FLAC" and subtype not in ("PCM_16", "PCM_24"):
        raise CodecError(f"FLAC holds 16- or 24-bit PCM, not {subtype.lower()}")
    if fmt == "WAV" and subtype not in WAV_SUBTYPES:
        raise CodecError(f"WAV output is one of {', '.join(WAV_SUBTYPES)}, not {subtype}")
    bits = {"PCM_16": 16, "PCM_24": 24}.get(subtype)
    stats = {"limited": 0, "peak": 0.0}
    with sf.SoundFile(dst, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype) as f:
        for b in blocks:
            if len(b):
                stats["peak"] = max(stats["peak"], float(np.abs(b).max()))
            if bits is None:
                f.write(b)
                continue
            y, n = soft_limit(b)
            stats["limited"] += n
            f.write(to_pcm(y, bits))
    return stats


def to_bytes(blocks: Iterator[np.ndarray], rate: int, channels: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    write_audio(buf, blocks, rate, channels, fmt, subtype)
    return buf.getvalue()


def readable_source(src) -> object:
    """Binary file objects that cannot seek (pipes) are read whole first; soundfile needs seeking."""
    if hasattr(src, "read") and not (hasattr(src, "seekable") and src.seekable()):
        return io.BytesIO(src.read())
    return src
