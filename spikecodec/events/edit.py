"""Editing .spk files on the event matrix itself: no audio, no model, no torch.

Every function takes a :class:`~spikecodec.bitstream.SpkFile` or the bytes of
a .spk file and returns the same kind (bytes in -> bytes out, SpkFile in ->
SpkFile out). The output is re-packed by :func:`~spikecodec.bitstream.write_spk`,
so every clip gets the cheapest of the four layouts again (an emptied clip
costs 0 payload bits), and its header describes the new length, so
``spikecodec info`` shows the new bit-rate.

Time and frames
    One model frame lasts ``d = hop / model_sample_rate`` seconds; frame ``f``
    covers ``[f*d, (f+1)*d)``. A time ``t`` in seconds snaps to the frame
    boundary ``round(t / d)``, clamped to ``[0, num_frames]``; a range
    ``START:END`` becomes the frames ``[round(START/d), round(END/d))``.
    Use the ``*_frames`` variants to work in frames directly.

Lengths after a cut / concat
    ``num_frames`` = the frames kept; ``num_samples`` = the duration of the
    kept frames at the source rate, ``round(frames * d * source_sample_rate)``.
    (So a cut that reaches the end of a file may gain the few padding samples
    of its last frame.) ``concat(a, b)``: ``a`` keeps all of its frames
    (padding included, since ``b`` now starts at frame ``a.num_frames``), so
    ``num_samples = max(a.num_samples, round(a.num_frames * d * sr)) + b.num_samples``.

Levels (mu)
    Models with bit-rate levels store one level per clip of ``T`` frames. A cut
    or a concat can move frames off the clip grid; then each new clip takes the
    level of the *source clip holding most of its frames* (on a tie, the
    earliest of them). A cut that starts on a clip boundary therefore keeps
    every level as it was. Mute, drop-units and thin keep the levels unchanged.

Damaged input
    Clips lost to damage were read as all-zero z; an edit writes them as real
    (empty) clips. The CLI warns when it reads a damaged file.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence, Union

import numpy as np

from spikecodec.bitstream import Header, SpkFile, read_spk, write_spk
from spikecodec.errors import EditError

__all__ = [
    "EditError",
    "as_spk",
    "frame_seconds",
    "time_to_frame",
    "parse_range",
    "parse_units",
    "cut",
    "cut_frames",
    "mute",
    "drop_units",
    "thin",
    "concat",
    "check_compatible",
]

SpkLike = Union[SpkFile, bytes, bytearray, memoryview]


# --------------------------------------------------------------------------- helpers

def as_spk(x: SpkLike) -> SpkFile:
    """A SpkFile from a SpkFile or .spk bytes."""
    if isinstance(x, SpkFile):
        return x
    if isinstance(x, (bytes, bytearray, memoryview)):
        return read_spk(bytes(x))
    raise TypeError(f"expected a SpkFile or .spk bytes, got {type(x).__name__}")


def _like(template: SpkLike, data: bytes):
    """Return ``data`` in the kind of ``template``: bytes, or a SpkFile."""
    return read_spk(data) if isinstance(template, SpkFile) else data


def frame_seconds(h: Header) -> float:
    """Duration of one model frame in seconds."""
    return h.hop / h.model_sample_rate


def time_to_frame(h: Header, t: float) -> int:
    """The frame boundary nearest to ``t`` seconds, clamped to ``[0, num_frames]``."""
    t = float(t)
    if not np.isfinite(t):
        return 0 if t < 0 else h.num_frames
    # t * rate / hop rather than t / (hop / rate): exact for times that are whole frames
    f = int(round(t * h.model_sample_rate / h.hop))
    return min(max(f, 0), h.num_frames)


def _range_frames(h: Header, start, end) -> tuple[int, int]:
    f0 = 0 if start is None else time_to_frame(h, start)
    f1 = h.num_frames if end is None else time_to_frame(h, end)
    return f0, f1


def parse_range(text: str) -> tuple[float | None, float | None]:
    """``"START:END"`` in seconds -> (start, end); either side may be empty (file start / end)."""
    if text is None or ":" not in text:
        raise EditError(f"expected START:END in seconds (e.g. 1.5:4), got {text!r}")
    a, b = text.split(":", 1)
    try:
        start = float(a) if a.strip() else None
        end = float(b) if b.strip() else None
    except ValueError:
        raise EditError(f"expected START:END in seconds (e.g. 1.5:4), got {text!r}") from None
    for v in (start, end):
        if v is not None and (not np.isfinite(v) or v < 0):
            raise EditError(f"times must be finite and >= 0 seconds, got {text!r}")
    if start is not None and end is not None and end <= start:
        raise EditError(f"empty time range {text!r} (END must be after START)")
    return start, end


def parse_units(text: Union[str, Iterable[int]], units: int | None = None) -> list[int]:
    """``"3,5,10-12"`` -> [3, 5, 10, 11, 12]; checked against ``units`` when given."""
    if isinstance(text, str):
        out: list[int] = []
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            try:
                if "-" in part:
                    a, b = part.split("-", 1)
                    lo, hi = int(a), int(b)
                    if hi < lo:
                        raise EditError(f"bad unit range {part!r} (high end below low end)")
                    out.extend(range(lo, hi + 1))
                else:
                    out.append(int(part))
            except ValueError:
                raise EditError(f"bad unit list {text!r}: expected e.g. 3,5,10-12") from None
        if not out:
            raise EditError(f"empty unit list {text!r}")
    else:
        out = [int(u) for u in text]
    bad = [u for u in out if u < 0 or (units is not None and u >= units)]
    if bad:
        lim = f" (the file has units 0..{units - 1})" if units is not None else ""
        raise EditError(f"no such unit {bad[0]}{lim}")
    return sorted(set(out))


def _frame_levels(spk: SpkFile) -> list[np.ndarray] | None:
    """Per channel, the level of every frame (the level of the clip holding it)."""
    if spk.levels is None or not spk.header.has_levels:
        return None
    h = spk.header
    return [np.repeat(np.asarray(lv, dtype=np.int64), h.frames_per_clip)[: h.num_frames] for lv in spk.levels]


def _clip_ids(h: Header, offset: int = 0) -> np.ndarray:
    """Per frame, a number naming the source clip that holds it (``offset`` + clip index)."""
    return offset + np.arange(h.num_frames, dtype=np.int64) // h.frames_per_clip


def _repack_levels(src_clip: np.ndarray, frame_levels: list[np.ndarray], T: int) -> list[np.ndarray]:
    """New per-clip levels: each new clip of ``T`` frames takes the level of the source clip
    holding most of its frames (ties: the earliest source clip)."""
    F = len(src_clip)
    n = -(-F // T)
    out = [np.zeros(n, dtype=np.int64) for _ in frame_levels]
    for k in range(n):
        ids = src_clip[k * T:(k + 1) * T]
        # ids are non-decreasing within one file and across a concat: runs are contiguous
        vals, first, counts = np.unique(ids, return_index=True, return_counts=True)
        best = first[np.argmax(counts)]  # argmax takes the first maximum: the earliest clip
        for c, fl in enumerate(frame_levels):
            out[c][k] = fl[k * T + best]
    return out


def _build(h: Header, z: Sequence[np.ndarray], levels, *, num_samples: int | None = None) -> bytes:
    F = int(z[0].shape[1]) if len(z) else 0
    nh = dataclasses.replace(h, num_frames=F)
    if num_samples is not None:
        nh.num_samples = int(num_samples)
    # re-packed in the input's .spk version: a v2 file gets the cheapest of the five layouts again, a v1 file
    # (written for a strict paper reader) stays v1
    return write_spk(nh, list(z), levels if nh.has_levels else None, version=nh.format_version)


def _frames_duration_samples(h: Header, frames: int) -> int:
    """round(frames * hop / model_sample_rate * source_sample_rate), in exact integer arithmetic."""
    num = frames * h.hop * h.source_sample_rate
    den = h.model_sample_rate
    return (2 * num + den) // (2 * den)  # round half up


# --------------------------------------------------------------------------- cut

def _cut(s: SpkFile, f0: int, f1: int) -> bytes:
    h = s.header
    f0 = min(max(int(f0), 0), h.num_frames)
    f1 = min(max(int(f1), 0), h.num_frames)
    if f1 <= f0:
        raise EditError(f"the range keeps no frames (frames {f0}..{f1} of {h.num_frames})")
    z = [np.ascontiguousarray(zc[:, f0:f1]) for zc in s.z]
    levels = None
    fl = _frame_levels(s)
    if fl is not None:
        levels = _repack_levels(_clip_ids(h)[f0:f1], [l[f0:f1] for l in fl], h.frames_per_clip)
    return _build(h, z, levels, num_samples=_frames_duration_samples(h, f1 - f0))


def cut_frames(spk: SpkLike, f0: int, f1: int):
    """Keep the frames ``[f0, f1)`` (clamped to the file). See the module docstring for the
    header and levels of the result. Returns bytes for bytes, a SpkFile for a SpkFile."""
    return _like(spk, _cut(as_spk(spk), f0, f1))


def cut(spk: SpkLike, start: float | None = None, end: float | None = None):
    """Keep the time range ``[start, end)`` seconds (snapped to frame boundaries; None = the
    file's start / end). Returns bytes for bytes, a SpkFile for a SpkFile."""
    s = as_spk(spk)
    f0, f1 = _range_frames(s.header, start, end)
    if f1 <= f0:
        dur = s.header.num_frames * frame_seconds(s.header)
        raise EditError(f"the range {_fmt(start)}:{_fmt(end)} s keeps no frames (the file lasts {dur:.3f} s)")
    return _like(spk, _cut(s, f0, f1))


def _fmt(t) -> str:
    return "" if t is None else f"{t:g}"


# --------------------------------------------------------------------------- mute / drop / thin

def _mute(s: SpkFile, f0: int, f1: int, channels) -> bytes:
    h = s.header
    f0 = min(max(int(f0), 0), h.num_frames)
    f1 = min(max(int(f1), 0), h.num_frames)
    chans = range(h.channels) if channels is None else channels
    z = [zc.copy() for zc in s.z]
    for c in chans:
        if not 0 <= c < h.channels:
            raise EditError(f"no such channel {c} (the file has {h.channels})")
        z[c][:, f0:f1] = False
    return _build(h, z, s.levels)


def mute(spk: SpkLike, start: float | None = None, end: float | None = None,
         channels: Sequence[int] | None = None):
    """Remove every event in ``[start, end)`` seconds (snapped to frames; None = file start/end)."""
    s = as_spk(spk)
    f0, f1 = _range_frames(s.header, start, end)
    return _like(spk, _mute(s, f0, f1, channels))


def drop_units(spk: SpkLike, units: Union[str, Iterable[int]]):
    """Remove every event of the given units (``[3, 5]`` or ``"3,5,10-12"``). The units stay in
    the file (the decoder needs all N rows); they are simply silent."""
    s = as_spk(spk)
    us = parse_units(units, s.header.units)
    z = [zc.copy() for zc in s.z]
    for zc in z:
        zc[us, :] = False
    return _like(spk, _build(s.header, z, s.levels))


def thin(spk: SpkLike, fraction: float, seed: int | None = 0):
    """Drop ``round(fraction * S)`` of the file's S events, chosen uniformly at random (all
    channels together) with ``seed``. The file stores no per-event confidence, so random is
    the only honest choice; the bit-rate falls roughly in proportion for sparse layouts."""
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise EditError(f"the fraction of events to drop must be in [0, 1], got {fraction}")
    s = as_spk(spk)
    z = [zc.copy() for zc in s.z]
    where = [np.flatnonzero(zc) for zc in z]
    total = sum(len(w) for w in where)
    k = int(round(fraction * total))
    if k:
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(total, size=k, replace=False))
        bounds = np.cumsum([0] + [len(w) for w in where])
        for c, zc in enumerate(z):
            sel = pick[(pick >= bounds[c]) & (pick < bounds[c + 1])] - bounds[c]
            zc.reshape(-1)[where[c][sel]] = False
    return _like(spk, _build(s.header, z, s.levels))


# --------------------------------------------------------------------------- concat

_SAME = ("model_id", "units", "hop", "model_sample_rate", "source_sample_rate", "channels", "has_levels")


def check_compatible(a: Header, b: Header) -> None:
    """Raise EditError (one line) unless ``a`` and ``b`` come from the same model and layout
    of channels: same model_id, units, hop, rates, channels and levels."""
    for name in _SAME:
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            what = name.replace("_", " ")
            if name == "model_id":
                raise EditError(f"cannot concatenate files of different models: {what} {va} != {vb}")
            if name.endswith("sample_rate"):
                va, vb = f"{va} Hz", f"{vb} Hz"
            # Same model: say what really differs (e.g. the source sample rate, which concat cannot change).
            raise EditError(f"cannot concatenate files with a different {what} ({va} != {vb}); "
                            f"both are from model {a.model_name!r} ({a.model_id})")


def concat(a: SpkLike, b: SpkLike, *more: SpkLike):
    """Join files end to end: ``b`` starts at the frame after ``a``'s last. All files must come
    from the same model (:func:`check_compatible`). Clips keep ``a``'s ``frames_per_clip``;
    levels follow the majority rule of the module docstring. Returns the kind of ``a``."""
    files = [as_spk(x) for x in (a, b, *more)]
    h0 = dataclasses.replace(files[0].header, format_version=max(f.header.format_version for f in files))
    for f in files[1:]:
        check_compatible(h0, f.header)
    z = [np.concatenate([f.z[c] for f in files], axis=1) for c in range(h0.channels)]
    num_samples = 0
    for i, f in enumerate(files):
        h = f.header
        if i < len(files) - 1:
            num_samples += max(h.num_samples, _frames_duration_samples(h, h.num_frames))
        else:
            num_samples += h.num_samples
    levels = None
    if h0.has_levels:
        ids, fls, off = [], [], 0
        for f in files:
            ids.append(_clip_ids(f.header, off))
            off += f.header.num_clips
            fls.append(_frame_levels(f))
        src = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        fl = [np.concatenate([x[c] for x in fls]) for c in range(h0.channels)]
        levels = _repack_levels(src, fl, h0.frames_per_clip)
    return _like(a, _build(h0, z, levels, num_samples=num_samples))
