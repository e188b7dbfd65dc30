"""The clip layouts of a binary event matrix and their exact bit costs.

.spk v1 has the paper's four layouts (2-bit tag).  .spk v2 adds a fifth, ``ctx``
(tag 4 of a 3-bit tag): the clip range-coded bit by bit with a context model
(see ctx.py and formats/spk-v2.md); its payload is ``W`` in ``b(floor(N*T/32) + 1)``
bits followed by W 32-bit words.  The functions below take ``version`` (default 1,
the paper's container); the container passes the file's version.

A clip is a boolean matrix ``z`` of shape ``(N, T)`` (N units, T frames) holding
``S`` ones ("events").  It is stored as one *clip record*::

    tag      2 bits              layout index into LAYOUTS
    S        b(N*T + 1) bits     number of events
    level    5 bits              only when the file has levels
    payload  layout_costs(S, N, T)[layout] bits

with ``b(x) = ceil(log2 x)`` and ``b(0) = b(1) = 0``.  Every integer is written
MSB first (big-endian bit order).  See formats/spk-v1.md for the full text.

Everything here is vectorized with numpy: there is no Python loop over events or
bits.  Internally bits are handled as numpy ``uint8`` arrays of 0/1 values; the
public ``encode_clip`` / ``decode_clip`` pair speaks ``bitarray``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from bitarray import bitarray

from ._errors import SpkFormatError
from .ctx import ctx_decode, ctx_encode

__all__ = [
    "LAYOUTS",
    "LAYOUTS_V2",
    "CTX",
    "tag_bits",
    "ctx_count_bits",
    "record_bits",
    "LEVEL_BITS",
    "NUM_LEVELS",
    "TAG_BITS",
    "SpkFormatError",
    "bit_width",
    "layout_costs",
    "choose_layout",
    "clip_header_bits",
    "encode_clip",
    "decode_clip",
]

LAYOUTS = ("dense", "coo", "time", "units")  # v1, in tag order
CTX = "ctx"
LAYOUTS_V2 = LAYOUTS + (CTX,)  # v2, in tag order (3-bit tag; 5..7 are invalid)
TAG_BITS = 2  # v1
TAG_BITS_V2 = 3
VERSIONS = (1, 2)
LEVEL_BITS = 5
NUM_LEVELS = 1 << LEVEL_BITS  # the levels a clip record can carry: 0..NUM_LEVELS - 1


def bit_width(x: int) -> int:
    """b(x) = ceil(log2 x) for x >= 2, and 0 for x in {0, 1}."""
    x = int(x)
    if x < 0:
        raise ValueError(f"bit_width of a negative number: {x}")
    return 0 if x <= 1 else (x - 1).bit_length()


def layout_costs(events: int, units: int, frames: int) -> dict[str, int]:
    """Payload bits of each layout for a clip with S=events, N=units, T=frames."""
    S, N, T = int(events), int(units), int(frames)
    bN, bT, bP = bit_width(N), bit_width(T), bit_width(S + 1)
    return {
        "dense": N * T,
        "coo": S * (bN + bT),
        "time": S * bT + (N - 1) * bP,
        "units": S * bN + (T - 1) * bP,
    }


def choose_layout(events: int, units: int, frames: int) -> str:
    """The cheapest layout; ties go to the lowest tag (dense < coo < time < units)."""
    costs = layout_costs(events, units, frames)
    best = min(costs.values())
    for name in LAYOUTS:  # LAYOUTS is in tag order
        if costs[name] == best:
            return name
    raise AssertionError("unreachable")


def tag_bits(version: int = 1) -> int:
    if version not in VERSIONS:
        raise ValueError(f"unknown .spk format version {version}; expected one of {VERSIONS}")
    return TAG_BITS if version == 1 else TAG_BITS_V2


def clip_header_bits(units: int, frames: int, has_level: bool, version: int = 1) -> int:
    """Bits of a clip record before its payload: tag + length header (+ level)."""
    return tag_bits(version) + bit_width(units * frames + 1) + (LEVEL_BITS if has_level else 0)


def ctx_count_bits(units: int, frames: int) -> int:
    """Width of the word count W that starts a ctx payload: W <= floor(N*T/32) (else dense is cheaper)."""
    return bit_width(units * frames // 32 + 1)


def _ctx_words(z: np.ndarray, best_v1: int):
    """The ctx words of clip z when the ctx layout is strictly cheaper than ``best_v1`` payload bits, else None."""
    N, T = z.shape
    wW = ctx_count_bits(N, T)
    if best_v1 <= wW + 32:  # a ctx payload is at least the count and one word (see ctx_encode)
        return None
    words = ctx_encode(z)
    return words if wW + 32 * words.size < best_v1 else None


def record_bits(z_clip, has_level: bool, version: int = 1) -> int:
    """Exact bits of clip z's record in its cheapest layout (what a writer of ``version`` emits)."""
    z = _check_clip(z_clip)
    N, T = z.shape
    S = int(np.count_nonzero(z))
    best = min(layout_costs(S, N, T).values())
    if version == 2:
        words = _ctx_words(z, best)
        if words is not None:
            best = ctx_count_bits(N, T) + 32 * words.size
    return clip_header_bits(N, T, has_level, version) + best


# --------------------------------------------------------------------------
# fixed-width integer <-> bit helpers (MSB first), vectorized
# --------------------------------------------------------------------------

_CONTAINERS = ((8, ">u1"), (16, ">u2"), (32, ">u4"), (64, ">u8"))


def _container(w: int):
    for width, dt in _CONTAINERS:
        if w <= width:
            return width, dt
    raise ValueError(f"field width {w} > 64 bits")


def ints_to_bits(values, w: int) -> np.ndarray:
    """Each value as ``w`` bits, MSB first, concatenated -> uint8 0/1 array."""
    values = np.asarray(values)
    k = values.size
    if w == 0 or k == 0:
        return np.zeros(0, np.uint8)
    width, dt = _container(w)
    raw = np.ascontiguousarray(values.ravel().astype(dt)).view(np.uint8)
    bits = np.unpackbits(raw).reshape(k, width)
    return bits[:, width - w:].ravel()


def bits_to_ints(bits: np.ndarray, offset: int, k: int, w: int) -> np.ndarray:
    """Read ``k`` fields of ``w`` bits each starting at ``offset`` -> int64 array."""
    if w == 0 or k == 0:
        return np.zeros(k, np.int64)
    seg = bits[offset:offset + k * w].reshape(k, w)
    if w <= 62:
        return seg.astype(np.int64) @ _weights(w)
    width, dt = _container(w)
    padded = np.zeros((k, width), np.uint8)
    padded[:, width - w:] = seg
    return np.packbits(padded, axis=1).view(dt).ravel().astype(np.int64)


_WEIGHTS: dict[int, np.ndarray] = {}


def _weights(w: int) -> np.ndarray:
    wt = _WEIGHTS.get(w)
    if wt is None:
        wt = _WEIGHTS[w] = np.left_shift(1, np.arange(w - 1, -1, -1, dtype=np.int64))
    return wt


def _int_field(bits: np.ndarray, offset: int, w: int) -> int:
    if w == 0:
        return 0
    return int(bits_to_ints(bits, offset, 1, w)[0])


# --------------------------------------------------------------------------
# clip record encoding (numpy bit arrays)
# --------------------------------------------------------------------------

def _check_clip(z_clip) -> np.ndarray:
    z = np.asarray(z_clip)
    if z.ndim != 2:
        raise ValueError(f"a clip must be a 2-D (units, frames) array, got shape {z.shape}")
    if z.dtype != np.bool_:
        if not np.isin(z, (0, 1)).all():
            raise ValueError("a clip must hold only 0 and 1")
        z = z.astype(bool)
    N, T = z.shape
    if N < 1 or T < 1:
        raise ValueError(f"a clip needs at least one unit and one frame, got shape {z.shape}")
    return z


def encode_payload_np(z: np.ndarray, layout: str, S: int) -> np.ndarray:
    """Payload bits (uint8 0/1) of clip ``z`` in ``layout``; ``S`` = z.sum()."""
    z = np.ascontiguousarray(z)
    N, T = z.shape
    bN, bT, bP = bit_width(N), bit_width(T), bit_width(S + 1)
    if layout == "dense":
        return z.reshape(-1).view(np.uint8)
    if layout == "coo":
        if S == 0:
            return np.zeros(0, np.uint8)
        lin = np.flatnonzero(z)  # row-major: unit ascending, then time ascending
        u, t = np.divmod(lin, T)
        return ints_to_bits((u << bT) | t, bN + bT)
    if layout == "time":
        t = np.flatnonzero(z) % T
        ptr = np.cumsum(np.count_nonzero(z, axis=1))[:-1]
        return np.concatenate([ints_to_bits(t, bT), ints_to_bits(ptr, bP)])
    if layout == "units":
        u = np.flatnonzero(np.ascontiguousarray(z.T)) % N  # time-major, then unit ascending
        ptr = np.cumsum(np.count_nonzero(z, axis=0))[:-1]
        return np.concatenate([ints_to_bits(u, bN), ints_to_bits(ptr, bP)])
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def encode_clip_np(z_clip, level: int | None, layout: str | None = None, version: int = 1) -> np.ndarray:
    """Whole clip record as a uint8 0/1 numpy array (see encode_clip)."""
    z = _check_clip(z_clip)
    N, T = z.shape
    S = int(np.count_nonzero(z))
    names = LAYOUTS if tag_bits(version) == TAG_BITS else LAYOUTS_V2
    words = None
    if layout is None:
        layout = choose_layout(S, N, T)
        if version == 2:
            words = _ctx_words(z, layout_costs(S, N, T)[layout])
            if words is not None:
                layout = CTX
    elif layout not in names:
        raise ValueError(f"unknown layout {layout!r} for .spk v{version}; expected one of {names}")
    elif layout == CTX:
        words = ctx_encode(z)
        if 32 * words.size > N * T:
            raise ValueError("ctx layout: this clip's code is longer than the dense layout")
    parts = [
        ints_to_bits([names.index(layout)], tag_bits(version)),
        ints_to_bits([S], bit_width(N * T + 1)),
    ]
    if level is not None:
        level = int(level)
        if not 0 <= level < NUM_LEVELS:
            raise ValueError(f"level must be in 0..{NUM_LEVELS - 1}, got {level}")
        parts.append(ints_to_bits([level], LEVEL_BITS))
    if layout == CTX:
        assert words is not None   # set above whenever the layout is ctx
        parts.append(ints_to_bits([words.size], ctx_count_bits(N, T)))
        parts.append(np.unpackbits(words.astype(">u4").view(np.uint8)))
    else:
        parts.append(encode_payload_np(z, layout, S))
    return np.concatenate(parts)


def encode_clip(z_clip, level: int | None, layout: str | None = None, version: int = 1) -> bitarray:
    """Encode one clip (bool array (N, T)) as a clip record of a .spk ``version`` file.

    ``level`` is the 5-bit mu level, or None when the file has no levels.
    ``layout`` forces a layout (tests, spec); by default the cheapest is used.
    """
    bits = encode_clip_np(z_clip, level, layout, version)
    out = bitarray(endian="big")
    out.frombytes(np.packbits(bits).tobytes())
    del out[bits.size:]
    return out


def parse_clip_header(bits: np.ndarray, offset: int, N: int, T: int, has_level: bool, version: int = 1):
    """Read tag, S, level (and a ctx payload's word count) of the clip record at ``offset``.

    Returns (layout, S, level, payload_offset, payload_bits).  Raises
    SpkFormatError when the record does not fit in ``bits``, S > N*T, or the tag is invalid.
    """
    n = bits.size
    hb = clip_header_bits(N, T, has_level, version)
    tb = tag_bits(version)
    if offset < 0 or offset + hb > n:
        raise SpkFormatError("clip record truncated (header)")
    tag = _int_field(bits, offset, tb)
    wS = bit_width(N * T + 1)
    S = _int_field(bits, offset + tb, wS)
    if S > N * T:
        raise SpkFormatError(f"clip claims {S} events but holds only {N * T} cells")
    level = _int_field(bits, offset + tb + wS, LEVEL_BITS) if has_level else None
    if tag >= (len(LAYOUTS) if version == 1 else len(LAYOUTS_V2)):
        raise SpkFormatError(f"clip record: invalid layout tag {tag}")
    layout = LAYOUTS_V2[tag]
    start = offset + hb
    if layout == CTX:
        wW = ctx_count_bits(N, T)
        if start + wW > n:
            raise SpkFormatError("clip record truncated (ctx word count)")
        W = _int_field(bits, start, wW)
        if W > N * T // 32:
            raise SpkFormatError("ctx clip: longer than the dense layout")
        pbits = wW + 32 * W
    else:
        pbits = layout_costs(S, N, T)[layout]
    if start + pbits > n:
        raise SpkFormatError("clip record truncated (payload)")
    return layout, S, level, start, pbits


def _check_pointers(ptr: np.ndarray, S: int) -> np.ndarray:
    """Inner pointers -> per-group counts (validated)."""
    full = np.concatenate([[0], ptr, [S]])
    counts = np.diff(full)
    if counts.size and counts.min() < 0:
        raise SpkFormatError("clip pointers are not non-decreasing within 0..S")
    return counts


def ctx_words(bits: np.ndarray, start: int, S: int, N: int, T: int) -> np.ndarray:
    """The uint32 words of the ctx payload at ``start`` (its word count checked to be canonical)."""
    wW = ctx_count_bits(N, T)
    W = _int_field(bits, start, wW)
    if wW + 32 * W >= min(layout_costs(S, N, T).values()):
        raise SpkFormatError("ctx clip: not cheaper than the best v1 layout (not canonical)")
    seg = bits[start + wW:start + wW + 32 * W]
    return np.packbits(seg).view(">u4").astype(np.uint32)


def decode_payload_np(bits: np.ndarray, start: int, layout: str, S: int, N: int, T: int) -> np.ndarray:
    """Decode a payload into a bool (N, T) matrix, validating canonical form."""
    bN, bT, bP = bit_width(N), bit_width(T), bit_width(S + 1)
    if layout == CTX:
        z = ctx_decode(ctx_words(bits, start, S, N, T), N, T)
        if int(np.count_nonzero(z)) != S:
            raise SpkFormatError("ctx clip: event count does not match its header")
        return z
    if layout == "dense":
        flat = bits[start:start + N * T]
        if int(np.count_nonzero(flat)) != S:
            raise SpkFormatError("dense clip: event count does not match its header")
        return flat.astype(bool).reshape(N, T)
    z = np.zeros((N, T), dtype=bool)
    if S == 0 and layout == "coo":
        return z
    if layout == "coo":
        v = bits_to_ints(bits, start, S, bN + bT)
        u, t = v >> bT, v & ((1 << bT) - 1)
        lin = u * T + t
    elif layout == "time":
        t = bits_to_ints(bits, start, S, bT)
        ptr = bits_to_ints(bits, start + S * bT, N - 1, bP)
        counts = _check_pointers(ptr, S)
        u = np.repeat(np.arange(N, dtype=np.int64), counts)
        lin = u * T + t
    elif layout == "units":
        u = bits_to_ints(bits, start, S, bN)
        ptr = bits_to_ints(bits, start + S * bN, T - 1, bP)
        counts = _check_pointers(ptr, S)
        t = np.repeat(np.arange(T, dtype=np.int64), counts)
        lin = t * N + u
    else:  # pragma: no cover
        raise SpkFormatError(f"unknown layout {layout!r}")
    if S:
        if u.max() >= N or t.max() >= T:
            raise SpkFormatError(f"{layout} clip: index out of range")
        if S > 1 and not (np.diff(lin) > 0).all():
            raise SpkFormatError(f"{layout} clip: indices not strictly ascending")
        z[u, t] = True
    return z


def decode_clip_np(bits: np.ndarray, offset: int, N: int, T: int, has_level: bool, version: int = 1):
    """Decode the clip record at ``offset`` of a uint8 0/1 array.

    Returns (z_clip, level, new_offset, layout, S).
    """
    layout, S, level, start, pbits = parse_clip_header(bits, offset, N, T, has_level, version)
    z = decode_payload_np(bits, start, layout, S, N, T)
    return z, level, start + pbits, layout, S


def as_bit_array(bits) -> np.ndarray:
    """bitarray (either endianness) or array-like of 0/1 -> uint8 0/1 numpy array."""
    if isinstance(bits, bitarray):
        raw = np.frombuffer(bits.tobytes(), dtype=np.uint8)
        endian = bits.endian() if callable(bits.endian) else bits.endian
        order: Literal["big", "little"] = "big" if endian == "big" else "little"
        return np.unpackbits(raw, bitorder=order)[: len(bits)]
    arr = np.asarray(bits, dtype=np.uint8)
    if arr.ndim != 1:
        raise ValueError("bits must be 1-D")
    return arr


def decode_clip(bits, offset: int, N: int, T: int, has_level: bool, version: int = 1):
    """Decode the clip record starting at bit ``offset`` of ``bits``.

    Returns ``(z_clip, level, new_offset)``: z_clip is bool (N, T), level an int
    (None when ``has_level`` is false), new_offset the bit after the record.
    Raises SpkFormatError on truncated or non-canonical records.
    """
    N, T = int(N), int(T)
    if N < 1 or T < 1:
        raise ValueError("N and T must be >= 1")
    arr = as_bit_array(bits)
    z, level, new_offset, _, _ = decode_clip_np(arr, int(offset), N, T, bool(has_level), version)
    return z, level, new_offset
