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

from .header import (  # noqa: F401  (the CRCs and group struct, for tests and the vector maker)
    _GROUP,
    FORMAT_VERSION,
    GROUP_HEADER_BYTES,
    GROUP_SYNC,
    MAGIC,
    SUPPORTED_VERSIONS,
    Header,
    _crc16,
    _crc32,
    clip_frames,
    num_clips_of,
)
from .reader import ClipInfo, SpkFile, SpkInfo, inspect_spk, read_spk
from .writer import SpkWriter, write_spk

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "GROUP_SYNC",
    "GROUP_HEADER_BYTES",
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
