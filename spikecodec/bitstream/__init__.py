"""Torch-free .spk bitstream layer (numpy + bitarray only).

See formats/spk-v1.md for the file format and docs/architecture.md for the contract.
"""

from .container import (
    FORMAT_VERSION,
    MAGIC,
    ClipInfo,
    Header,
    SpkFile,
    SpkInfo,
    SpkWriter,
    clip_frames,
    inspect_spk,
    num_clips_of,
    read_spk,
    write_spk,
)
from .layouts import (
    LAYOUTS,
    SpkFormatError,
    bit_width,
    choose_layout,
    clip_header_bits,
    decode_clip,
    encode_clip,
    layout_costs,
)

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "LAYOUTS",
    "ClipInfo",
    "Header",
    "SpkFile",
    "SpkFormatError",
    "SpkInfo",
    "SpkWriter",
    "bit_width",
    "choose_layout",
    "clip_frames",
    "clip_header_bits",
    "decode_clip",
    "encode_clip",
    "inspect_spk",
    "layout_costs",
    "num_clips_of",
    "read_spk",
    "write_spk",
]
