"""The .spk file header, its limits and CRCs, and the clip-group geometry (formats/spk-v1.md, sections 3 and 4).

Shared by the writer and the reader; see container.py for the file as a whole.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .layouts import (
    VERSIONS,
    SpkFormatError,
    clip_header_bits,
)

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


