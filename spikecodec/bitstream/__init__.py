"""Torch-free .spk bitstream layer (numpy, bitarray and constriction's range coder only).

See formats/spk-v1.md and formats/spk-v2.md for the file format and docs/architecture.md for the contract.
"""

from .container import (
    FORMAT_VERSION,
    MAGIC,
    SUPPORTED_VERSIONS,
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
from .ctx import ctx_ideal_bits
from .layouts import (
    CTX,
    LAYOUTS,
    LAYOUTS_V2,
    NUM_LEVELS,
    record_bits,
    SpkFormatError,
    bit_width,
    choose_layout,
    clip_header_bits,
    decode_clip,
    encode_clip,
    layout_costs,
)
from .render import damage_ranges, info_dict, render_text

__all__ = [
    "CTX",
    "FORMAT_VERSION",
    "LAYOUTS_V2",
    "SUPPORTED_VERSIONS",
    "ctx_ideal_bits",
    "record_bits",
    "MAGIC",
    "LAYOUTS",
    "NUM_LEVELS",
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
    "damage_ranges",
    "info_dict",
    "render_text",
]
