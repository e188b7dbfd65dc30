"""The .spk container: file header, CRC-protected clip groups, damage reports.

Version 1 is the paper's container (four layouts, formats/spk-v1.md); version 2
(formats/spk-v2.md, written by default) adds the entropy-coded ``ctx`` layout
with a 3-bit tag and is otherwise identical.  Readers accept both.

Layout (all multi-byte integers big-endian; see formats/spk-v1.md)::

    file header   magic "\\x89SPK", version u8, header_length u16, fixed fields,
                  model name, model id, CRC-32 of everything before it
    group 0       16-byte group header (sync, index, length, payload CRC-32,
                  header CRC-16) + payload: the clip records of clips
                  [0, K) for every channel, bit-packed MSB first, zero padded
    group 1 ...

A bit flip inside a group payload costs that group only (its header still gives
the exact length to skip); a flip in a group header is recovered by scanning for
the next sync word whose header CRC checks.  Lost clips are reported in
``SpkFile.damaged`` as (channel, clip_index, start_s, end_s).
"""

from __future__ import annotations

import binascii
import dataclasses
import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Sequence

import numpy as np

from .ctx import ctx_decode_many, ctx_ideal_bits
from .layouts import (
    CTX,
    LAYOUTS,
    LAYOUTS_V2,
    NUM_LEVELS,
    VERSIONS,
    SpkFormatError,
    choose_layout,
    clip_header_bits,
    ctx_words,
    decode_payload_np,
    encode_clip_np,
    parse_clip_header,
)

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "GROUP_SYNC",
    "Header",
    "ClipInfo",
    "SpkInfo",
    "SpkFile",
    "SpkWriter",
    "write_spk",
    "read_spk",
    "inspect_spk",
    "num_clips_of",
    "clip_frames",
]

MAGIC = b"\x89SPK"
FORMAT_VERSION = 2  # what writers produce by default; version=1 writes the strict paper container
SUPPORTED_VERSIONS = VERSIONS  # (1, 2): what readers accept
GROUP_SYNC = b"\xB3\x5C"

_PRELUDE = struct.Struct(">4sBH")  # magic, version, header_length
_FIXED = struct.Struct(">BBBHHIIIQQ")  # flags .. num_frames
_GROUP = struct.Struct(">2sIII")  # sync, index, payload_length, payload_crc32 (+ u16 header crc)
GROUP_HEADER_BYTES = _GROUP.size + 2  # 16
MIN_HEADER_BYTES = _PRELUDE.size + _FIXED.size + 1 + 1 + 4  # 48

FLAG_HAS_LEVELS = 0x01
_CTX_BATCH = 64  # ctx clips decoded together (memory: 64 x N x T bools)

# v1 limits (also what a reader accepts before allocating anything)
MAX_UNITS = 65535
MAX_FRAMES_PER_CLIP = 65535
MAX_CELLS_PER_CLIP = 1 << 24  # N * T
MAX_NUM_FRAMES = 1 << 40
MAX_NAME_BYTES = 255
MAX_ID_CHARS = 255
DEFAULT_MAX_CELLS = 1 << 30  # C * N * num_frames a reader will allocate by default (1 GiB of bool)
_HEX = frozenset("0123456789abcdefABCDEF")


def _crc16(b: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xor-out."""
    return binascii.crc_hqx(b, 0xFFFF)


def _crc32(b: bytes) -> int:
    """CRC-32 (ISO-HDLC, as zlib / PNG / Ethernet): poly 0x04C11DB7 reflected."""
    return zlib.crc32(b) & 0xFFFFFFFF


# --------------------------------------------------------------------------
# header
# --------------------------------------------------------------------------

@dataclass
class Header:
    model_name: str
    model_id: str  # hex hash of the checkpoint
    source_sample_rate: int
    model_sample_rate: int
    channels: int
    num_samples: int  # at the source rate
    num_frames: int  # model frames per channel
    units: int  # N
    frames_per_clip: int = 256  # T
    hop: int = 512
    has_levels: bool = False
    format_version: int = FORMAT_VERSION  # set by the writer (its ``version`` argument)
    clips_per_group: int = 1  # K: clip indices per CRC group (all channels)

    @property
    def num_clips(self) -> int:
        return num_clips_of(self.num_frames, self.frames_per_clip)

    @property
    def num_groups(self) -> int:
        return -(-self.num_clips // self.clips_per_group)

    def clip_frames(self, k: int) -> int:
        return clip_frames(self.num_frames, self.frames_per_clip, k)

    def clip_time_range(self, k: int) -> tuple[float, float]:
        start = k * self.frames_per_clip
        end = start + self.clip_frames(k)
        sec = self.hop / self.model_sample_rate
        return start * sec, end * sec


def num_clips_of(num_frames: int, T: int) -> int:
    return -(-int(num_frames) // int(T))


def clip_frames(num_frames: int, T: int, k: int) -> int:
    """Frames of clip k: T, except the last clip, which may be shorter."""
    return min(T, num_frames - k * T)


def _validate_header(h: Header) -> None:
    def rng(name, lo, hi):
        v = getattr(h, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise ValueError(f"Header.{name} must be an integer in [{lo}, {hi}], got {v!r}")

    rng("channels", 1, 255)
    rng("clips_per_group", 1, 255)
    rng("units", 1, MAX_UNITS)
    rng("frames_per_clip", 1, MAX_FRAMES_PER_CLIP)
    rng("hop", 1, 2**32 - 1)
    rng("source_sample_rate", 1, 2**32 - 1)
    rng("model_sample_rate", 1, 2**32 - 1)
    rng("num_samples", 0, 2**64 - 1)
    rng("num_frames", 0, MAX_NUM_FRAMES)
    if h.units * h.frames_per_clip > MAX_CELLS_PER_CLIP:
        raise ValueError(f"units * frames_per_clip must be <= {MAX_CELLS_PER_CLIP}")
    if not isinstance(h.model_name, str) or len(h.model_name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"model_name must be a str of at most {MAX_NAME_BYTES} UTF-8 bytes")
    if not isinstance(h.model_id, str) or len(h.model_id) > MAX_ID_CHARS or not set(h.model_id) <= _HEX:
        raise ValueError(f"model_id must be a hex string of at most {MAX_ID_CHARS} characters, got {h.model_id!r}")


def _header_bytes(h: Header) -> bytes:
    name = h.model_name.encode("utf-8")
    mid = h.model_id.encode("ascii")
    length = MIN_HEADER_BYTES + len(name) + len(mid)
    body = (
        _PRELUDE.pack(MAGIC, h.format_version, length)
        + _FIXED.pack(
            FLAG_HAS_LEVELS if h.has_levels else 0,
            h.channels,
            h.clips_per_group,
            h.units,
            h.frames_per_clip,
            h.hop,
            h.source_sample_rate,
            h.model_sample_rate,
            h.num_samples,
            h.num_frames,
        )
        + bytes([len(name)]) + name
        + bytes([len(mid)]) + mid
    )
    out = body + struct.pack(">I", _crc32(body))
    assert len(out) == length
    return out


def _parse_header(data: bytes) -> tuple[Header, int]:
    n = len(data)
    if n < _PRELUDE.size:
        raise SpkFormatError(f"not a .spk file: {n} bytes is shorter than the {_PRELUDE.size}-byte prelude")
    magic, version, hlen = _PRELUDE.unpack_from(data, 0)
    if magic != MAGIC:
        raise SpkFormatError(f"not a .spk file (bad magic {magic!r}, expected {MAGIC!r})")
    if hlen < _PRELUDE.size + 4:
        raise SpkFormatError(f"damaged .spk header: impossible header length {hlen}")
    if hlen > n:
        raise SpkFormatError(f"truncated .spk file: header needs {hlen} bytes, file has {n}")
    stored = struct.unpack_from(">I", data, hlen - 4)[0]
    if _crc32(data[: hlen - 4]) != stored:
        extra = f" (it claims format version {version})" if version not in SUPPORTED_VERSIONS else ""
        raise SpkFormatError(f"damaged .spk header: CRC-32 mismatch{extra}")
    if version not in SUPPORTED_VERSIONS:
        raise SpkFormatError(
            f"unsupported .spk format version {version}; this reader supports versions "
            + " and ".join(map(str, SUPPORTED_VERSIONS)) + " (upgrade spikecodec to read it)"
        )
    if hlen < MIN_HEADER_BYTES:
        raise SpkFormatError(f"damaged .spk header: length {hlen} < {MIN_HEADER_BYTES}")
    (flags, channels, K, N, T, hop, src_sr, model_sr, num_samples, num_frames) = _FIXED.unpack_from(
        data, _PRELUDE.size
    )
    pos = _PRELUDE.size + _FIXED.size
    lname = data[pos]
    pos += 1
    if pos + lname + 1 + 4 > hlen:
        raise SpkFormatError("damaged .spk header: model name overruns the header")
    try:
        name = data[pos:pos + lname].decode("utf-8")
    except UnicodeDecodeError:
        raise SpkFormatError("damaged .spk header: model name is not UTF-8") from None
    pos += lname
    lid = data[pos]
    pos += 1
    if pos + lid + 4 != hlen:
        raise SpkFormatError("damaged .spk header: field sizes do not add up to the header length")
    try:
        mid = data[pos:pos + lid].decode("ascii")
    except UnicodeDecodeError:
        raise SpkFormatError("damaged .spk header: model id is not ASCII hex") from None
    if not set(mid) <= _HEX:
        raise SpkFormatError("damaged .spk header: model id is not hex")
    if flags & ~FLAG_HAS_LEVELS:
        raise SpkFormatError(f"damaged .spk header: reserved flag bits set (0x{flags:02x})")
    for what, v, lo, hi in (
        ("channels", channels, 1, 255),
        ("clips_per_group", K, 1, 255),
        ("units", N, 1, MAX_UNITS),
        ("frames_per_clip", T, 1, MAX_FRAMES_PER_CLIP),
        ("hop", hop, 1, 2**32 - 1),
        ("source_sample_rate", src_sr, 1, 2**32 - 1),
        ("model_sample_rate", model_sr, 1, 2**32 - 1),
        ("num_frames", num_frames, 0, MAX_NUM_FRAMES),
    ):
        if not lo <= v <= hi:
            raise SpkFormatError(f"damaged .spk header: {what} = {v} outside [{lo}, {hi}]")
    if N * T > MAX_CELLS_PER_CLIP:
        raise SpkFormatError(f"damaged .spk header: units * frames_per_clip = {N * T} > {MAX_CELLS_PER_CLIP}")
    h = Header(
        model_name=name,
        model_id=mid,
        source_sample_rate=src_sr,
        model_sample_rate=model_sr,
        channels=channels,
        num_samples=num_samples,
        num_frames=num_frames,
        units=N,
        frames_per_clip=T,
        hop=hop,
        has_levels=bool(flags & FLAG_HAS_LEVELS),
        format_version=version,
        clips_per_group=K,
    )
    return h, hlen


# --------------------------------------------------------------------------
# group geometry
# --------------------------------------------------------------------------

def _group_clips(h: Header, g: int) -> range:
    K = h.clips_per_group
    return range(g * K, min((g + 1) * K, h.num_clips))


def _group_bit_bounds(h: Header, g: int) -> tuple[int, int]:
    """(min, max) record bits of group g: all payloads empty / all dense."""
    lo = hi = 0
    for k in _group_clips(h, g):
        Tk = h.clip_frames(k)
        hb = clip_header_bits(h.units, Tk, h.has_levels, h.format_version)
        lo += h.channels * hb
        hi += h.channels * (hb + h.units * Tk)
    return lo, hi


def _min_file_bytes(h: Header, hlen: int) -> int:
    """Smallest complete file with this header (every payload empty), O(1)."""
    G = h.num_groups
    if G == 0:
        return hlen
    K, C = h.clips_per_group, h.channels
    hb = clip_header_bits(h.units, h.frames_per_clip, h.has_levels, h.format_version)
    full = GROUP_HEADER_BYTES + -(-(K * C * hb) // 8)
    lo_last, _ = _group_bit_bounds(h, G - 1)
    return hlen + (G - 1) * full + GROUP_HEADER_BYTES + -(-lo_last // 8)


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------

class SpkWriter:
    """Streaming .spk writer: header first, then one clip index at a time.

    >>> w = SpkWriter(fileobj, header)          # writes the file header
    >>> for k in range(header.num_clips):
    ...     w.write_clip([z_c[:, k*T:(k+1)*T] for z_c in z], levels_k_or_None)
    >>> w.close()                               # flushes the last group

    Memory is bounded by one group (clips_per_group clip indices).  ``version`` (default:
    ``header.format_version``, itself 2 by default) 2 may use the entropy-coded ctx layout; 1 writes the strict
    paper container.
    """

    def __init__(self, fileobj: BinaryIO, header: Header, version: int | None = None):
        _validate_header(header)
        if version is None:
            version = header.format_version
        if version not in SUPPORTED_VERSIONS:
            raise ValueError(f".spk format version must be one of {SUPPORTED_VERSIONS}, got {version!r}")
        self.header = dataclasses.replace(header, format_version=int(version))
        self._f = fileobj
        self._next = 0
        self._pending: list[np.ndarray] = []
        self._pending_clips = 0
        self._group = 0
        self._closed = False
        self._f.write(_header_bytes(self.header))

    def write_clip(self, z_channels: Sequence[np.ndarray], levels: Sequence[int] | None = None) -> None:
        """Append clip index ``self.next_clip`` for every channel."""
        h = self.header
        if self._closed:
            raise ValueError("SpkWriter is closed")
        k = self._next
        if k >= h.num_clips:
            raise ValueError(f"all {h.num_clips} clips were already written")
        if len(z_channels) != h.channels:
            raise ValueError(f"expected {h.channels} channel clips, got {len(z_channels)}")
        if h.has_levels:
            if levels is None or len(levels) != h.channels:
                raise ValueError(f"has_levels: expected {h.channels} levels for clip {k}")
        elif levels is not None:
            raise ValueError("levels given but the header has has_levels=False")
        Tk = h.clip_frames(k)
        for c, zc in enumerate(z_channels):
            zc = np.asarray(zc)
            if zc.shape != (h.units, Tk):
                raise ValueError(f"clip {k} channel {c}: shape {zc.shape}, expected {(h.units, Tk)}")
            self._pending.append(encode_clip_np(zc, None if levels is None else int(levels[c]),
                                                version=h.format_version))
        self._next += 1
        self._pending_clips += 1
        if self._pending_clips == h.clips_per_group or self._next == h.num_clips:
            self._flush()

    @property
    def next_clip(self) -> int:
        return self._next

    def _flush(self) -> None:
        bits = np.concatenate(self._pending) if self._pending else np.zeros(0, np.uint8)
        payload = np.packbits(bits).tobytes()  # zero-padded to a byte boundary
        head = _GROUP.pack(GROUP_SYNC, self._group, len(payload), _crc32(payload))
        self._f.write(head + struct.pack(">H", _crc16(head)) + payload)
        self._group += 1
        self._pending = []
        self._pending_clips = 0

    def close(self) -> None:
        if self._closed:
            return
        if self._next != self.header.num_clips:
            raise ValueError(f"only {self._next} of {self.header.num_clips} clips were written")
        self._closed = True


def write_spk(header: Header, z: Sequence[np.ndarray], levels: Sequence[np.ndarray] | None = None,
              version: int | None = None) -> bytes:
    """Encode a whole file. ``z``: per channel a bool array (units, num_frames);
    ``levels``: None, or per channel an int array (num_clips,) of values 0..NUM_LEVELS - 1.
    ``version``: 2 (each clip in the cheapest of five layouts, ctx included) or 1 (the paper's container, four
    layouts); default ``header.format_version`` (2 for a new Header; a re-written file keeps its version)."""
    _validate_header(header)
    h = header
    if len(z) != h.channels:
        raise ValueError(f"expected z for {h.channels} channels, got {len(z)}")
    zs = []
    for c, zc in enumerate(z):
        zc = np.asarray(zc)
        if zc.shape != (h.units, h.num_frames):
            raise ValueError(f"z[{c}] has shape {zc.shape}, expected {(h.units, h.num_frames)}")
        if zc.dtype != np.bool_:
            if zc.size and not np.isin(zc, (0, 1)).all():
                raise ValueError(f"z[{c}] must hold only 0 and 1")
            zc = zc.astype(bool)
        zs.append(zc)
    lv = None
    if h.has_levels:
        if levels is None or len(levels) != h.channels:
            raise ValueError(f"has_levels: expected levels for {h.channels} channels")
        lv = []
        for c, l in enumerate(levels):
            l = np.asarray(l)
            if l.shape != (h.num_clips,):
                raise ValueError(f"levels[{c}] has shape {l.shape}, expected {(h.num_clips,)}")
            if l.size and (l.min() < 0 or l.max() >= NUM_LEVELS):
                raise ValueError(f"levels[{c}] must be in 0..{NUM_LEVELS - 1}")
            lv.append(l.astype(np.int64))
    elif levels is not None:
        raise ValueError("levels given but the header has has_levels=False")
    buf = io.BytesIO()
    w = SpkWriter(buf, h, version)
    T = h.frames_per_clip
    for k in range(h.num_clips):
        w.write_clip([zc[:, k * T:(k + 1) * T] for zc in zs], None if lv is None else [int(l[k]) for l in lv])
    w.close()
    return buf.getvalue()


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------

@dataclass
class ClipInfo:
    channel: int
    index: int
    frames: int
    events: int
    layout: str
    level: int | None
    payload_bits: int
    header_bits: int
    ideal_bits: float | None = None  # the ctx context model's code length of this clip (inspect_spk(ideal=True))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["ideal_bits"] is None:
            del d["ideal_bits"]
        return d


@dataclass
class SpkInfo:
    header: Header
    clips: list[ClipInfo]  # decoded clips, in file order (clip index, then channel)
    damaged: list[tuple[int, int, float, float]]
    total_bits: int  # 8 * file size
    bits_by_part: dict[str, int]  # file_header, group_headers, clip_headers, payload, padding, damaged
    bits_by_layout: dict[str, int]  # bits of the clip records in each layout: clip headers + payloads
    clips_by_layout: dict[str, int]
    num_groups: int

    @property
    def duration_s(self) -> float:
        return self.header.num_samples / self.header.source_sample_rate

    @property
    def bitrate_kbps(self) -> float:
        d = self.duration_s
        return self.total_bits / d / 1000.0 if d > 0 else 0.0

    def to_dict(self, path: str | None = None) -> dict:
        h = self.header
        return {
            "path": path,
            "format_version": h.format_version,
            "model": h.model_name,
            "model_id": h.model_id,
            "source_sample_rate": h.source_sample_rate,
            "model_sample_rate": h.model_sample_rate,
            "channels": h.channels,
            "num_samples": h.num_samples,
            "duration_s": self.duration_s,
            "units": h.units,
            "frames_per_clip": h.frames_per_clip,
            "hop": h.hop,
            "total_bits": self.total_bits,
            "bitrate_kbps": self.bitrate_kbps,
            "clips": [c.to_dict() for c in self.clips],
        }


@dataclass
class SpkFile:
    header: Header
    z: list[np.ndarray]
    levels: list[np.ndarray] | None
    damaged: list[tuple[int, int, float, float]]
    info: SpkInfo = field(repr=False)


def _decode_group(h: Header, g: int, payload: bytes, ideal: bool = False):
    """Decode every record of group g. Raises SpkFormatError if anything is off.

    ctx records are checked and their words extracted, but not decoded: their z is None here and the caller
    decodes all of a file's ctx clips together (ctx_decode_many) and drops the group if one fails."""
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    N, C, hl, v = h.units, h.channels, h.has_levels, h.format_version
    off = 0
    out = []
    for k in _group_clips(h, g):
        Tk = h.clip_frames(k)
        for c in range(C):
            layout, S, level, start, pbits = parse_clip_header(bits, off, N, Tk, hl, v)
            if layout == CTX:
                zc = ctx_words(bits, start, S, N, Tk)
            else:
                if layout != choose_layout(S, N, Tk):
                    raise SpkFormatError(f"clip {k} channel {c}: layout {layout} is not the cheapest")
                zc = decode_payload_np(bits, start, layout, S, N, Tk)
            ib = ctx_ideal_bits(zc) if ideal and layout != CTX else None
            out.append((c, k, zc, ClipInfo(c, k, Tk, S, layout, level, pbits, start - off, ib)))
            off = start + pbits
    pad = bits.size - off
    if not 0 <= pad < 8 or bits[off:].any():
        raise SpkFormatError(f"group {g}: bad length or non-zero padding")
    return out, pad


def _parse(data, keep_z: bool, max_cells: int, ideal: bool = False):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    n = len(data)
    h, hlen = _parse_header(data)
    need = _min_file_bytes(h, hlen)
    if n < need:
        raise SpkFormatError(
            f"truncated or damaged .spk file: its header declares {h.num_clips} clips x {h.channels} channels,"
            f" which need at least {need} bytes; the file has {n}"
        )
    cells = h.channels * h.units * h.num_frames
    if keep_z and cells > max_cells:
        raise SpkFormatError(f".spk file decodes to {cells} cells, more than the limit {max_cells}")

    G = h.num_groups
    good: dict[int, tuple] = {}
    groups_seen = 0
    pos = hlen
    expected = 0

    def try_header(p: int):
        if p + GROUP_HEADER_BYTES > n or data[p:p + 2] != GROUP_SYNC:
            return None
        head = data[p:p + _GROUP.size]
        if _crc16(head) != int.from_bytes(data[p + _GROUP.size:p + GROUP_HEADER_BYTES], "big"):
            return None
        _, index, length, pcrc = _GROUP.unpack(head)
        if not expected <= index < G:
            return None
        lo, hi = _group_bit_bounds(h, index)
        if not -(-lo // 8) <= length <= -(-hi // 8) or p + GROUP_HEADER_BYTES + length > n:
            return None
        return index, length, pcrc

    pending: dict[int, list] = {}  # frames -> [(group, record index, words)] of the ctx clips to decode

    def decode_pending(frames: int, items: list) -> None:
        for i in range(0, len(items), _CTX_BATCH):
            chunk = items[i:i + _CTX_BATCH]
            zs = ctx_decode_many([w for _, _, w in chunk], h.units, frames)
            for (g, r, _), zc in zip(chunk, zs):
                if g not in good:
                    continue
                records = good[g][0]
                ci = records[r][3]
                if isinstance(zc, str) or int(np.count_nonzero(zc)) != ci.events:
                    del good[g]  # one bad clip costs its group
                    continue
                if ideal:
                    ci.ideal_bits = ctx_ideal_bits(zc)
                records[r] = (records[r][0], records[r][1], zc, ci)

    while pos < n and expected < G:
        gh = try_header(pos)
        if gh is None:  # lost sync: scan for the next group header that checks
            q = data.find(GROUP_SYNC, pos + 1)
            while q != -1 and try_header(q) is None:
                q = data.find(GROUP_SYNC, q + 1)
            if q == -1:
                break
            pos = q
            continue
        index, length, pcrc = gh
        groups_seen += 1
        start = pos + GROUP_HEADER_BYTES
        payload = data[start:start + length]
        if _crc32(payload) == pcrc:
            try:
                good[index] = _decode_group(h, index, payload, ideal)
            except SpkFormatError:
                pass
            else:
                for r, (_, _, zc, ci) in enumerate(good[index][0]):
                    if ci.layout == CTX:
                        pending.setdefault(ci.frames, []).append((index, r, zc))
                        if len(pending[ci.frames]) >= _CTX_BATCH:
                            decode_pending(ci.frames, pending.pop(ci.frames))
        expected = index + 1
        pos = start + length

    for frames, items in pending.items():
        decode_pending(frames, items)
    C, N = h.channels, h.units
    if G and not good:
        raise SpkFormatError(f"damaged .spk file: all {h.num_clips * C} clips are lost")
    z = [np.zeros((N, h.num_frames), dtype=bool) for _ in range(C)] if keep_z else None
    lv = [np.zeros(h.num_clips, dtype=np.int64) for _ in range(C)] if h.has_levels else None
    clips: list[ClipInfo] = []
    damaged: list[tuple[int, int, float, float]] = []
    parts = dict(file_header=8 * hlen, group_headers=8 * GROUP_HEADER_BYTES * groups_seen,
                 clip_headers=0, payload=0, padding=0, damaged=0)
    names = LAYOUTS if h.format_version == 1 else LAYOUTS_V2
    by_layout = {name: 0 for name in names}
    n_by_layout = {name: 0 for name in names}
    T = h.frames_per_clip
    first_level = None
    for g in range(G):
        if g not in good:
            for k in _group_clips(h, g):
                s, e = h.clip_time_range(k)
                damaged.extend((c, k, s, e) for c in range(C))
            continue
        records, pad = good[g]
        parts["padding"] += pad
        for c, k, zc, ci in records:
            clips.append(ci)
            parts["clip_headers"] += ci.header_bits
            parts["payload"] += ci.payload_bits
            by_layout[ci.layout] += ci.header_bits + ci.payload_bits
            n_by_layout[ci.layout] += 1
            if z is not None:
                z[c][:, k * T:k * T + ci.frames] = zc
            if lv is not None:
                lv[c][k] = ci.level
                if first_level is None:
                    first_level = ci.level
    if h.num_clips and not clips:
        raise SpkFormatError(f"damaged .spk file: all {h.num_clips * C} clips are lost")
    if lv is not None and first_level:
        for c, k, _, _ in damaged:
            lv[c][k] = first_level
    damaged.sort()
    parts["damaged"] = 8 * n - sum(parts.values())
    info = SpkInfo(
        header=h,
        clips=clips,
        damaged=damaged,
        total_bits=8 * n,
        bits_by_part=parts,
        bits_by_layout=by_layout,
        clips_by_layout=n_by_layout,
        num_groups=G,
    )
    return h, z, lv, damaged, info


def read_spk(data: bytes, *, max_cells: int = DEFAULT_MAX_CELLS) -> SpkFile:
    """Decode a .spk file. Raises SpkFormatError (a ValueError) on bad bytes;
    damaged clip groups are zero-filled and listed in ``SpkFile.damaged``."""
    h, z, lv, damaged, info = _parse(data, True, max_cells)
    return SpkFile(header=h, z=z, levels=lv, damaged=damaged, info=info)


def inspect_spk(data: bytes, ideal: bool = False) -> SpkInfo:
    """Header, per-clip layout/events/bits and bit totals, without keeping z.
    ``ideal``: also give each clip the ctx context model's ideal code length (``ClipInfo.ideal_bits``)."""
    return _parse(data, False, DEFAULT_MAX_CELLS, ideal)[4]
