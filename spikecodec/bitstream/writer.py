"""Writing .spk files: clip records packed into CRC-protected groups, streamed or whole."""

from __future__ import annotations

import dataclasses
import io
import struct
from typing import BinaryIO, Sequence

import numpy as np

from .layouts import (
    NUM_LEVELS,
    encode_clip_np,
)
from .header import (GROUP_SYNC, SUPPORTED_VERSIONS, Header, _crc16, _crc32, _GROUP,
                     _header_bytes, _validate_header)

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


