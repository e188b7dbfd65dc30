"""Reading .spk files: the header, every group whose CRCs check, the clips of the damaged ones as
time ranges, and the per-clip facts `spikecodec info` reports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .ctx import ctx_decode_many, ctx_ideal_bits
from .layouts import (
    CTX,
    LAYOUTS,
    LAYOUTS_V2,
    SpkFormatError,
    choose_layout,
    ctx_words,
    decode_payload_np,
    parse_clip_header,
)

from .header import (_CTX_BATCH, _GROUP, DEFAULT_MAX_CELLS, GROUP_HEADER_BYTES, GROUP_SYNC, Header, _crc16, _crc32,
                     _group_bit_bounds, _group_clips, _min_file_bytes, _parse_header)

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

